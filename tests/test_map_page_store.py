"""The Map page's figures, counted by the store, equal those of the in-memory analysis.

The page no longer reads every stored row (:mod:`geo.mapview`): the analysis holds the
scenario's own detections only, the window's counts come from the store page by page, the
points from :func:`geo.store.map_points`, the time bounds from :func:`geo.store.time_summary`.
The truth is what the page did before: :func:`geo.coverage.analyse` with the scenario's
detections and every stored row of the operation, cut with :meth:`Analysis.windowed`.
Both back-ends; several partners, markings, an operation of its own; windows and viewers.
"""

from __future__ import annotations

import itertools
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from test_map_store import CORRIDOR_KM, MIN_GAP_M, _ingest

from geo import store
from geo.coverage import analyse
from geo.coverage.views import (
    JOINT,
    bulk_span,
    detections_in_gap,
    detections_in_polygon,
    detections_in_sector,
    headline,
    hide_foreign_upload_ids,
    time_bounds,
    visible_rows,
)
from geo.mapview import map_base, map_times, map_window, pick_box, rows_near, window_detections
from layers.map import MAP_HEXAGON_M, detection_hexagons

#: ``None``: the demo joint view (everything); the others: signed-in partners' releasability.
VIEWERS: list[tuple[str, ...] | None] = [None, ("LTU",), ("POL",), ("LVA", "POL"), ("EST",)]
WINDOWS = [
    (None, None),
    (pd.Timestamp("2026-11-01T06:00:00Z"), pd.Timestamp("2026-11-02T12:30:00Z")),
]


@pytest.fixture
def filled(any_store: Path | str, scenario: Any) -> Path | str:
    _ingest(any_store, scenario)
    return any_store


def _truth(path: Path | str, sc: Any) -> Any:
    """What the page analysed before: the scenario's rows and every stored one, all owners."""
    own = sc.detections.assign(owner=sc.detections["partner"], upload_id=-1)
    stored = store.visible_detections(path, store.owners(path), operation="sample")
    every = gpd.GeoDataFrame(pd.concat([own, stored], ignore_index=True), crs="EPSG:4326")
    return analyse(
        sc.border,
        sc.sensors,
        sectors=sc.sectors,
        detections=every,
        corridor_km=CORRIDOR_KM,
        min_gap_m=MIN_GAP_M,
    )


def _window_truth(full: Any, viewers: tuple[str, ...] | None, tf: Any, tt: Any) -> Any:
    det = full.all_detections
    visible = None if viewers is None else visible_rows(det, viewers)
    return hide_foreign_upload_ids(full.windowed(tf, tt, visible=visible), viewers)


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    """A report without the moment it was made."""
    return {k: v for k, v in report.items() if k != "generated_at"}


def _sorted(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    keep = ["time", "detection_id", "owner", "coverage_status", "sector_ids", "upload_id"]
    out = pd.DataFrame(frame[keep]).assign(
        lon=frame.geometry.x.to_numpy(), lat=frame.geometry.y.to_numpy()
    )
    out["coverage_status"] = out["coverage_status"].astype(str)
    out["upload_id"] = out["upload_id"].astype("Int64")
    return out.sort_values(["time", "detection_id", "owner"]).reset_index(drop=True)


def test_the_page_figures_equal_the_analysis_of_every_row(
    filled: Path | str, scenario: Any
) -> None:
    full = _truth(filled, scenario)
    base = map_base(
        scenario.border, scenario.sensors, filled, operation="sample", sectors=scenario.sectors,
        detections=scenario.detections, corridor_km=CORRIDOR_KM, min_gap_m=MIN_GAP_M,
    )  # fmt: skip
    assert base.stored
    assert base.analysis.all_detections is not None
    assert len(base.analysis.all_detections) == len(scenario.detections)  # no stored row held
    partners = [JOINT, *sorted(full.report["partners"])]
    for viewers, (tf, tt) in itertools.product(VIEWERS, WINDOWS):
        case = f"{viewers} {tf}"
        truth = _window_truth(full, viewers, tf, tt)
        got = map_window(base, time_from=tf, time_to=tt, viewers=viewers, hex_size_m=MAP_HEXAGON_M)
        assert _figures(got.result.report) == _figures(truth.report), case
        for p in partners:  # the headline, the metrics and the gap table of every view
            assert headline(got.result.report, p) == headline(truth.report, p), case
        want = truth.layers["detections"]
        assert got.total == len(want), case
        assert not got.cut, case
        pd.testing.assert_frame_equal(_sorted(got.result.layers["detections"]), _sorted(want))
        assert (
            got.result.layers["sectors"]["detections"].tolist()
            == truth.layers["sectors"]["detections"].tolist()
        ), case
        want_hex = detection_hexagons(truth)
        assert got.hexagons["count"].tolist() == want_hex["count"].tolist(), case
        assert got.hexagons["flagged"].tolist() == want_hex["flagged"].tolist(), case
        assert shapely.equals_exact(
            got.hexagons.geometry.to_numpy(), want_hex.geometry.to_numpy(), tolerance=1e-9
        ).all(), case
    # the time window's bounds and the counts outside them
    for viewers in VIEWERS:
        det = full.all_detections
        times = det["time"] if viewers is None else det["time"][visible_rows(det, viewers)]
        bounds, hours = map_times(base, viewers)
        assert bounds == time_bounds(times), viewers
        assert len(hours) == len(times)
        for lo, hi in (bounds.bulk, bounds.full, (bounds.bulk[0], bounds.full[1])):
            assert hours.outside(lo, hi) == int(((times < lo) | (times > hi)).sum()), viewers


def test_past_the_limit_the_figures_stay_and_details_read_what_they_show(
    filled: Path | str, scenario: Any
) -> None:
    full = _truth(filled, scenario)
    base = map_base(
        scenario.border, scenario.sensors, filled, operation="sample", sectors=scenario.sectors,
        detections=scenario.detections, corridor_km=CORRIDOR_KM, min_gap_m=MIN_GAP_M,
    )  # fmt: skip
    tf, tt = WINDOWS[1]
    viewers = ("LTU",)
    truth = _window_truth(full, viewers, tf, tt)
    n_own = len(_window_truth(_own_only(base), viewers, tf, tt).layers["detections"])
    limit = n_own + 100
    got = map_window(
        base, time_from=tf, time_to=tt, viewers=viewers, hex_size_m=MAP_HEXAGON_M, limit=limit
    )
    assert _figures(got.result.report) == _figures(truth.report)
    assert got.cut
    assert got.shown == limit
    assert got.total == len(truth.layers["detections"])
    assert got.hexagons["count"].sum() == got.total
    # the first stored rows in time after the scenario's own
    stored = got.result.layers["detections"].iloc[n_own:]
    assert stored["time"].is_monotonic_increasing
    assert (stored["upload_id"] != -1).all()
    # details: a sector's, a gap's and a hexagon's rows are read from the store near them
    sid = next(s["sector_id"] for s in truth.report["sectors"] if s["detections"])
    near, held = rows_near(
        base, got, pick_box(got.result, {"sectors": [{"sector_id": sid}]}),
        time_from=tf, time_to=tt, viewers=viewers, limit=10**6,
    )  # fmt: skip
    assert held == len(near.layers["detections"])
    pd.testing.assert_frame_equal(
        _sorted(detections_in_sector(near, sid)), _sorted(detections_in_sector(truth, sid))
    )
    gap = max(truth.report["gaps"], key=lambda g: g["length_km"])
    near, _ = rows_near(
        base, got, pick_box(got.result, {"gaps": [gap]}),
        time_from=tf, time_to=tt, viewers=viewers, limit=10**6,
    )  # fmt: skip
    args = gap["segment"], gap["start_km"], gap["end_km"]
    want_gap = detections_in_gap(truth, *args)
    assert len(want_gap)
    pd.testing.assert_frame_equal(_sorted(detections_in_gap(near, *args)), _sorted(want_gap))
    hexes = detection_hexagons(truth)
    busiest = hexes.geometry.iloc[int(np.argmax(hexes["count"]))]
    rings = [list(map(list, busiest.exterior.coords))]
    near, _ = rows_near(
        base, got, pick_box(got.result, {"detections": [{"polygon": rings}]}),
        time_from=tf, time_to=tt, viewers=viewers, limit=10**6,
    )  # fmt: skip
    assert len(detections_in_polygon(near, rings)) == int(hexes["count"].max())
    # a limit cuts the details too, and says how many there are
    near, held = rows_near(
        base, got, pick_box(got.result, {"sectors": [{"sector_id": sid}]}),
        time_from=tf, time_to=tt, viewers=viewers, limit=5,
    )  # fmt: skip
    assert held > len(near.layers["detections"])


def _own_only(base: Any) -> Any:
    return base.analysis


@pytest.mark.parametrize("share", [0.95, 0.5, 0.01, 1.0])
def test_the_store_finds_the_bulk_as_bulk_span_does(tmp_path: Path, share: float) -> None:
    # random times with ties and outliers, no store file: the same SQL in memory
    for seed in range(20):
        rng = np.random.default_rng(seed)
        t = rng.integers(0, 10**10, int(rng.integers(1, 300)))
        t = np.concatenate([t, t[: len(t) // 2], [-(10**12), 10**13][: seed % 3]])
        got = store.time_summary(tmp_path / "none.gpkg", "LTU", extra_us=t, share=share)
        want = bulk_span(pd.Series(pd.to_datetime(t, unit="us", utc=True)), share=share)
        assert got.bulk == tuple(x.value // 1000 for x in want), seed
        assert (got.total, got.first_us, got.last_us) == (len(t), t.min(), t.max())


# ---- every detection of a window, page by page (the Export page's detections file) ----------


def test_every_detection_of_a_window_page_by_page_equals_the_analysis_of_every_row(
    filled: Path | str, scenario: Any
) -> None:
    full = _truth(filled, scenario)
    base = map_base(
        scenario.border, scenario.sensors, filled, operation="sample", sectors=scenario.sectors,
        detections=scenario.detections, corridor_km=CORRIDOR_KM, min_gap_m=MIN_GAP_M,
    )  # fmt: skip
    for viewers, (tf, tt) in itertools.product(VIEWERS[:4], WINDOWS):
        case = f"{viewers} {tf}"
        truth = _window_truth(full, viewers, tf, tt)
        pages = list(
            window_detections(base, time_from=tf, time_to=tt, viewers=viewers, page_rows=400)
        )
        assert len(pages) > 2, case  # the own rows and several pages of the store's
        assert all(len(p) <= max(400, len(pages[0])) for p in pages[1:]), case
        window = map_window(base, time_from=tf, time_to=tt, viewers=viewers, hex_size_m=1e4)
        columns = list(window.result.layers["detections"].columns)
        assert all(list(p.columns) == columns for p in pages), case  # one set, the layer's
        got = pd.concat(pages, ignore_index=True)
        pd.testing.assert_frame_equal(_sorted(got), _sorted(truth.layers["detections"]))


def _table(data: bytes, fmt: str) -> pd.DataFrame:
    """The detections of an export file (GeoPackage, or zipped CSV), sorted, as text."""
    import io
    import zipfile

    import pyogrio

    if fmt == "csv":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            table = pd.read_csv(z.open("detections.csv"), dtype=str, keep_default_na=False)
    else:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "export.gpkg"
            path.write_bytes(data)
            table = pd.DataFrame(pyogrio.read_dataframe(path, layer="detections"))
        table["geometry"] = gpd.GeoSeries(table["geometry"]).to_wkt()
        table = table.astype(str)
    return table.sort_values(list(table.columns)).reset_index(drop=True)


@pytest.mark.parametrize("fmt", ["csv", "gpkg"])
def test_past_the_limit_the_detections_file_holds_every_row_as_the_in_memory_export(
    filled: Path | str, scenario: Any, fmt: str
) -> None:
    from layers.snapshot import export_bytes

    full = _truth(filled, scenario)
    base = map_base(
        scenario.border, scenario.sensors, filled, operation="sample", sectors=scenario.sectors,
        detections=scenario.detections, corridor_km=CORRIDOR_KM, min_gap_m=MIN_GAP_M,
    )  # fmt: skip
    tf, tt = WINDOWS[1]
    for partner, viewers in ((None, None), ("LTU", ("LTU",))):
        truth = _window_truth(full, viewers, tf, tt)
        window = map_window(
            base, time_from=tf, time_to=tt, viewers=viewers, hex_size_m=1e4, limit=50
        )
        assert window.cut
        want = export_bytes(truth, fmt=fmt, partner=partner, shown=["detections", "gaps"])
        pages = partial(
            window_detections, base, time_from=tf, time_to=tt, viewers=viewers, page_rows=300
        )
        got = export_bytes(
            window.result, fmt=fmt, partner=partner, shown=["detections", "gaps"], detections=pages
        )
        held = export_bytes(window.result, fmt=fmt, partner=partner, shown=["detections", "gaps"])
        expected = _table(want, fmt)
        assert len(expected) > len(_table(held, fmt))  # the rows held are not all of them
        pd.testing.assert_frame_equal(_table(got, fmt), expected)
