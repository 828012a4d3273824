"""The siting planner against brute force: every subset of up to 4 among up to 30 candidates.

Each candidate's border comes from the flat engine (:func:`geo.coverage.flat.border_intervals`,
the exact cut of the footprint with the border); the optimum is the best union over every
subset of ``count`` candidates, measured with interval arithmetic on its own, without the
planner's elementary pieces, reduction, greedy or MILP. The plan must reach 99 % of the
optimum's gain (the worst ratio is recorded in ``WORST`` and printed), and its
``upper_bound_km`` must never be below the optimum. With the exact solve switched off, the
greedy plan alone must keep the (1 - 1/e) guarantee and its bound must still hold.
"""

from __future__ import annotations

import itertools
import math

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.coverage import intervals as iv
from geo.coverage.flat import border_intervals, flat_border, sensor_footprints
from geo.coverage.scene import prepare_scene
from geo.siting import SiteParams, new_sensors, plan_sites
from geo.siting.choice import exact_milp, lagrangian_bound, lazy_greedy
from geo.siting.instance import border_elements, reduce_instance

#: The worst plan-to-optimum ratio of the gain seen, per case (printed at the end).
WORST: dict[str, float] = {}

VARIANTS = {
    "disks": {},
    "wedges": {"azimuth_deg": 30.0, "fov_deg": 100.0},
    "annuli": {"min_range_m": 1500.0},
}


def _border() -> gpd.GeoDataFrame:
    line = shapely.LineString([(24.0, 54.0), (24.25, 54.06), (24.4, 53.98), (24.62, 54.04)])
    return gpd.GeoDataFrame({"name": ["b"]}, geometry=[line], crs="EPSG:4326")


def _instance(seed: int, n_cand: int, variant: str) -> tuple[gpd.GeoDataFrame, ...]:
    """A border, two existing sensors and ``n_cand`` candidate points near the border."""
    rng = np.random.default_rng(seed)
    border = _border()
    line = border.geometry.iloc[0]
    at = shapely.line_interpolate_point(line, rng.random(n_cand + 2), normalized=True)
    lon = shapely.get_x(at) + rng.normal(0, 0.03, at.size)
    lat = shapely.get_y(at) + rng.normal(0, 0.02, at.size)
    existing = new_sensors(lon[:2], lat[:2], SiteParams(count=1, range_m=3000.0))
    existing["sensor_id"] = ["E1", "E2"]
    existing["partner"] = "E"
    cands = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon[2:], lat[2:]), crs="EPSG:4326")
    return border, existing, cands


def _optimum_km(border, existing, cands, params) -> tuple[float, float]:
    """Covered km today and the best covered km over every subset of ``params.count``."""
    scene = prepare_scene(
        border,
        existing,
        sectors=None,
        detections=None,
        corridor_km=5.0,
        min_gap_m=1.0,
        time_from=None,
        time_to=None,
    )
    today = flat_border(scene, sensor_footprints(scene.sensors, scene.acrs)).covered
    frame = new_sensors(cands.geometry.x.to_numpy(), cands.geometry.y.to_numpy(), params)
    owner, (s, e) = border_intervals(scene.border, sensor_footprints(frame, scene.acrs))
    per = [(s[owner == i], e[owner == i]) for i in range(len(frame))]
    best = iv.length(today)
    for subset in itertools.combinations(range(len(frame)), params.count):
        best = max(best, iv.length(iv.union(today, *(per[i] for i in subset))))
    return iv.length(today) / 1000.0, best / 1000.0


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_plan_reaches_the_brute_force_optimum(seed: int, variant: str) -> None:
    count = 3 + seed % 2  # 3 or 4 sites
    border, existing, cands = _instance(seed, 24, variant)
    params = SiteParams(count=count, range_m=4000.0, **VARIANTS[variant])
    today_km, best_km = _optimum_km(border, existing, cands, params)
    plan = plan_sites(border, existing, params, candidates=cands)
    assert plan.before["covered_km"] == pytest.approx(today_km, abs=1e-5)
    gain, best_gain = plan.after["covered_km"] - today_km, best_km - today_km
    assert best_gain > 1.0  # the instance leaves something to choose
    ratio = gain / best_gain
    key = f"milp/{variant}"
    WORST[key] = min(WORST.get(key, math.inf), ratio)
    assert ratio >= 0.99, (seed, variant, gain, best_gain)
    assert plan.upper_bound_km >= best_km - 1e-6
    assert len(plan.sites) <= count
    # The sites' own account adds up to the analysis after them.
    assert plan.sites["gain_km"].sum() == pytest.approx(gain, abs=1e-4)
    assert plan.sites["covered_km_after"].iloc[-1] == pytest.approx(
        plan.after["covered_km"], abs=1e-4
    )


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("seed", [4, 5])
def test_greedy_alone_keeps_its_guarantee_and_its_bound(seed: int, variant: str) -> None:
    border, existing, cands = _instance(seed, 30, variant)
    params = SiteParams(count=4, range_m=4000.0, time_limit_s=0.0, **VARIANTS[variant])
    today_km, best_km = _optimum_km(border, existing, cands, params)
    plan = plan_sites(border, existing, params, candidates=cands)
    ratio = (plan.after["covered_km"] - today_km) / (best_km - today_km)
    key = f"greedy/{variant}"
    WORST[key] = min(WORST.get(key, math.inf), ratio)
    assert ratio >= 1 - 1 / math.e
    assert plan.upper_bound_km >= best_km - 1e-6
    assert plan.method["milp"]["status"].startswith("skipped")


def test_reduction_keeps_the_optimum_of_random_set_systems() -> None:
    """Dominance and merging change nothing: MILP on the reduced set = brute force on the raw.

    The greedy, MILP and Lagrangian bounds are never below the brute-force optimum.
    """
    rng = np.random.default_rng(7)
    for _ in range(20):
        n, m = 14, 40
        pairs = {
            (i, int(j)) for i in range(n) for j in rng.choice(m, rng.integers(1, 9), replace=False)
        }
        # Runs of consecutive elements, as a disk's stretch of border: dominance applies.
        starts = rng.integers(0, m - 5, n)
        runs = {(i, int(starts[i]) + d) for i in range(n) for d in range(5) if i % 2 == 0}
        pa = np.array(sorted(pairs | runs))
        w = rng.random(m)
        sets = [set(pa[pa[:, 0] == i, 1].tolist()) for i in range(n)]
        best = max(
            sum(w[j] for j in set().union(*(sets[i] for i in sub)))
            for sub in itertools.combinations(range(n), 3)
        )
        inst = reduce_instance(pa[:, 0], pa[:, 1], w)
        greedy = lazy_greedy(inst, 3)
        exact = exact_milp(inst, 3, greedy.rows, time_limit_s=5.0)
        assert exact.value == pytest.approx(best, rel=1e-9)
        assert min(greedy.bound, exact.bound) >= best - 1e-9
        lag = lagrangian_bound(inst, 3, greedy.rows[:1], lower=greedy.value, time_budget_s=0.2)
        assert lag["bound"] >= best - 1e-9
        assert inst.total == pytest.approx(sum(w[j] for j in set().union(*sets)))


def test_border_elements_cut_at_every_end_and_keep_the_target_only() -> None:
    owner = np.array([0, 0, 1])
    ivs = (np.array([0.0, 50.0, 20.0]), np.array([30.0, 60.0, 55.0]))
    target = (np.array([10.0, 52.0]), np.array([40.0, 100.0]))
    o, p, w = border_elements(owner, ivs, target)
    # Pieces of the target: [10,20] [20,30] [30,40] [52,55] [55,60]
    assert w.tolist() == [10.0, 10.0, 10.0, 3.0, 5.0]
    assert list(zip(o.tolist(), p.tolist(), strict=False)) == [
        (0, 0),
        (0, 1),
        (0, 3),
        (0, 4),
        (1, 1),
        (1, 2),
        (1, 3),
    ]


def test_worst_ratios_are_recorded() -> None:
    """Print the worst ratios seen by the tests above (run with -s to see them)."""
    print("siting worst plan/optimum gain ratios:", {k: round(v, 4) for k, v in WORST.items()})
    assert all(v >= 1 - 1 / math.e for v in WORST.values())
