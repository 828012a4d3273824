"""The command line is a contract: ``python -m geo analyse ...`` run as a subprocess.

Figures in the report are checked against outside truth: geodesic lengths and positions from
pyproj.Geod, an independent corridor (GEOS buffer in UTM, area on the ellipsoid), sensor
footprints evaluated point by point with geodesic distance and azimuth, the detection CSV
counted with pandas, and the chainages the sample generator wrote into sectors.geojson.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
BORDER = SAMPLE / "border.geojson"
SENSORS = SAMPLE / "sensors.csv"
SECTORS = SAMPLE / "sectors.geojson"
DETECTIONS = SAMPLE / "detections.csv"
ALL_INPUTS = [
    "--border",
    str(BORDER),
    "--sensors",
    str(SENSORS),
    "--sectors",
    str(SECTORS),
    "--detections",
    str(DETECTIONS),
]

GEOD = pyproj.Geod(ellps="WGS84")
#: UTM 35N: the sample's own metric CRS, used here only for independent reference geometry.
TO_UTM = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32635", always_xy=True)
TO_LONLAT = pyproj.Transformer.from_crs("EPSG:32635", "EPSG:4326", always_xy=True)

#: Detection window: bounds are exact detection times, to check they are inclusive. The upper
#: bound has no zone, which the CLI documents as UTC.
WINDOW_ROWS = (5000, 9000)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "geo", "analyse", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def run_ok(*args: str) -> dict[str, Any]:
    proc = run_cli(*args)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


# ---- reference data, read without geo -------------------------------------------------------


@pytest.fixture(scope="module")
def border_lonlat() -> np.ndarray:
    gj = json.loads(BORDER.read_text(encoding="utf-8"))
    assert len(gj["features"]) == 1
    assert gj["features"][0]["geometry"]["type"] == "LineString"
    return np.asarray(gj["features"][0]["geometry"]["coordinates"], dtype=float)


@pytest.fixture(scope="module")
def border_chainage(border_lonlat: np.ndarray) -> np.ndarray:
    """Geodesic chainage (m) of every vertex of the border file."""
    _, _, d = GEOD.inv(
        border_lonlat[:-1, 0], border_lonlat[:-1, 1], border_lonlat[1:, 0], border_lonlat[1:, 1]
    )
    return np.concatenate([[0.0], np.cumsum(d)])


@pytest.fixture(scope="module")
def sectors_props() -> pd.DataFrame:
    gj = json.loads(SECTORS.read_text(encoding="utf-8"))
    return pd.DataFrame([f["properties"] for f in gj["features"]])


@pytest.fixture(scope="module")
def detection_times() -> pd.Series:
    return pd.to_datetime(pd.read_csv(DETECTIONS)["time"], utc=True)


# ---- the runs (each a subprocess, shared by the tests of this module) ---------------------


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    """All inputs, every uncovered stretch listed (--min-gap-m 0)."""
    return run_ok(*ALL_INPUTS, "--min-gap-m", "0")


@pytest.fixture(scope="module")
def window(detection_times: pd.Series) -> tuple[dict[str, Any], pd.Timestamp, pd.Timestamp]:
    """Default parameters, detections limited to a time window."""
    t_from = detection_times.iloc[WINDOW_ROWS[0]]
    t_to = detection_times.iloc[WINDOW_ROWS[1]]
    rep = run_ok(
        *ALL_INPUTS,
        "--time-from",
        t_from.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--time-to",
        t_to.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    return rep, t_from, t_to


@pytest.fixture(scope="module")
def wide() -> dict[str, Any]:
    return run_ok("--border", str(BORDER), "--sensors", str(SENSORS), "--corridor-km", "10")


# ---- contract: keys and types ------------------------------------------------------------


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)


def _assert_numbers(d: dict[str, Any], keys: list[str], where: str) -> None:
    for k in keys:
        assert k in d, f"{where}: missing key {k!r}"
        assert _is_num(d[k]), f"{where}.{k}: expected a number, got {d[k]!r}"


def test_exit_zero_and_contract_keys(report: dict[str, Any]) -> None:
    assert isinstance(report["analysis_crs"], str)
    assert pyproj.CRS(report["analysis_crs"]).is_projected

    params = report["parameters"]
    assert set(params) >= {"corridor_km", "min_gap_m", "time_from", "time_to"}
    assert params["corridor_km"] == 5.0
    assert params["min_gap_m"] == 0.0
    assert params["time_from"] is None
    assert params["time_to"] is None

    _assert_numbers(
        report["border"],
        ["length_km", "covered_km", "coverage_pct", "overlap_km", "redundant_km"],
        "border",
    )
    _assert_numbers(
        report["corridor"], ["area_km2", "covered_km2", "gap_km2", "overlap_km2"], "corridor"
    )
    _assert_numbers(report, ["unassigned_border_km", "contested_border_km"], "report")

    assert isinstance(report["gaps"], list)
    assert report["gaps"]
    for g in report["gaps"]:
        assert isinstance(g["segment"], int)
        assert not isinstance(g["segment"], bool)
        _assert_numbers(g, ["start_km", "end_km", "length_km"], "gap")
        assert isinstance(g["midpoint"], list)
        assert len(g["midpoint"]) == 2
        assert all(_is_num(v) for v in g["midpoint"])
        for k in ("sector_ids", "partners"):
            assert isinstance(g[k], list)
            assert all(isinstance(s, str) for s in g[k])

    assert isinstance(report["partners"], dict)
    assert report["partners"]
    for pid, p in report["partners"].items():
        assert isinstance(pid, str)
        _assert_numbers(
            p,
            ["sensors", "covered_km", "sector_border_km", "sector_covered_km", "detections"],
            f"partners.{pid}",
        )
        assert isinstance(p["sensors"], int)
        assert isinstance(p["detections"], int)

    assert isinstance(report["sectors"], list)
    assert report["sectors"]
    for s in report["sectors"]:
        assert isinstance(s["sector_id"], str)
        assert isinstance(s["partner"], str)
        _assert_numbers(s, ["border_km", "covered_km", "coverage_pct", "detections"], "sector")
        assert isinstance(s["detections"], int)

    det = report["detections"]
    for k in ("total", "in_coverage", "in_gaps", "outside_corridor"):
        assert isinstance(det[k], int), k
        assert not isinstance(det[k], bool), k


# ---- along the border ---------------------------------------------------------------------


def test_border_length_is_geodesic(report: dict[str, Any], border_lonlat: np.ndarray) -> None:
    truth_km = GEOD.geometry_length(shapely.LineString(border_lonlat)) / 1000.0
    assert report["border"]["length_km"] == pytest.approx(truth_km, rel=1e-3)


def test_border_figures_are_consistent(report: dict[str, Any]) -> None:
    b = report["border"]
    assert 0 < b["covered_km"] <= b["length_km"]
    assert b["coverage_pct"] == pytest.approx(100 * b["covered_km"] / b["length_km"], abs=1e-3)
    assert 0 <= b["overlap_km"] <= b["redundant_km"] <= b["covered_km"]


def test_gap_lengths_sum_to_uncovered(report: dict[str, Any]) -> None:
    b = report["border"]
    total = sum(g["length_km"] for g in report["gaps"])
    assert total == pytest.approx(b["length_km"] - b["covered_km"], abs=1e-4)
    for g in report["gaps"]:
        assert g["length_km"] == pytest.approx(g["end_km"] - g["start_km"], abs=2e-6)


def test_gaps_ordered_and_disjoint(report: dict[str, Any], border_chainage: np.ndarray) -> None:
    gaps = report["gaps"]
    assert {g["segment"] for g in gaps} == {0}  # the sample border is one line
    for g in gaps:
        assert 0 <= g["start_km"] < g["end_km"] <= border_chainage[-1] / 1000 + 1e-3
    for a, b in itertools.pairwise(gaps):
        assert (a["segment"], a["start_km"]) < (b["segment"], b["start_km"]), "gaps out of order"
        if a["segment"] == b["segment"]:
            assert a["end_km"] <= b["start_km"], f"gaps overlap: {a} and {b}"


def test_default_min_gap_drops_only_short_gaps(report: dict[str, Any], window) -> None:
    default_rep = window[0]
    assert default_rep["parameters"]["min_gap_m"] == 1.0
    assert default_rep["parameters"]["corridor_km"] == 5.0
    expected = [(g["start_km"], g["end_km"]) for g in report["gaps"] if g["length_km"] >= 0.001]
    assert [(g["start_km"], g["end_km"]) for g in default_rep["gaps"]] == expected


def _chainage_of(
    lon: float, lat: float, border_lonlat: np.ndarray, chainage: np.ndarray
) -> tuple[float, float]:
    """(distance from the border in m, geodesic chainage in m) of a point near the border."""
    bx, by = TO_UTM.transform(border_lonlat[:, 0], border_lonlat[:, 1])
    px, py = TO_UTM.transform(lon, lat)
    a = np.column_stack([bx[:-1], by[:-1]])
    d = np.column_stack([bx[1:], by[1:]]) - a
    t = np.clip(((np.array([px, py]) - a) * d).sum(axis=1) / (d * d).sum(axis=1), 0, 1)
    foot = a + t[:, None] * d
    dist = np.hypot(foot[:, 0] - px, foot[:, 1] - py)
    i = int(np.argmin(dist))
    return float(dist[i]), float(chainage[i] + t[i] * (chainage[i + 1] - chainage[i]))


def test_gap_midpoints_lie_on_the_border_halfway(
    report: dict[str, Any], border_lonlat: np.ndarray, border_chainage: np.ndarray
) -> None:
    for g in report["gaps"]:
        lon, lat = g["midpoint"]
        dist, ch = _chainage_of(lon, lat, border_lonlat, border_chainage)
        assert dist < 10.0, f"gap midpoint {g['midpoint']} is {dist:.1f} m off the border"
        assert ch / 1000 == pytest.approx((g["start_km"] + g["end_km"]) / 2, abs=0.01), g


def test_gaps_match_sensor_footprints_on_the_ellipsoid(
    report: dict[str, Any], border_lonlat: np.ndarray, border_chainage: np.ndarray
) -> None:
    """Sample the border every ~100 m; decide coverage with geodesic range and azimuth.

    A point clearly (5 m, 0.05 degrees) inside an active sensor's footprint must not be in a
    gap; a point clearly outside every active footprint must be in one. Points closer than
    that to a footprint's edge are left out.
    """
    lons, lats, chain = [], [], []
    for i in range(len(border_lonlat) - 1):
        (x0, y0), (x1, y1) = border_lonlat[i], border_lonlat[i + 1]
        az, _, dist = GEOD.inv(x0, y0, x1, y1)
        steps = np.arange(0.0, dist, 100.0) + 50.0 * (i % 2)  # not always on a vertex
        steps = steps[steps < dist]
        lo, la, _ = GEOD.fwd(
            np.full(steps.size, x0), np.full(steps.size, y0), np.full(steps.size, az), steps
        )
        lons.append(lo)
        lats.append(la)
        chain.append(border_chainage[i] + steps)
    lon, lat, ch = np.concatenate(lons), np.concatenate(lats), np.concatenate(chain)

    s = pd.read_csv(SENSORS)
    s = s[s["status"] == "active"].reset_index(drop=True)
    r_out = s["range_m"].to_numpy(float)
    r_in = s["min_range_m"].fillna(0).to_numpy(float)
    fov = s["fov_deg"].fillna(360).to_numpy(float)
    aim = s["azimuth_deg"].fillna(0).to_numpy(float)

    n_p, n_s = lon.size, len(s)
    az, _, d = GEOD.inv(
        np.repeat(s["lon"].to_numpy(float)[None, :], n_p, 0).ravel(),
        np.repeat(s["lat"].to_numpy(float)[None, :], n_p, 0).ravel(),
        np.repeat(lon[:, None], n_s, 1).ravel(),
        np.repeat(lat[:, None], n_s, 1).ravel(),
    )
    az, d = az.reshape(n_p, n_s), d.reshape(n_p, n_s)
    off = np.abs((az - aim + 180.0) % 360.0 - 180.0)
    full = fov >= 360
    tol_m, tol_deg = 5.0, 0.05
    surely_in = (d <= r_out - tol_m) & (d >= r_in + tol_m) & (full | (off <= fov / 2 - tol_deg))
    surely_out = (
        (d >= r_out + tol_m)
        | ((d <= r_in - tol_m) & (r_in > 0))
        | (~full & (off >= fov / 2 + tol_deg))
    )
    covered, uncovered = surely_in.any(axis=1), surely_out.all(axis=1)
    assert not (covered & uncovered).any()
    assert (covered | uncovered).mean() > 0.98  # few points are left out

    starts = np.array([g["start_km"] for g in report["gaps"]]) * 1000
    ends = np.array([g["end_km"] for g in report["gaps"]]) * 1000
    in_gap = ((ch[:, None] >= starts) & (ch[:, None] <= ends)).any(axis=1)
    bad_cov = np.flatnonzero(covered & in_gap)
    bad_unc = np.flatnonzero(uncovered & ~in_gap)
    assert bad_cov.size == 0, (
        f"{bad_cov.size} covered points reported as gaps, e.g. km {ch[bad_cov[:5]] / 1000}"
    )
    assert bad_unc.size == 0, (
        f"{bad_unc.size} uncovered points missing from gaps, e.g. km {ch[bad_unc[:5]] / 1000}"
    )
    # and the covered length agrees with the sampled share
    share = covered.sum() / (covered | uncovered).sum()
    assert share == pytest.approx(report["border"]["coverage_pct"] / 100, abs=0.01)


# ---- sectors and partners ---------------------------------------------------------------


def _overlap_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    return min(a[1], b[1]) - max(a[0], b[0])


def test_gap_sectors_follow_sector_chainage(
    report: dict[str, Any], sectors_props: pd.DataFrame
) -> None:
    """sectors.geojson carries each sector's stretch (start_km, end_km) from the generator."""
    partner_of = dict(zip(sectors_props["sector_id"], sectors_props["partner"], strict=True))
    for g in report["gaps"]:
        listed = set(g["sector_ids"])
        for _, sec in sectors_props.iterrows():
            ov = _overlap_km((g["start_km"], g["end_km"]), (sec["start_km"], sec["end_km"]))
            if ov > 0.2:
                assert sec["sector_id"] in listed, (g, sec.to_dict())
            elif ov < -0.2:
                assert sec["sector_id"] not in listed, (g, sec.to_dict())
        assert g["partners"] == sorted({partner_of[s] for s in listed})
    assert any(not g["sector_ids"] for g in report["gaps"])  # the unassigned stretch has gaps


def test_unassigned_and_contested_stretches(
    report: dict[str, Any], sectors_props: pd.DataFrame
) -> None:
    length = report["border"]["length_km"]
    spans = sorted(zip(sectors_props["start_km"], sectors_props["end_km"], strict=True))
    held, reach = 0.0, 0.0
    for lo, hi in spans:
        lo = max(lo, reach)
        if hi > lo:
            held += hi - lo
            reach = hi
    # the generator rounded the last sector's end to 428.3 km: allow 0.1 km
    assert report["unassigned_border_km"] == pytest.approx(length - held, abs=0.1)
    contested = 0.0
    rows = list(sectors_props.itertuples())
    for i, a in enumerate(rows):
        for b in rows[i + 1 :]:
            if a.partner != b.partner:
                contested += max(0.0, _overlap_km((a.start_km, a.end_km), (b.start_km, b.end_km)))
    assert report["contested_border_km"] == pytest.approx(contested, abs=0.1)


def test_sectors_table(report: dict[str, Any], sectors_props: pd.DataFrame) -> None:
    rows = {s["sector_id"]: s for s in report["sectors"]}
    assert set(rows) == set(sectors_props["sector_id"])
    for _, sec in sectors_props.iterrows():
        r = rows[sec["sector_id"]]
        assert r["partner"] == sec["partner"]
        assert r["border_km"] == pytest.approx(sec["end_km"] - sec["start_km"], abs=0.1)
        assert 0 <= r["covered_km"] <= r["border_km"] + 1e-6
        assert r["coverage_pct"] == pytest.approx(100 * r["covered_km"] / r["border_km"], abs=1e-3)
        assert 0 <= r["detections"] <= report["detections"]["total"]


def test_partners_table(report: dict[str, Any], sectors_props: pd.DataFrame) -> None:
    sensors = pd.read_csv(SENSORS)
    partners = report["partners"]
    assert set(partners) == set(sensors["partner"]) | set(sectors_props["partner"])
    counts = sensors["partner"].value_counts()
    b = report["border"]
    for pid, p in partners.items():
        assert p["sensors"] == int(counts.get(pid, 0))
        assert 0 <= p["covered_km"] <= b["covered_km"] + 1e-6
        assert 0 <= p["sector_covered_km"] <= p["sector_border_km"] + 1e-6
        own = sum(s["border_km"] for s in report["sectors"] if s["partner"] == pid)
        assert p["sector_border_km"] == pytest.approx(
            own, abs=0.01
        )  # a partner's sectors do not overlap
    # border claimed by some partner, counted once per claiming partner (no 3-way claims here)
    claimed = sum(p["sector_border_km"] for p in partners.values())
    assert claimed == pytest.approx(
        b["length_km"] - report["unassigned_border_km"] + report["contested_border_km"], abs=0.01
    )
    # every covered km is covered by at least one partner; km covered by two count twice
    assert sum(p["covered_km"] for p in partners.values()) >= b["covered_km"] - 1e-4


# ---- corridor -------------------------------------------------------------------------------


def _reference_corridor_km2(border_lonlat: np.ndarray, corridor_km: float) -> float:
    """GEOS buffer in UTM 35N, area on the WGS84 ellipsoid."""
    x, y = TO_UTM.transform(border_lonlat[:, 0], border_lonlat[:, 1])
    poly = shapely.segmentize(
        shapely.LineString(np.column_stack([x, y])).buffer(corridor_km * 1000.0), 200.0
    )
    lon, lat = TO_LONLAT.transform(*np.asarray(poly.exterior.coords).T)
    ring_area, _ = GEOD.polygon_area_perimeter(lon, lat)
    holes = 0.0
    for ring in poly.interiors:
        hlon, hlat = TO_LONLAT.transform(*np.asarray(ring.coords).T)
        holes += abs(GEOD.polygon_area_perimeter(hlon, hlat)[0])
    return (abs(ring_area) - holes) / 1e6


def test_corridor_area_against_independent_buffer(
    report: dict[str, Any], wide: dict[str, Any], border_lonlat: np.ndarray
) -> None:
    for rep, km in ((report, 5.0), (wide, 10.0)):
        assert rep["parameters"]["corridor_km"] == km
        assert rep["corridor"]["area_km2"] == pytest.approx(
            _reference_corridor_km2(border_lonlat, km), rel=5e-3
        )
    assert wide["corridor"]["area_km2"] > report["corridor"]["area_km2"]


def test_corridor_parts_add_up(report: dict[str, Any], wide: dict[str, Any]) -> None:
    for rep in (report, wide):
        c = rep["corridor"]
        assert c["covered_km2"] + c["gap_km2"] == pytest.approx(c["area_km2"], rel=1e-4)
        assert 0 <= c["overlap_km2"] <= c["covered_km2"]
    # the footprints do not change with the corridor: the wider one covers at least as much
    assert wide["corridor"]["covered_km2"] >= report["corridor"]["covered_km2"] - 1e-3


# ---- detections ----------------------------------------------------------------------------


def test_detection_counts_add_up(report: dict[str, Any], detection_times: pd.Series) -> None:
    det = report["detections"]
    assert det["total"] == len(detection_times)
    assert det["in_coverage"] + det["in_gaps"] + det["outside_corridor"] == det["total"]
    assert min(det["in_coverage"], det["in_gaps"], det["outside_corridor"]) > 0


def test_outside_corridor_by_geodesic_distance(
    report: dict[str, Any], border_lonlat: np.ndarray
) -> None:
    """Detections farther than 5 km from the border are outside the corridor, nearer ones inside.

    Distances in UTM 35N (scale error < 0.05 %); 30 m either side of the 5 km line is left
    undecided (buffer arcs are drawn as chords, up to ~24 m inside the true circle).
    """
    df = pd.read_csv(DETECTIONS)
    x, y = TO_UTM.transform(df["lon"].to_numpy(float), df["lat"].to_numpy(float))
    bx, by = TO_UTM.transform(border_lonlat[:, 0], border_lonlat[:, 1])
    dist = shapely.distance(shapely.LineString(np.column_stack([bx, by])), shapely.points(x, y))
    surely_out = int((dist > 5030).sum())
    undecided = int(((dist >= 4970) & (dist <= 5030)).sum())
    got = report["detections"]["outside_corridor"]
    assert surely_out <= got <= surely_out + undecided


def test_time_window_counts_rows_in_window(window, detection_times: pd.Series) -> None:
    rep, t_from, t_to = window
    det = rep["detections"]
    expected = int(((detection_times >= t_from) & (detection_times <= t_to)).sum())
    assert 0 < expected < len(detection_times)
    assert det["total"] == expected
    assert det["in_coverage"] + det["in_gaps"] + det["outside_corridor"] == expected
    assert pd.Timestamp(rep["parameters"]["time_from"]) == t_from
    assert pd.Timestamp(rep["parameters"]["time_to"]) == t_to


def test_time_window_sector_counts_shrink(report: dict[str, Any], window) -> None:
    rep = window[0]
    full = {s["sector_id"]: s["detections"] for s in report["sectors"]}
    part = {s["sector_id"]: s["detections"] for s in rep["sectors"]}
    assert all(part[k] <= full[k] for k in full)
    assert sum(part.values()) < sum(full.values())


# ---- --out ---------------------------------------------------------------------------------


def test_out_writes_the_same_json(tmp_path: Path, report: dict[str, Any]) -> None:
    out = tmp_path / "report.json"
    proc = run_cli(*ALL_INPUTS, "--min-gap-m", "0", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
    written = json.loads(out.read_text(encoding="utf-8"))
    assert "generated_at" in written
    assert "generated_at" in report
    written.pop("generated_at")
    expected = dict(report)
    expected.pop("generated_at")
    assert written == expected


# ---- error paths ---------------------------------------------------------------------------


def _assert_clean_failure(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (
        f"exit {proc.returncode}\nstdout: {proc.stdout[:500]}\nstderr: {proc.stderr}"
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.strip() == "", "no report on failure"
    for needle in needles:
        assert needle.lower() in proc.stderr.lower(), f"{needle!r} not in stderr: {proc.stderr}"


@pytest.mark.parametrize("flag", ["--border", "--sensors", "--sectors", "--detections"])
def test_missing_file(tmp_path: Path, flag: str) -> None:
    args = {"--border": str(BORDER), "--sensors": str(SENSORS)}
    missing = tmp_path / f"no_such_{flag.strip('-')}.geojson"
    args[flag] = str(missing)
    proc = run_cli(*(x for kv in args.items() for x in kv))
    _assert_clean_failure(proc, missing.name)


def test_polygon_file_as_border() -> None:
    proc = run_cli("--border", str(SECTORS), "--sensors", str(SENSORS))
    _assert_clean_failure(proc, SECTORS.name)


def test_points_csv_as_border() -> None:
    proc = run_cli("--border", str(SENSORS), "--sensors", str(SENSORS))
    _assert_clean_failure(proc, SENSORS.name)


def test_sensors_all_with_negative_range(tmp_path: Path) -> None:
    df = pd.read_csv(SENSORS)
    df["range_m"] = -df["range_m"].abs()
    bad = tmp_path / "negative_sensors.csv"
    df.to_csv(bad, index=False)
    proc = run_cli("--border", str(BORDER), "--sensors", str(bad))
    _assert_clean_failure(proc, bad.name, "range")


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (["--corridor-km", "0"], ["corridor"]),
        (["--corridor-km", "-3"], ["corridor"]),
        (["--corridor-km", "abc"], ["--corridor-km", "abc"]),
        (["--corridor-km", "nan"], ["--corridor-km", "nan"]),
        (["--min-gap-m", "-1"], ["min_gap"]),
        (["--time-from", "not a time"], ["time", "not a time"]),
        (["--time-to", "yesterday-ish"], ["time", "yesterday-ish"]),
        (["--time-from", "2026-11-05T00:00:00Z", "--time-to", "2026-11-02T00:00:00Z"], ["time"]),
    ],
    ids=[
        "corridor-0",
        "corridor-negative",
        "corridor-abc",
        "corridor-nan",
        "min-gap-negative",
        "time-from-garbage",
        "time-to-garbage",
        "time-window-reversed",
    ],
)
def test_bad_options(extra: list[str], needles: list[str]) -> None:
    with_detections = ["--detections", str(DETECTIONS)] if "--time-from" in extra else []
    proc = run_cli("--border", str(BORDER), "--sensors", str(SENSORS), *with_detections, *extra)
    _assert_clean_failure(proc, *needles)


def test_unwritable_out(tmp_path: Path) -> None:
    out = tmp_path / "no_such_dir" / "report.json"
    proc = run_cli("--border", str(BORDER), "--sensors", str(SENSORS), "--out", str(out))
    _assert_clean_failure(proc, "no_such_dir")
    assert not out.exists()


def test_the_sample_operation_is_in_every_store(tmp_path: Path, capsys: Any) -> None:
    # A store only ever written by the command line (no app opened it yet) still has the
    # bundled operation ``sample``, as the app makes it: its analysis is the sample files'.
    from cli import main

    store = tmp_path / "cli-only.gpkg"
    sample = ROOT / "sample_data"
    assert main(["ingest", str(sample / "detections.csv"), "--store", str(store),
                 "--partner", "LTU", "--releasable-to", "ALL"]) == 0  # fmt: skip
    capsys.readouterr()
    runs = {}
    for name, args in {
        "stored": ["--operation", "sample", "--store", str(store)],
        "files": [
            "--border",
            str(sample / "border.geojson"),
            "--sensors",
            str(sample / "sensors.csv"),
            "--sectors",
            str(sample / "sectors.geojson"),
            "--dem",
            str(sample / "dem.tif"),
        ],  # fmt: skip
    }.items():
        assert main(["analyse", *args]) == 0, name
        report = json.loads(capsys.readouterr().out)
        runs[name] = {k: report[k] for k in ("border", "corridor", "gaps", "sectors", "partners")}
        runs[name]["dem"] = report["parameters"]["dem"]
    # the operation's DEM, written to a temporary file for the command, is named as stored
    assert runs["stored"].pop("dem") == "dem.tif (operation sample)"
    assert runs["files"].pop("dem") == str(sample / "dem.tif")
    assert runs["stored"] == runs["files"]
    assert runs["stored"]["gaps"]
