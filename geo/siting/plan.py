"""The siting plan: where to put the next sensors, and what they would change.

:func:`plan_sites` is the recipe, one step per module:

1. the analysis as it stands (:func:`geo.coverage.analyse`): the ``before`` numbers, the
   border already watched and the detections in today's gaps;
2. the candidate sites, given or generated (:mod:`geo.siting.candidates`);
3. what each candidate would watch (:mod:`geo.siting.reach`);
4. the instance on elementary border pieces (or gap detections), reduced
   (:mod:`geo.siting.instance`);
5. the choice: lazy greedy, then the exact MILP under the time limit, and the proven bound
   (:mod:`geo.siting.choice`);
6. the analysis with the chosen sites added (``after``; it *is* ``analyse`` on the sensors
   plus the sites, so the two agree by construction), and each site's gain.

:func:`evaluate_sites` does steps 1, 3 and 6 for sites the user placed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.coverage import Analysis, analyse
from geo.coverage import intervals as iv
from geo.coverage.border import nearest_chainage
from geo.coverage.flat import flat_border, sensor_footprints
from geo.coverage.report import km
from geo.coverage.scene import WGS84, Scene, check_wgs84, prepare_scene
from geo.siting.candidates import grid_in_scene
from geo.siting.choice import Choice, exact_milp, lagrangian_bound, lazy_greedy
from geo.siting.instance import Instance, border_elements, reduce_instance
from geo.siting.params import SENSOR_COLUMNS, SiteParams, check_params, new_sensors, site_ids
from geo.siting.reach import Reach, candidate_reach

#: Columns of :attr:`SitingPlan.sites` before the sensor columns.
SITE_COLUMNS: tuple[str, ...] = (
    "rank",
    "lon",
    "lat",
    "gain_km",
    "covered_km_after",
    "gaps_closed",
)


@dataclass
class SitingPlan:
    """A plan: the chosen sites and what they change (see :meth:`to_json` for the contract).

    Attributes
    ----------
    parameters
        The parameters of the plan (the new sensors', the corridor, the DEM, the CRS).
    before, after
        ``covered_km``, ``coverage_pct``, ``gap_km``, ``longest_gap_km`` of the border the
        objective counts (the whole border, or the partner's sectors' border), today and
        with the sites; also ``scope`` and ``length_km`` (and ``detections_in_gaps`` with
        detections).
    sites
        EPSG:4326 points in rank order: :data:`SITE_COLUMNS`, then the sensor columns
        (:data:`geo.siting.params.SENSOR_COLUMNS`).
    candidates
        Candidate sites considered.
    method
        How the sites were chosen: ``greedy``, ``milp``, the reduction, timings.
    upper_bound_km
        A proven upper bound on the covered km any ``count`` of these candidates reach (NaN
        when unknown, e.g. for sites placed by hand).
    """

    parameters: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    sites: gpd.GeoDataFrame
    candidates: int
    method: dict[str, Any]
    upper_bound_km: float

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON-ready values: a contract (``docs/siting.md``).

        Keys: ``parameters``, ``before``, ``after``, ``sites`` (a list in rank order, each
        with ``rank``, ``lon``, ``lat``, ``gain_km``, ``covered_km_after``, ``gaps_closed``
        and the sensor columns), ``candidates``, ``method``, ``upper_bound_km`` (``None``
        when unknown). NaN becomes ``None``.
        """
        rows = []
        for rec in pd.DataFrame(self.sites.drop(columns="geometry")).to_dict("records"):
            rows.append({k: _plain(v) for k, v in rec.items()})
        return {
            "parameters": _plain(self.parameters),
            "before": _plain(self.before),
            "after": _plain(self.after),
            "sites": rows,
            "candidates": int(self.candidates),
            "method": _plain(self.method),
            "upper_bound_km": _plain(self.upper_bound_km),
        }

    def sensors(self) -> gpd.GeoDataFrame:
        """The sites as a sensors frame, the columns :func:`geo.inputs.read_sensors` gives."""
        return gpd.GeoDataFrame(
            pd.DataFrame(self.sites[list(SENSOR_COLUMNS)]).reset_index(drop=True),
            geometry=self.sites.geometry.reset_index(drop=True),
            crs=WGS84,
        )


def _plain(v: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN to None, containers recursively."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_plain(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(float(v)) else float(v)
    if v is pd.NA or v is pd.NaT:
        return None
    return v


@dataclass(frozen=True, eq=False)
class _Context:
    """What every plan starts from: the analysis today and what the objective counts."""

    params: SiteParams
    border: gpd.GeoDataFrame
    sensors: gpd.GeoDataFrame
    scene: Scene
    before: Analysis
    scope: iv.Intervals
    scope_name: str
    covered: iv.Intervals
    dem_path: str | None
    min_gap_m: float
    sectors: gpd.GeoDataFrame | None
    detections: gpd.GeoDataFrame | None

    @property
    def target(self) -> iv.Intervals:
        """The border the objective counts that nobody watches today."""
        return iv.subtract(self.scope, self.covered)


def _context(
    border: gpd.GeoDataFrame,
    sensors: gpd.GeoDataFrame,
    params: SiteParams,
    *,
    sectors: gpd.GeoDataFrame | None,
    detections: gpd.GeoDataFrame | None,
    dem_path: str | Path | None,
    min_gap_m: float | None,
) -> _Context:
    check_params(params)
    min_gap = settings.MIN_GAP_M if min_gap_m is None else float(min_gap_m)
    dem = None if dem_path is None else str(dem_path)
    before = analyse(
        border,
        sensors,
        sectors=sectors,
        detections=detections,
        corridor_km=params.corridor_km,
        min_gap_m=min_gap,
        dem=dem,
        target_height_m=params.target_height_m,
    )
    scene = prepare_scene(
        border,
        sensors,
        sectors=sectors,
        detections=None,
        corridor_km=params.corridor_km,
        min_gap_m=min_gap,
        time_from=None,
        time_to=None,
    )
    scope, scope_name = _scope(scene, params.partner)
    return _Context(
        params=params,
        border=border,
        sensors=sensors,
        scene=scene,
        before=before,
        scope=scope,
        scope_name=scope_name,
        covered=_covered_today(scene, before, dem),
        dem_path=dem,
        min_gap_m=min_gap,
        sectors=sectors,
        detections=detections,
    )


def _scope(scene: Scene, partner: str | None) -> tuple[iv.Intervals, str]:
    """The border the objective counts: the partner's sectors' with sectors, else all of it."""
    if not partner or not len(scene.sectors):
        return iv.union(scene.border.spans), "border"
    if partner not in set(scene.sectors.partner):
        raise ValidationError(
            describe(
                "partner",
                "the partner holds no sector, so no border counts for it",
                expected=f"one of {', '.join(sorted(set(scene.sectors.partner)))}",
                got=partner,
                fix="Choose a partner of the sectors, or plan without a partner",
            )
        )
    return scene.sectors.by_partner[partner], f"sectors of {partner}"


def _covered_today(scene: Scene, before: Analysis, dem: str | None) -> iv.Intervals:
    """The border the existing sensors watch, as the analysis counted it."""
    if dem is None:
        return flat_border(scene, sensor_footprints(scene.sensors, scene.acrs)).covered
    from geo.coverage.terrain import terrain_border

    assert before.coverage is not None
    return terrain_border(scene, before.coverage).covered


def plan_sites(
    border: gpd.GeoDataFrame,
    sensors: gpd.GeoDataFrame,
    params: SiteParams,
    *,
    sectors: gpd.GeoDataFrame | None = None,
    dem_path: str | Path | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    exclude: gpd.GeoDataFrame | None = None,
    detections: gpd.GeoDataFrame | None = None,
    min_gap_m: float | None = None,
) -> SitingPlan:
    """Choose up to ``params.count`` sites that watch the most border (or gap detections).

    Parameters
    ----------
    border, sensors, sectors, detections
        Layers in EPSG:4326 as :mod:`geo.inputs` reads them. Every existing sensor is kept.
    params
        The new sensors and how to choose (:class:`~geo.siting.params.SiteParams`).
    dem_path
        A DEM: every candidate's coverage is its viewshed, as ``analyse --dem`` computes it.
    candidates
        Candidate points (EPSG:4326), used as given; default: :func:`candidate_grid`.
    exclude
        Polygons (EPSG:4326) where no generated candidate may stand.
    min_gap_m
        Shortest gap listed (m; default :data:`geo.core.settings.MIN_GAP_M`).

    Returns
    -------
    SitingPlan

    Raises
    ------
    geo.core.errors.ValidationError
        Parameters out of range, ``weight="detections"`` without detections, candidates that
        are not points, no candidate at all.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> b = gpd.GeoDataFrame(geometry=[shapely.LineString([(24, 54), (24.3, 54)])], crs=4326)
    >>> s = gpd.GeoDataFrame({"sensor_id": ["a"], "partner": ["P"], "kind": ["tower"],
    ...                       "range_m": [5000.0]}, geometry=[shapely.Point(24, 54)], crs=4326)
    >>> plan = plan_sites(b, s, SiteParams(count=1, range_m=5000.0, spacing_m=1000.0))
    >>> plan.after["covered_km"] > plan.before["covered_km"]
    True
    """
    t0 = time.perf_counter()
    if params.weight == "detections" and detections is None:
        raise ValidationError(
            "weight: 'detections' counts the detections in today's gaps; give the detections "
            "(--detections FILE), or use weight 'length'"
        )
    ctx = _context(
        border,
        sensors,
        params,
        sectors=sectors,
        detections=detections,
        dem_path=dem_path,
        min_gap_m=min_gap_m,
    )
    return _plan(ctx, candidates, exclude, t0)


def _plan(
    ctx: _Context,
    candidates: gpd.GeoDataFrame | None,
    exclude: gpd.GeoDataFrame | None,
    t0: float,
) -> SitingPlan:
    """Steps 2 to 6 of :func:`plan_sites` (see the module notes), timed from ``t0``."""
    params = ctx.params
    t_before = time.perf_counter()
    points = _candidate_points(ctx, candidates, exclude)
    frame = new_sensors(
        points.geometry.x.to_numpy(dtype=float),
        points.geometry.y.to_numpy(dtype=float),
        params,
        sensor_ids=[f"C{i}" for i in range(len(points))],
    )
    gap_dets = _gap_detections(ctx) if params.weight == "detections" else None
    reach = candidate_reach(
        ctx.scene,
        frame,
        points=gap_dets,
        dem_path=ctx.dem_path,
        target_height_m=params.target_height_m,
    )
    t_reach = time.perf_counter()
    chosen, method, bound_m = _choose(ctx, reach, len(frame), gap_dets)
    t_choice = time.perf_counter()
    sites = frame.iloc[chosen].drop(columns="sensor_id").reset_index(drop=True)
    plan = _finish(ctx, sites, reach, chosen, method)
    plan.candidates = len(frame)
    plan.upper_bound_km = _ceil_km(iv.length(iv.intersect(ctx.scope, ctx.covered)) + bound_m)
    plan.method["time_s"] = {
        "before": round(t_before - t0, 3),
        "candidates_and_reach": round(t_reach - t_before, 3),
        "choice": round(t_choice - t_reach, 3),
        "after": round(time.perf_counter() - t_choice, 3),
        "total": round(time.perf_counter() - t0, 3),
    }
    return plan


def _ceil_km(m: float) -> float:
    """Metres as km, rounded up to the millimetre (a bound stays a bound when rounded)."""
    if not math.isfinite(m):
        return math.nan
    return math.ceil(float(m) * 1000.0 * (1 + 1e-12)) / 1e6


def _candidate_points(
    ctx: _Context,
    candidates: gpd.GeoDataFrame | None,
    exclude: gpd.GeoDataFrame | None,
    *,
    what: str = "candidates",
) -> gpd.GeoDataFrame:
    """The candidate points: as given (checked; ``sites`` may be none), or the grid."""
    if candidates is None:
        points = grid_in_scene(ctx.scene, ctx.params, exclude=exclude, dem_path=ctx.dem_path)
        if not len(points):
            raise ValidationError(
                "candidates: no candidate site in the corridor (on land, outside the excluded "
                "areas, on the partner's side, on the DEM); widen the corridor, lower "
                "spacing_m or give candidate sites"
            )
        return points
    check_wgs84(candidates, what)
    kinds = set(candidates.geometry.geom_type.dropna())
    if (not len(candidates) and what == "candidates") or (len(candidates) and kinds != {"Point"}):
        raise ValidationError(
            describe(
                what,
                "candidate sites must be points",
                expected="one point per candidate",
                got=", ".join(sorted(kinds)) or "no features",
                fix="Give the candidate sites as points (e.g. a CSV with lat and lon)",
            )
        )
    return gpd.GeoDataFrame(geometry=candidates.geometry.reset_index(drop=True), crs=WGS84)


def _gap_detections(ctx: _Context) -> gpd.GeoDataFrame:
    """Today's detections in a gap (and, with a partner's scope, in its sectors)."""
    det = ctx.before.all_detections
    assert det is not None
    mine = (det["coverage_status"] == "gap").to_numpy()
    if ctx.scope_name != "border" and ctx.before.det_in_sector is not None:
        cols = ctx.before.sector_partner == ctx.params.partner
        mine &= ctx.before.det_in_sector[:, cols].any(axis=1)
    return det[mine].reset_index(drop=True)


def _choose(
    ctx: _Context, reach: Reach, n_cand: int, gap_dets: gpd.GeoDataFrame | None
) -> tuple[list[int], dict[str, Any], float]:
    """The chosen candidates (in rank order), how, and the proven bound on the gain (m)."""
    params = ctx.params
    owner, piece, length_m = border_elements(reach.owner, reach.intervals, ctx.target)
    length_inst = reduce_instance(owner, piece, length_m)
    length_greedy = lazy_greedy(length_inst, params.count)
    method: dict[str, Any] = {"objective": params.weight, "scope": ctx.scope_name}
    if params.weight == "length":
        inst, best = length_inst, length_greedy
    else:
        assert gap_dets is not None
        inst = _detection_instance(ctx, reach, gap_dets)
        best = lazy_greedy(inst, params.count)
    method["greedy"] = best.info
    method["reduction"] = inst.stats
    method["merged_candidates"] = n_cand - inst.n_candidates
    best = _exact(inst, best, params, method)
    bound_m = length_greedy.bound
    if params.weight == "length":
        # Never below the plan itself (the solver's bound may sit below it by rounding).
        bound_m = max(min(bound_m, best.bound), best.value)
    else:
        method["upper_bound_detections"] = math.floor(best.bound + 1e-9)
    chosen = [int(inst.candidate[r]) for r in _rank(inst, best.rows)]
    return chosen, method, bound_m


def _detection_instance(ctx: _Context, reach: Reach, gap_dets: gpd.GeoDataFrame) -> Instance:
    """The instance on today's gap detections, numbered along the border.

    Numbered by the chainage of their nearest border point, a candidate's detections are
    mostly consecutive, so the dominance check of the reduction applies.
    """
    if len(gap_dets):
        seg, chain_km, _ = nearest_chainage(ctx.scene.border, gap_dets)
        at = ctx.scene.border.offset_m[seg] + chain_km * 1000.0
        number = np.empty(len(gap_dets), dtype=np.int64)
        number[np.argsort(at, kind="stable")] = np.arange(len(gap_dets))
    else:
        number = np.empty(0, dtype=np.int64)
    owner, element = reach.point_owner, number[reach.point]
    order = np.lexsort((element, owner))
    return reduce_instance(owner[order], element[order], np.ones(len(gap_dets), dtype=float))


def _exact(inst: Instance, greedy: Choice, params: SiteParams, method: dict[str, Any]) -> Choice:
    """Tighten the bound (Lagrangian), then the MILP in the time left: the best plan and bound.

    A quarter of the time limit (at most 2 s) goes to the Lagrangian bound; when it proves
    the greedy plan optimal, the MILP is skipped.
    """
    t0 = time.perf_counter()
    limit = params.time_limit_s
    skip = None
    if limit <= 0:
        skip = "skipped: time limit 0"
    elif not inst.n_candidates or greedy.bound <= greedy.value * (1 + 1e-9):
        skip = "skipped: greedy proved optimal"
    else:
        # From the step whose greedy bound was the smallest: there L equals about that bound.
        start = greedy.rows[: int(greedy.info.get("bound_step", len(greedy.rows)))]
        lag = lagrangian_bound(
            inst, params.count, start, lower=greedy.value, time_budget_s=min(limit / 4, 2.0)
        )
        method["lagrangian"] = lag
        greedy = Choice(greedy.rows, greedy.value, min(greedy.bound, lag["bound"]), greedy.info)
        if greedy.bound <= greedy.value * (1 + 1e-9):
            skip = "skipped: the Lagrangian bound proved greedy optimal"
    if skip is not None:
        method["milp"] = {"status": skip, "time_s": 0.0, "gap": None}
        return greedy
    left = max(limit - (time.perf_counter() - t0), 0.05)
    milp = exact_milp(inst, params.count, greedy.rows, time_limit_s=left)
    method["milp"] = milp.info
    rows = milp.rows if milp.value > greedy.value else greedy.rows
    return Choice(
        rows=rows, value=max(milp.value, greedy.value), bound=min(greedy.bound, milp.bound)
    )


def _rank(inst: Instance, rows: list[int]) -> list[int]:
    """The rows in greedy order among themselves: largest gain first."""
    left, out = list(rows), []
    covered = np.zeros(inst.weight.size, dtype=bool)
    while left:
        gains = [
            float(
                inst.weight[inst.idx[inst.ptr[k] : inst.ptr[k + 1]]][
                    ~covered[inst.idx[inst.ptr[k] : inst.ptr[k + 1]]]
                ].sum()
            )
            for k in left
        ]
        k = left.pop(int(np.argmax(gains)))
        covered[inst.idx[inst.ptr[k] : inst.ptr[k + 1]]] = True
        out.append(k)
    return out


def _finish(
    ctx: _Context,
    sites: gpd.GeoDataFrame,
    reach: Reach,
    chosen: list[int],
    method: dict[str, Any],
) -> SitingPlan:
    """The plan of the sites (in rank order, ``chosen`` their rows in ``reach``)."""
    sites = sites.copy()
    taken = set(ctx.sensors["sensor_id"].astype(str))
    if "sensor_id" not in sites or sites["sensor_id"].astype(str).isin(taken).any():
        sites["sensor_id"] = site_ids(len(sites), taken)
    b = ctx.scene.border
    covered = ctx.covered
    gain_km, after_km, closed = [], [], []
    for i in chosen:
        mine = reach.of(i)
        new = iv.subtract(iv.intersect(mine, ctx.scope), covered)
        covered = iv.union(covered, mine)
        gain_km.append(km(iv.length(new)))
        after_km.append(km(iv.length(iv.intersect(ctx.scope, covered))))
        closed.append(_stretches(b, new))
    after = _analyse_with(ctx, sites)
    table = pd.DataFrame(
        {
            "rank": np.arange(1, len(sites) + 1, dtype=np.int64),
            "lon": sites.geometry.x.round(7).to_numpy(),
            "lat": sites.geometry.y.round(7).to_numpy(),
            "gain_km": np.asarray(gain_km, dtype=float),
            "covered_km_after": np.asarray(after_km, dtype=float),
            "gaps_closed": pd.Series(closed, dtype=object),
        }
    )
    if ctx.detections is not None and len(reach.point_owner):
        table["gain_detections"] = _detection_gains(reach, chosen)
    for col in SENSOR_COLUMNS:
        table[col] = sites[col].to_numpy()
    return SitingPlan(
        parameters=_parameters(ctx),
        before=_numbers(ctx, ctx.before, ctx.covered),
        after=_numbers(ctx, after, covered),
        sites=gpd.GeoDataFrame(table, geometry=sites.geometry.to_numpy(), crs=WGS84),
        candidates=len(sites),
        method=method,
        upper_bound_km=math.nan,
    )


def _detection_gains(reach: Reach, chosen: list[int]) -> list[int]:
    """Per site in rank order, the gap detections it watches that no earlier site watches."""
    seen: set[int] = set()
    out = []
    for i in chosen:
        lo, hi = np.searchsorted(reach.point_owner, [i, i + 1])
        mine = set(reach.point[lo:hi].tolist())
        out.append(len(mine - seen))
        seen |= mine
    return out


def _stretches(b: Any, ivs: iv.Intervals) -> list[dict[str, Any]]:
    """Intervals of global chainage as ``{segment, start_km, end_km}`` (merged)."""
    s, e = iv.union(ivs)
    seg, local = b.locate(s)
    return [
        {
            "segment": int(seg[k]),
            "start_km": km(local[k]),
            "end_km": km(e[k] - b.offset_m[seg[k]]),
        }
        for k in range(s.size)
    ]


def _analyse_with(ctx: _Context, sites: gpd.GeoDataFrame) -> Analysis:
    """The analysis of the existing sensors plus the sites (same options as ``before``)."""
    sensors = pd.concat(
        [ctx.sensors, sites[[*list(SENSOR_COLUMNS), "geometry"]]], ignore_index=True
    )
    return analyse(
        ctx.border,
        gpd.GeoDataFrame(sensors, geometry="geometry", crs=WGS84),
        sectors=ctx.sectors,
        detections=ctx.detections,
        corridor_km=ctx.params.corridor_km,
        min_gap_m=ctx.min_gap_m,
        dem=ctx.dem_path,
        target_height_m=ctx.params.target_height_m,
    )


def _numbers(ctx: _Context, result: Analysis, covered: iv.Intervals) -> dict[str, Any]:
    """``covered_km``, ``coverage_pct``, ``gap_km``, ``longest_gap_km`` of the objective's border.

    Read from the analysis' report: its ``border`` for the whole border, its partner's row
    for a partner's sectors (the longest gap there from ``covered``).
    """
    rep = result.report
    if ctx.scope_name == "border":
        b = rep["border"]
        out = {
            "scope": "border",
            "length_km": b["length_km"],
            "covered_km": b["covered_km"],
            "coverage_pct": b["coverage_pct"],
            "gap_km": b["gap_km"],
            "longest_gap_km": b["longest_gap_km"],
        }
        if "detections" in rep and ctx.detections is not None:
            out["detections_in_gaps"] = rep["detections"]["in_gaps"]
        return out
    p = rep["partners"][ctx.params.partner]
    gaps = iv.subtract(ctx.scope, covered)
    lengths = gaps[1] - gaps[0]
    lengths = lengths[lengths >= ctx.min_gap_m]
    out = {
        "scope": ctx.scope_name,
        "length_km": p["sector_border_km"],
        "covered_km": p["sector_covered_km"],
        "coverage_pct": p["sector_coverage_pct"],
        "gap_km": km(max(p["sector_border_km"] - p["sector_covered_km"], 0.0) * 1000.0),
        "longest_gap_km": km(float(lengths.max())) if lengths.size else 0.0,
    }
    if ctx.detections is not None:
        out["detections_in_gaps"] = p["detections_in_gaps"]
    return out


def _parameters(ctx: _Context) -> dict[str, Any]:
    return {
        **ctx.params.as_dict(),
        "sensor_partner": ctx.params.sensor_partner,
        "min_gap_m": ctx.min_gap_m,
        "dem": ctx.dem_path,
        "analysis_crs": str(ctx.scene.acrs),
        "engine": "flat" if ctx.dem_path is None else "terrain",
    }


def evaluate_sites(
    border: gpd.GeoDataFrame,
    sensors: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    params: SiteParams,
    *,
    sectors: gpd.GeoDataFrame | None = None,
    dem_path: str | Path | None = None,
    min_gap_m: float | None = None,
    detections: gpd.GeoDataFrame | None = None,
) -> SitingPlan:
    """The plan of sites placed by hand (no choice): the same JSON as :func:`plan_sites`.

    ``sites`` are points (EPSG:4326), in the order they rank; their own sensor columns
    (e.g. a plan's :meth:`SitingPlan.sensors`, a site moved) are kept, missing ones come from
    ``params``. ``upper_bound_km`` is NaN: nothing was chosen.
    """
    t0 = time.perf_counter()
    ctx = _context(
        border,
        sensors,
        params,
        sectors=sectors,
        detections=detections,
        dem_path=dem_path,
        min_gap_m=min_gap_m,
    )
    points = _candidate_points(ctx, sites, None, what="sites")
    frame = new_sensors(
        points.geometry.x.to_numpy(dtype=float), points.geometry.y.to_numpy(dtype=float), params
    )
    given = sites.reset_index(drop=True)
    for col in SENSOR_COLUMNS:
        if col in given:
            frame[col] = given[col].to_numpy()
    gap_dets = _gap_detections(ctx) if detections is not None else None
    reach = candidate_reach(
        ctx.scene,
        frame,
        points=gap_dets,
        dem_path=ctx.dem_path,
        target_height_m=params.target_height_m,
    )
    method = {"objective": params.weight, "scope": ctx.scope_name, "evaluated": True}
    plan = _finish(ctx, frame, reach, list(range(len(frame))), method)
    plan.method["time_s"] = {"total": round(time.perf_counter() - t0, 3)}
    return plan


__all__ = ["SITE_COLUMNS", "SitingPlan", "evaluate_sites", "plan_sites"]
