"""Benchmark: classifying detections, the corridor union and the whole ``analyse``.

The case of issue 19: 10,000 sensors along a 3,000 km border (40 % wedges, 10 % annuli),
1,000,000 detections around it. Prints figures, asserts nothing. Targets (2 cores): the
whole ``python -m geo analyse`` under 4 s, classification at 5,000,000 points/s or more.

    .venv/bin/python bench/bench_classify.py [--no-cli] [--data DIR] [--before CHECKOUT]

It runs on the code it is started from (``PYTHONPATH`` first). ``--before CHECKOUT`` (a
checkout of the code before a change, e.g. ``git worktree add /tmp/before main``) measures
that code too, on the same inputs, in a process of its own, and prints both side by side.
``--data DIR`` keeps the generated inputs there and reuses them on the next run.
Wall times depend on the machine's load: the CPU seconds beside them vary less.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

#: The checkout measured: this one, or the one ``--before`` names (its own bench_coverage puts
#: its own code first on the path).
sys.path.insert(
    0,
    str(Path(os.environ.get("LIMES_BENCH_ROOT", Path(__file__).resolve().parent.parent)) / "bench"),
)

from bench_coverage import GEOD, sensors_along, wiggly_border

N_SENSORS = 10_000
N_DETECTIONS = 1_000_000


def detections_around(line: shapely.LineString, n: int, seed: int = 1) -> gpd.GeoDataFrame:
    """``n`` detections scattered around the border (exponential distance, mean 4 km)."""
    rng = np.random.default_rng(seed)
    lon0, lat0 = _along(line, rng.uniform(0, 1, n))
    lon, lat = GEOD.fwd(lon0, lat0, rng.uniform(0, 360, n), rng.exponential(4_000, n))[:2]
    return gpd.GeoDataFrame(
        {
            "detection_id": [f"D{i:07d}" for i in range(n)],
            "time": pd.Timestamp("2026-11-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 7 * 86_400, n), unit="s"),
        },
        geometry=gpd.points_from_xy(np.round(lon, 6), np.round(lat, 6)),
        crs=4326,
    )


def _along(line: shapely.LineString, share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points ``share`` of the way along ``line`` (as ``line_interpolate_point`` with
    ``normalized=True``, which walks the line once per point: minutes for a million)."""
    xy = shapely.get_coordinates(line)
    cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
    d = share * cum[-1]
    i = np.clip(np.searchsorted(cum, d, side="right") - 1, 0, len(cum) - 2)
    t = (d - cum[i]) / (cum[i + 1] - cum[i])
    p = xy[i] + t[:, None] * (xy[i + 1] - xy[i])
    return p[:, 0], p[:, 1]


def sectors_along(line: shapely.LineString, n: int = 10) -> gpd.GeoDataFrame:
    """``n`` sectors cutting the border into equal stretches, 15 km deep on both sides."""
    cuts = np.linspace(0, 1, n + 1)
    lines = [
        shapely.ops.substring(line, a, b, normalized=True) for a, b in itertools.pairwise(cuts)
    ]
    polys = [shapely.buffer(ln, 0.2, cap_style="flat") for ln in lines]
    return gpd.GeoDataFrame(
        {"sector_id": [f"S{i}" for i in range(n)], "partner": ["A", "B", "C", "D", "A"] * (n // 5)},
        geometry=polys,
        crs=4326,
    )


def timed(label: str, fn: Callable[[], Any], *, repeat: int = 1) -> tuple[Any, float, float]:
    """``fn()``, its best wall time of ``repeat`` runs and the CPU seconds of that run."""
    best, cpu, out = np.inf, np.nan, None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall = time.perf_counter() - t0
        if wall < best:
            best, cpu = wall, time.process_time() - c0
    print(f"{label:<62} {best:8.3f} s  (CPU {cpu:6.3f} s)", flush=True)
    return out, best, cpu


def write_inputs(
    folder: Path, border: gpd.GeoDataFrame, sensors: gpd.GeoDataFrame, det: gpd.GeoDataFrame
) -> None:
    border.to_file(folder / "border.geojson")
    s = pd.DataFrame(sensors.drop(columns="geometry"))
    s["lon"], s["lat"] = sensors.geometry.x, sensors.geometry.y
    s.to_csv(folder / "sensors.csv", index=False)
    d = pd.DataFrame({"detection_id": det["detection_id"]})
    d["time"] = det["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    d["lat"], d["lon"] = det.geometry.y, det.geometry.x
    d.to_csv(folder / "detections.csv", index=False)


def cli_seconds(folder: Path, repeat: int = 2) -> float:
    """Wall time of ``python -m geo analyse`` on the files (best of ``repeat``)."""
    import geo

    root = Path(geo.__file__).resolve().parent.parent  # the checkout being measured
    cmd = [
        sys.executable, "-m", "geo", "analyse",
        "--border", str(folder / "border.geojson"),
        "--sensors", str(folder / "sensors.csv"),
        "--detections", str(folder / "detections.csv"),
        "--out", str(folder / "report.json"),
    ]  # fmt: skip
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=root, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def inputs(folder: Path | None) -> tuple[gpd.GeoDataFrame, ...]:
    """Border, sensors, detections and sectors: read from ``folder``, or made (and kept there)."""
    names = ("border", "sensors", "detections", "sectors")
    if folder is not None and all((folder / f"{n}.parquet").exists() for n in names):
        return tuple(gpd.read_parquet(folder / f"{n}.parquet") for n in names)
    line = wiggly_border()
    border = gpd.GeoDataFrame({"name": ["bench"]}, geometry=[line], crs=4326)
    made = (border, sensors_along(line, N_SENSORS), detections_around(line, N_DETECTIONS))
    made = (*made, sectors_along(line))
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        write_inputs(folder, *made[:3])
        for name, gdf in zip(names, made, strict=True):
            gdf.to_parquet(folder / f"{name}.parquet")
    return made


def measure(folder: Path, *, cli: bool) -> dict[str, float]:
    """Every figure of the benchmark on the inputs in ``folder`` (seconds)."""
    import geo
    from geo.coverage.analysis import analyse
    from geo.coverage.detections import classify_detections
    from geo.coverage.flat import FlatEngine, flat_corridor, sensor_footprints
    from geo.coverage.footprints import footprint_polygons
    from geo.coverage.scene import prepare_scene

    border, sensors, det, sectors = inputs(folder)
    print(f"code measured: {Path(geo.__file__).resolve().parent.parent}")
    km = GEOD.geometry_length(border.geometry.iloc[0]) / 1e3
    print(f"{len(sensors):,} sensors, {len(det):,} detections, border {km:,.0f} km")
    f: dict[str, float] = {}
    run = lambda: analyse(border, sensors, detections=det)  # noqa: E731
    _, f["analyse_first_s"], _ = timed("analyse(), first call in the process", run)
    result, f["analyse_s"], f["analyse_cpu_s"] = timed("analyse(), best of 2", run, repeat=2)
    print(f"  detections {result.report['detections']}")

    def scene_of(sec: gpd.GeoDataFrame | None) -> Any:
        return prepare_scene(
            border, sensors, sectors=sec, detections=det, corridor_km=5.0, min_gap_m=0.0,
            time_from=None, time_to=None,
        )  # fmt: skip

    scene = scene_of(None)
    polygons = footprint_polygons(sensor_footprints(scene.sensors, scene.acrs))
    _, f["union_s"], _ = timed(
        "corridor coverage: union, overlap, areas (flat_corridor)",
        lambda: flat_corridor(scene, polygons),
        repeat=2,
    )
    corridor = FlatEngine().cover(scene).corridor
    _, f["classify_first_s"], _ = timed(
        "classify 1M detections, first (builds the index)",
        lambda: classify_detections(scene, corridor),
    )
    _, f["classify_s"], f["classify_cpu_s"] = timed(
        "classify 1M detections, again", lambda: classify_detections(scene, corridor), repeat=3
    )
    scene_s = scene_of(sectors)
    _, f["classify_sectors_s"], _ = timed(
        "classify 1M detections with 10 sectors",
        lambda: classify_detections(scene_s, corridor),
        repeat=3,
    )
    f["cli_s"] = np.nan
    if cli:
        f["cli_s"] = cli_seconds(folder)
        print(f"{'python -m geo analyse (wall, best of 2)':<62} {f['cli_s']:8.3f} s")
    return f


def before(checkout: Path, folder: Path, *, cli: bool) -> dict[str, float]:
    """:func:`measure` run on the code of ``checkout``, in a process of its own."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--data", str(folder), "--json"]
    root = str(checkout.resolve())
    env = {**os.environ, "PYTHONPATH": root, "LIMES_BENCH_ROOT": root}
    out = subprocess.run(
        [*cmd, *([] if cli else ["--no-cli"])], check=True, cwd=checkout, env=env,
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return figures


def summary(f: dict[str, float], n: int) -> str:
    return (
        f"cli_analyse_s={f['cli_s']:.3f} (target < 4) analyse_s={f['analyse_s']:.3f} "
        f"analyse_cpu_s={f['analyse_cpu_s']:.3f} analyse_first_s={f['analyse_first_s']:.3f} "
        f"union_s={f['union_s']:.3f} "
        f"classify_points_per_s={n / f['classify_s']:,.0f} (target >= 5,000,000) "
        f"classify_cpu_s={f['classify_cpu_s']:.3f} "
        f"with_index_build={n / f['classify_first_s']:,.0f} "
        f"with_10_sectors={n / f['classify_sectors_s']:,.0f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-cli", action="store_true", help="skip the python -m geo analyse runs")
    ap.add_argument("--data", type=Path, help="keep (and reuse) the generated inputs here")
    ap.add_argument("--before", type=Path, help="a checkout of the code before the change")
    ap.add_argument("--json", action="store_true", help="end with the figures as JSON")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.data or Path(tmp)
        inputs(folder)
        old = before(args.before, folder, cli=not args.no_cli) if args.before else None
        new = measure(folder, cli=not args.no_cli)
    print()
    if old is not None:
        print(f"SUMMARY before {summary(old, N_DETECTIONS)}")
    print(f"SUMMARY {'after ' if old else ''}{summary(new, N_DETECTIONS)}")
    if args.json:
        print(json.dumps(new))


if __name__ == "__main__":
    main()
