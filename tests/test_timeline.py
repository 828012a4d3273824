"""geo.timeline against answers known in closed form.

The border is a straight stretch of the equator from 0° to 1° east (111.3 km, its length
from pyproj's geodesic). Along the equator ground distance is linear in longitude
(a·Δλ), so a drone flying it at constant speed has fixes placed exactly.

- A drone flying back and forth at speed v with range r: at chainage x the longest
  unwatched interval is 2·max(x − r, L − x − r)/v (it leaves towards the far end and comes
  back), so the border exposed for a crossing time τ is L minus the middle stretch
  [L − r − τv/2, r + τv/2].
- A sensor with schedule 00:00-12:00 is watching half of any whole number of days, and
  every minute of the hours 0-11 only.
- An outage is a hole of exactly its length in an always-on sensor's coverage.

Tolerances: one time step (60 s) and 0.5 % of the border's length, as the issue promises.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.core.errors import ValidationError
from geo.core.projection import GEOD
from geo.timeline import timeline

L_M = float(GEOD.inv(0.0, 0.0, 1.0, 0.0)[2])
M_PER_DEG = 6_378_137.0 * np.pi / 180.0  # along the equator
T0 = pd.Timestamp("2026-05-01T00:00:00Z")
STEP_S = 60.0
LENGTH_TOL_KM = 0.005 * L_M / 1000.0


def _border() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 0)])], crs=4326)


def _sensor(range_m: float, lon: float = 0.5, **cols: object) -> gpd.GeoDataFrame:
    data = {"sensor_id": ["S"], "partner": ["P"], "kind": ["tower"], "range_m": [range_m]}
    data.update({k: [v] for k, v in cols.items()})
    return gpd.GeoDataFrame(data, geometry=[shapely.Point(lon, 0.0)], crs=4326)


def _drone(
    v: float, r: float, periods: int, *, fix_s: float = 5.0
) -> tuple[gpd.GeoDataFrame, float]:
    period = 2 * L_M / v
    t = np.arange(0.0, periods * period + fix_s, fix_s)
    phase = np.mod(t, period)
    s = np.where(phase < L_M / v, v * phase, 2 * L_M - v * phase)
    tracks = gpd.GeoDataFrame(
        {
            "track_id": "D1",
            "time": T0 + pd.to_timedelta(t, unit="s"),
            "partner": "P",
            "kind": "drone",
            "range_m": r,
        },
        geometry=shapely.points(s / M_PER_DEG, np.zeros_like(s)),
        crs=4326,
    )
    return tracks, periods * period


@pytest.fixture(scope="module")
def drone_case() -> tuple[object, float, float]:
    v, r = 25.0, 2000.0
    tracks, length_s = _drone(v, r, periods=3)
    res = timeline(
        _border(),
        tracks=tracks,
        time_from=T0,
        time_to=T0 + pd.Timedelta(seconds=length_s),
        crossing_time_min=90,
    )
    return res, v, r


def test_drone_longest_unwatched_matches_closed_form(drone_case: tuple) -> None:
    res, v, r = drone_case
    p = res.pieces
    x = (p.start + p.end) / 2
    expected = 2 * np.maximum(x - r, L_M - x - r) / v
    assert np.abs(res.figures.max_gap_s - expected).max() <= STEP_S
    # Pieces are short where tracks move: within 0.1 % of the length (and 50 m).
    assert p.length_m.max() <= min(50.0, 0.001 * L_M) + 1e-6


@pytest.mark.parametrize("tau_min", [30.0, 90.0, 120.0, 150.0])
def test_drone_exposed_km_for_crossing_times(drone_case: tuple, tau_min: float) -> None:
    res, v, r = drone_case
    tau = tau_min * 60.0
    c = tau * v / 2
    safe = max(0.0, min(L_M, r + c) - max(0.0, L_M - r - c))
    exposed_m = res.pieces.length_m[res.figures.max_gap_s > tau].sum()
    assert exposed_m / 1000 == pytest.approx((L_M - safe) / 1000, abs=LENGTH_TOL_KM)


def test_drone_report_and_stretches(drone_case: tuple) -> None:
    res, v, r = drone_case
    rep = res.report
    c = 90 * 60 * v / 2
    expected_km = (L_M - (r + c - (L_M - r - c))) / 1000
    assert rep["border"]["exposed_km"] == pytest.approx(expected_km, abs=LENGTH_TOL_KM)
    assert rep["border"]["length_km"] == pytest.approx(L_M / 1000, abs=1e-6)
    assert rep["border"]["never_watched_km"] == 0.0
    # Two exposed stretches, one at each end, each with the worst gap 2(L - r)/v at its end.
    assert len(rep["stretches"]) == 2
    worst = 2 * (L_M - r) / v / 60
    for s in rep["stretches"]:
        assert s["max_unwatched_min"] == pytest.approx(worst, abs=STEP_S / 60)
    starts = sorted(s["start_km"] for s in rep["stretches"])
    assert starts[0] == 0.0
    assert starts[1] == pytest.approx((r + c) / 1000, abs=LENGTH_TOL_KM)
    # Time-average watched share: each point sees the 2r-wide disk pass at speed v, twice
    # per period (once near the ends); within the tolerance of the whole border.
    assert rep["border"]["watched_pct"] == pytest.approx(100 * 2 * r / L_M, abs=0.5)


def test_drone_with_silence_is_not_watching() -> None:
    v, r = 25.0, 2000.0
    tracks, length_s = _drone(v, r, periods=1)
    # Drop every fix in the second quarter: a silence far longer than 120 s.
    t = (tracks["time"] - T0).dt.total_seconds().to_numpy()
    quarter = length_s / 4
    kept = tracks[(t < quarter) | (t > 2 * quarter)]
    res = timeline(
        _border(), tracks=kept, time_from=T0, time_to=T0 + pd.Timedelta(seconds=length_s)
    )
    full = timeline(
        _border(), tracks=tracks, time_from=T0, time_to=T0 + pd.Timedelta(seconds=length_s)
    )
    # The drone covers L/4 of flight in that quarter: its 2r disk is missing for that long.
    lost = full.report["border"]["watched_pct"] - res.report["border"]["watched_pct"]
    assert lost == pytest.approx(100 * 2 * r * quarter / (L_M * length_s), abs=0.3)


def test_fov_wedge_sees_only_ahead() -> None:
    """A drone flying east with a 90° wedge ahead: it watches a point until abreast of it."""
    v, r = 25.0, 2000.0
    t = np.arange(0.0, 4000.0, 5.0)
    s = 1000.0 + v * t
    tracks = gpd.GeoDataFrame(
        {"track_id": "D", "time": T0 + pd.to_timedelta(t, unit="s"), "range_m": r, "fov_deg": 90.0},
        geometry=shapely.points(s / M_PER_DEG, np.zeros_like(s)),
        crs=4326,
    )
    res = timeline(_border(), tracks=tracks, time_from=T0, time_to=T0 + pd.Timedelta(hours=1))
    p = res.pieces
    x = (p.start + p.end) / 2
    # On the track's own line a point is ahead (angle 0) until passed: watched from when the
    # drone is r before it until it reaches it, r / v seconds; the disk alone would give 2r / v.
    mid = (x > 20_000) & (x < 80_000)
    assert np.allclose(res.figures.watched_s[mid], r / v, atol=1.0)


def test_schedule_half_day_watched_and_by_hour() -> None:
    big = _sensor(200_000.0, schedule="00:00-12:00")
    res = timeline(
        _border(), sensors=big, time_from="2026-05-01T06:00Z", time_to="2026-05-03T06:00Z"
    )
    rep = res.report
    assert rep["border"]["watched_pct"] == pytest.approx(50.0, abs=1e-6)
    hours = {row["hour"]: row["watched_pct"] for row in rep["by_hour"]}
    assert len(rep["by_hour"]) == 24
    assert all(hours[h] == pytest.approx(100.0) for h in range(12))
    assert all(hours[h] == pytest.approx(0.0) for h in range(12, 24))
    # Longest unwatched: 12:00 to 24:00; the window's last hours (00-06) are watched.
    assert rep["stretches"][0]["max_unwatched_min"] == pytest.approx(720.0)
    assert rep["border"]["always_watched_km"] == 0.0


def test_schedule_on_part_of_the_border() -> None:
    """A 10 km disk at the middle watches 20 km of border, half the time."""
    res = timeline(
        _border(),
        sensors=_sensor(10_000.0, schedule="00:00-12:00"),
        time_from="2026-05-01",
        time_to="2026-05-02",
    )
    rep = res.report
    share = 20_000.0 / L_M
    assert rep["border"]["watched_pct"] == pytest.approx(50 * share * 100 / 100, abs=0.5)
    assert rep["by_hour"][3]["watched_pct"] == pytest.approx(100 * share, abs=0.5)
    assert rep["by_hour"][15]["watched_pct"] == 0.0
    assert rep["border"]["never_watched_km"] == pytest.approx(
        (L_M - 20_000) / 1000, abs=LENGTH_TOL_KM
    )


def test_schedule_past_midnight_and_complementary_sensors() -> None:
    two = pd.concat(
        [
            _sensor(200_000.0, schedule="22:00-10:00"),
            _sensor(200_000.0, schedule="10:00-22:00").assign(sensor_id="T"),
        ],
        ignore_index=True,
    )
    rep = timeline(_border(), sensors=two, time_from="2026-05-01", time_to="2026-05-04").report
    assert rep["border"]["watched_pct"] == pytest.approx(100.0)
    assert rep["border"]["always_watched_km"] == pytest.approx(L_M / 1000, abs=1e-6)
    assert rep["border"]["exposed_km"] == 0.0
    assert rep["stretches"] == []


def test_outages_split_coverage_exactly() -> None:
    outages = "2026-05-01T10:00Z/2026-05-01T10:45Z;2026-05-01T14:00Z/2026-05-01T14:20Z"
    sensors = _sensor(200_000.0, outages=outages)
    res = timeline(_border(), sensors=sensors, time_from="2026-05-01", time_to="2026-05-02")
    rep = res.report
    assert rep["border"]["watched_pct"] == pytest.approx(100 * (1440 - 65) / 1440, abs=1e-4)
    assert rep["border"]["exposed_km"] == pytest.approx(L_M / 1000, abs=1e-6)
    (stretch,) = rep["stretches"]
    assert stretch["max_unwatched_min"] == pytest.approx(45.0)
    assert stretch["mean_revisit_min"] == pytest.approx(32.5)
    assert rep["by_hour"][10]["watched_pct"] == pytest.approx(25.0)
    assert rep["by_hour"][14]["watched_pct"] == pytest.approx(100 * 40 / 60)
    longer = timeline(
        _border(),
        sensors=sensors,
        time_from="2026-05-01",
        time_to="2026-05-02",
        crossing_time_min=60,
    ).report
    assert longer["border"]["exposed_km"] == 0.0


def test_active_from_to_and_inactive_status() -> None:
    sensors = _sensor(
        200_000.0,
        active_from=pd.Timestamp("2026-05-01T06:00Z"),
        active_to=pd.Timestamp("2026-05-01T18:00Z"),
    )
    rep = timeline(_border(), sensors=sensors, time_from="2026-05-01", time_to="2026-05-02").report
    assert rep["border"]["watched_pct"] == pytest.approx(50.0)
    # Unwatched 00-06 and 18-24: clipped at the window's ends, never joined round.
    assert rep["stretches"][0]["max_unwatched_min"] == pytest.approx(360.0)
    off = _sensor(200_000.0, status="inactive")
    rep = timeline(_border(), sensors=off, time_from="2026-05-01", time_to="2026-05-02").report
    assert rep["border"]["never_watched_km"] == pytest.approx(L_M / 1000, abs=1e-6)


def test_partners_sectors_and_detections() -> None:
    west = shapely.box(-0.1, -0.1, 0.5, 0.1)
    east = shapely.box(0.5, -0.1, 1.1, 0.1)
    sectors = gpd.GeoDataFrame(
        {"sector_id": ["W", "E"], "partner": ["A", "B"]}, geometry=[west, east], crs=4326
    )
    # Watches the western half (a 55.66 km disk centred on 0° covers 0 to 0.5°) by day.
    sensors = _sensor(L_M / 2, lon=0.0, schedule="06:00-18:00")
    det = gpd.GeoDataFrame(
        {"time": pd.to_datetime(["2026-05-01T07:00Z", "2026-05-01T20:00Z", "2026-05-01T07:00Z"])},
        geometry=[shapely.Point(0.2, 0.0), shapely.Point(0.2, 0.0), shapely.Point(0.9, 0.0)],
        crs=4326,
    )
    rep = timeline(
        _border(),
        sensors=sensors,
        sectors=sectors,
        detections=det,
        time_from="2026-05-01",
        time_to="2026-05-02",
        crossing_time_min=13 * 60,  # the west's 12 h nights are not exposed, the east is
    ).report
    assert rep["partners"]["A"]["watched_pct"] == pytest.approx(50.0, abs=0.5)
    assert rep["partners"]["B"]["watched_pct"] == pytest.approx(0.0, abs=0.5)
    assert rep["partners"]["B"]["exposed_km"] == pytest.approx(L_M / 2000, abs=LENGTH_TOL_KM)
    assert rep["detections"] == {
        "total": 3,
        "watched_at_time": 1,
        "unwatched_at_time": 2,
        "outside_window": 0,
    }
    (east,) = rep["stretches"]
    assert east["sector_ids"] == ["E"]
    assert east["partners"] == ["B"]
    assert east["start_km"] == pytest.approx(L_M / 2000, abs=LENGTH_TOL_KM)


def test_detection_watched_by_drone_at_its_time() -> None:
    v, r = 25.0, 2000.0
    tracks, length_s = _drone(v, r, periods=1)
    # At t = 1000 s the drone is at 25 km; 1 km off its position is watched, 5 km is not.
    times = pd.to_datetime([T0 + pd.Timedelta(seconds=1000)] * 2)
    det = gpd.GeoDataFrame(
        {"time": times},
        geometry=[shapely.Point(26_000 / M_PER_DEG, 0), shapely.Point(30_000 / M_PER_DEG, 0)],
        crs=4326,
    )
    rep = timeline(
        _border(),
        tracks=tracks,
        detections=det,
        time_from=T0,
        time_to=T0 + pd.Timedelta(seconds=length_s),
    ).report
    assert rep["detections"]["watched_at_time"] == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"time_from": None, "time_to": "2026-05-02"}, "time window"),
        ({"time_from": "2026-05-02", "time_to": "2026-05-01"}, "time_to"),
        ({"time_from": "2026-05-01", "time_to": "2026-05-02", "step_s": 0}, "step-s"),
        ({"time_from": "2026-05-01", "time_to": "2026-05-02", "max_fix_gap_s": -1}, "gap"),
    ],
)
def test_bad_options_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        timeline(_border(), sensors=_sensor(1000.0), **kwargs)


def test_inputs_are_not_changed() -> None:
    sensors = _sensor(10_000.0, schedule="00:00-12:00")
    tracks, _ = _drone(25.0, 2000.0, periods=1)
    before_s, before_t = sensors.copy(), tracks.copy()
    timeline(
        _border(), sensors=sensors, tracks=tracks, time_from=T0, time_to=T0 + pd.Timedelta(hours=2)
    )
    pd.testing.assert_frame_equal(sensors, before_s)
    pd.testing.assert_frame_equal(tracks, before_t)


def test_kernel_split_over_threads_gives_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Enough segments for the kernel to run in chunks on threads: the closed form holds."""
    from geo.timeline import watch

    v, r = 25.0, 2000.0
    tracks, length_s = _drone(v, r, periods=2, fix_s=0.25)
    window = {"time_from": T0, "time_to": T0 + pd.Timedelta(seconds=length_s)}
    simplified = timeline(_border(), tracks=tracks, **window)
    # No merging of straight runs: > 30,000 segments, several chunks (watch.track_intervals).
    monkeypatch.setattr(watch, "SIMPLIFY_MAX_RUN", 1)
    assert len(tracks) > 30_000
    res = timeline(_border(), tracks=tracks, **window)
    x = (res.pieces.start + res.pieces.end) / 2
    expected = 2 * np.maximum(x - r, L_M - x - r) / v
    assert np.abs(res.figures.max_gap_s - expected).max() <= STEP_S
    # Chunk boundaries cut no watched interval in two: one visit per pass.
    n_visits = np.bincount(res.watched.piece, minlength=len(res.pieces))
    mid = (x > 3 * r) & (x < L_M - 3 * r)
    assert set(n_visits[mid].tolist()) == {4}
    # Straight runs merged (0.5 m): the watched times move by hundredths of a second.
    assert np.abs(simplified.figures.watched_s - res.figures.watched_s).max() < 0.1
    assert np.abs(simplified.figures.max_gap_s - res.figures.max_gap_s).max() < 0.1


def test_simplifying_a_jittery_track_keeps_the_times() -> None:
    """A patrol with 3 m GPS jitter: merging straight runs changes watched times < 1 s."""
    from geo.timeline import watch

    rng = np.random.default_rng(7)
    t = np.arange(0.0, 3 * 3600.0, 10.0)
    s = 20_000.0 + 1.4 * t
    lon = (s + rng.normal(0, 3, t.size)) / M_PER_DEG
    lat = rng.normal(0, 3, t.size) / M_PER_DEG + 300 / M_PER_DEG
    tracks = gpd.GeoDataFrame(
        {"track_id": "P", "time": T0 + pd.to_timedelta(t, unit="s"), "range_m": 500.0},
        geometry=shapely.points(lon, lat),
        crs=4326,
    )
    window = {"time_from": T0, "time_to": T0 + pd.Timedelta(hours=3)}
    merged = timeline(_border(), tracks=tracks, **window)
    full_tracks = merged.tracks
    assert full_tracks is not None
    kept = watch.simplified(full_tracks)
    assert len(kept) < len(full_tracks)
    unmerged = watch.track_intervals(merged.pieces, full_tracks, simplify=False)
    direct = watch.piece_figures(
        watch.merge_watched([unmerged], merged.window.length_s),
        len(merged.pieces),
        merged.window.length_s,
    )
    tol = 2 * watch.SIMPLIFY_TOL_M / 1.4
    assert np.abs(merged.figures.watched_s - direct.watched_s).max() <= tol


@pytest.mark.parametrize(("lon", "lat"), [(26.585, 55.572), (25.006, 54.136)])
def test_track_line_of_sight_agrees_with_the_viewshed(lon: float, lat: float) -> None:
    """A hovering observer over the sample DEM sees the border a tower's viewshed sees.

    The outside reference is the viewshed kernel (GDAL's algorithm) behind ``analyse --dem``:
    the same eye as a static sensor. The sampled line of sight (straight lines over the
    cells) agrees within 3 % of the border watched, and both see less than the flat disk.
    """
    from geo.core.settings import SAMPLE_DIR
    from geo.inputs import read_border

    border, _ = read_border(SAMPLE_DIR / "border.geojson")
    dem = str(SAMPLE_DIR / "dem.tif")
    hour = {"time_from": T0, "time_to": T0 + pd.Timedelta(hours=1)}
    tower = gpd.GeoDataFrame(
        {"sensor_id": ["T"], "partner": ["P"], "kind": ["tower"], "range_m": [6000.0]}
        | {"height_m": [5.0]},
        geometry=[shapely.Point(lon, lat)],
        crs=4326,
    )
    hover = gpd.GeoDataFrame(
        {
            "track_id": "H",
            "time": T0 + pd.to_timedelta(np.arange(0, 3601, 30.0), unit="s"),
            "range_m": 6000.0,
            "height_m": 5.0,
        },
        geometry=[shapely.Point(lon, lat)] * 121,
        crs=4326,
    )

    def watched_km(res: object) -> float:
        border_rep = res.report["border"]  # type: ignore[attr-defined]
        return border_rep["watched_pct"] * border_rep["length_km"] / 100

    static = timeline(border, sensors=tower, dem=dem, **hour)
    sight = timeline(border, tracks=hover, dem=dem, **hour)
    flat = timeline(border, tracks=hover, **hour)
    assert watched_km(sight) == pytest.approx(watched_km(static), rel=0.03)
    assert watched_km(sight) < watched_km(flat)
    assert sight.report["parameters"]["tracks_over_terrain"] == "line of sight every 60 s"
    # Sampled at the step: each piece is watched for whole steps.
    steps = sight.figures.watched_s / 60.0
    assert np.allclose(steps, np.round(steps))


def test_random_schedules_against_brute_force_sampling() -> None:
    """Random schedules and outages on five sensors, checked against a 10-second sampling.

    The reference evaluates, at every 10 s of two days and at the middle of every piece,
    which sensors hold the point (their chainage intervals from the report's own footprints
    are not used: a sensor holds a point when it is within its range on the straight line)
    and whether each is on (its daily windows and outages tested directly).
    """
    rng = np.random.default_rng(18)
    rows = []
    for k in range(5):
        start = int(rng.integers(0, 24 * 60)) // 15 * 15
        length = int(rng.integers(60, 16 * 60)) // 15 * 15
        end = (start + length) % (24 * 60)
        sched = f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
        o0 = T0 + pd.Timedelta(minutes=int(rng.integers(0, 2 * 24 * 60)))
        o1 = o0 + pd.Timedelta(minutes=int(rng.integers(10, 300)))
        outage = f"{o0.isoformat()}/{o1.isoformat()}"
        rows.append((f"S{k}", 0.1 + 0.2 * k, float(rng.integers(5, 25)) * 1000, sched, outage))
    sensors = gpd.GeoDataFrame(
        {
            "sensor_id": [r[0] for r in rows],
            "partner": "P",
            "kind": "tower",
            "range_m": [r[2] for r in rows],
            "schedule": [r[3] for r in rows],
            "outages": [r[4] for r in rows],
        },
        geometry=[shapely.Point(r[1], 0.0) for r in rows],
        crs=4326,
    )
    res = timeline(_border(), sensors=sensors, time_from=T0, time_to=T0 + pd.Timedelta(days=2))
    t = np.arange(0.0, 2 * 86_400.0, 10.0) + 5.0
    x = (res.pieces.start + res.pieces.end) / 2
    on = np.zeros((t.size, x.size), dtype=bool)
    for _, lon, range_m, sched, outage in rows:
        a, b = (int(h) * 3600 + int(m) * 60 for h, m in (p.split(":") for p in sched.split("-")))
        tod = np.mod(t, 86_400.0)
        active = (tod >= a) & (tod < b) if a < b else (tod >= a) | (tod < b)
        o0, o1 = (pd.Timestamp(p) for p in outage.split("/"))
        down = (t >= (o0 - T0).total_seconds()) & (t < (o1 - T0).total_seconds())
        near = np.abs(x - lon * M_PER_DEG) <= range_m
        on |= (active & ~down)[:, None] & near[None, :]
    w = res.pieces.length_m
    ref_pct = 100 * (on.mean(axis=0) * w).sum() / w.sum()
    assert res.report["border"]["watched_pct"] == pytest.approx(ref_pct, abs=0.05)
    hour = (np.mod(t, 86_400.0) // 3600).astype(int)
    for h in range(24):
        ref = 100 * (on[hour == h].mean(axis=0) * w).sum() / w.sum()
        assert res.report["by_hour"][h]["watched_pct"] == pytest.approx(ref, abs=0.5)
    # Longest unwatched run per piece, from the samples (within one sample, 10 s).
    for j in np.flatnonzero(on.any(axis=0))[:: max(1, x.size // 40)]:
        col = np.r_[True, on[:, j], True]
        edges = np.flatnonzero(np.diff(col.astype(int)))
        gaps = (edges[1::2] - edges[::2]) * 10.0
        longest = gaps.max() if gaps.size else 0.0
        assert res.figures.max_gap_s[j] == pytest.approx(longest, abs=20.0)
