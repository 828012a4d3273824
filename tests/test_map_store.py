"""The map's queries on the store (geo.store.map_query, geo.coverage.streamed), on both back-ends.

The outside truth is today's in-memory path: every stored row read
(``store.visible_detections``), analysed once (``geo.coverage.analyse``), cut to the window
and the viewer (``Analysis.windowed`` with ``visible_rows``), then the map's hexagons
(``layers.map.detection_hexagons``). The queries must give the same figures, the same points
and the same hexagons.
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from test_store import put, report_for

from geo import store
from geo.core.cells import fine_cells_of
from geo.core.prefetch import prefetched
from geo.coverage import analyse
from geo.coverage.streamed import (
    count_batches,
    counted_report,
    hexagons,
    point_classifier,
)
from geo.coverage.views import visible_rows
from geo.store.connection import connect
from geo.store.geometry import points
from geo.store.hours import HOURS
from geo.store.map_query import Extent, map_points, window_batches, window_positions
from geo.store.schema import SCHEMA_VERSION
from geo.store.spatial_index import CELLS, has_spatial_index, is_current
from layers.map import MAP_HEXAGON_M, detection_hexagons

#: Uploads: (owner, marking, operation, rows).
UPLOADS = [
    ("LTU", "", "sample", 900),
    ("LVA", "ALL", "sample", 700),
    ("POL", "LTU", "sample", 800),
    ("LTU", "LVA,POL", "sample", 600),
    ("LVA", "ALL", "other", 300),
]
VIEWERS = [("LTU",), ("POL",), ("LVA", "POL"), ("EST",)]
WINDOWS = [(None, None), ("2026-11-01T06:00:00Z", "2026-11-02T12:00:00Z")]
CORRIDOR_KM, MIN_GAP_M = 15.0, 200.0


def _extent(scenario: Any) -> Extent:
    x0, y0, x1, y1 = scenario.border.total_bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return Extent(cx - (x1 - x0) / 4, cy - (y1 - y0) / 4, cx + (x1 - x0) / 4, cy + (y1 - y0) / 4)


def _rows(scenario: Any, n: int, seed: int) -> gpd.GeoDataFrame:
    """``n`` detections around the border over three days, some exactly on the extent's edge."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = scenario.border.total_bounds
    lon = rng.uniform(x0 - 0.3, x1 + 0.3, n)
    lat = rng.uniform(y0 - 0.3, y1 + 0.3, n)
    ext = _extent(scenario)
    # on each edge exactly, and one step of a double outside it
    mid_x, mid_y = (ext.west + ext.east) / 2, (ext.south + ext.north) / 2
    edges = [
        (ext.west, mid_y),
        (np.nextafter(ext.west, -np.inf), mid_y),
        (ext.east, mid_y),
        (np.nextafter(ext.east, np.inf), mid_y),
        (mid_x, ext.south),
        (mid_x, np.nextafter(ext.south, -np.inf)),
        (mid_x, ext.north),
        (mid_x, np.nextafter(ext.north, np.inf)),
    ]
    for i, (x, y) in enumerate(edges):
        lon[i], lat[i] = x, y
    start = pd.Timestamp("2026-11-01T00:00:00Z").value // 1000
    time_us = np.sort(rng.integers(start, start + 3 * 86_400_000_000, n))
    return gpd.GeoDataFrame(
        {
            "time": pd.Series(time_us.view("datetime64[us]")).dt.tz_localize("UTC"),
            "detection_id": pd.Series([f"S{seed}-{i}" for i in range(n)], dtype="str"),
            "source": pd.Series(["radar"] * n, dtype="str"),
            "src_row": np.arange(1, n + 1, dtype=np.int64),
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )


def _ingest(path: Path | str, scenario: Any) -> None:
    layers = {"border": scenario.border, "sensors": scenario.sensors}
    store.put_operation(path, {"name": "other"}, layers)
    for seed, (owner, marking, operation, n) in enumerate(UPLOADS):
        rows = _rows(scenario, n, seed)
        if operation == "sample":
            put(path, rows, partner=owner, releasable_to=marking or None)
        else:
            store.ingest(
                path,
                rows,
                report_for(rows),
                file_name="other.csv",
                sha256=f"{seed:064x}",
                partner=owner,
                releasable_to=marking,
                operation=operation,
            )


@pytest.fixture
def filled(any_store: Path | str, scenario: Any) -> Path | str:
    _ingest(any_store, scenario)
    return any_store


def _truth(path: Path | str, scenario: Any) -> Any:
    """Today's path: every row of the operation read and analysed."""
    every = store.visible_detections(path, ["LTU", "LVA", "POL"], operation="sample")
    return every, analyse(
        scenario.border,
        scenario.sensors,
        sectors=scenario.sectors,
        detections=every,
        corridor_km=CORRIDOR_KM,
        min_gap_m=MIN_GAP_M,
    )


def _points(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": frame["time"].to_numpy(),
            "detection_id": frame["detection_id"].to_numpy(dtype=object),
            "owner": frame["owner"].to_numpy(dtype=object),
            "releasable_to": frame["releasable_to"].to_numpy(dtype=object),
            "lon": frame.geometry.x.to_numpy(),
            "lat": frame.geometry.y.to_numpy(),
        }
    )


def test_counts_points_and_hexagons_equal_the_in_memory_path(
    filled: Path | str, scenario: Any
) -> None:
    _, full = _truth(filled, scenario)
    classifier = point_classifier(
        scenario.border,
        scenario.sensors,
        sectors=scenario.sectors,
        corridor_km=CORRIDOR_KM,
        min_gap_m=MIN_GAP_M,
    )
    assert classifier.acrs.crs == full.acrs.crs
    ext = _extent(scenario)
    for viewers, (tf, tt) in itertools.product(VIEWERS, WINDOWS):
        truth = full.windowed(tf, tt, visible=visible_rows(full.all_detections, viewers))
        batches = window_batches(
            filled, viewers, operation="sample", time_from=tf, time_to=tt, batch_rows=500
        )
        counts = count_batches(batches, classifier, hex_size_m=MAP_HEXAGON_M)
        got = counted_report(full.report, counts)
        case = f"{viewers} {tf}"
        assert got["detections"] == truth.report["detections"], case
        assert [s["detections"] for s in got["sectors"]] == [
            s["detections"] for s in truth.report["sectors"]
        ], case
        assert got["partners"] == truth.report["partners"], case
        assert counts.total == len(truth.layers["detections"]) > 0 or viewers == ("EST",)
        # the hexagons: same cells, counts, gap counts, outlines
        want_hex = detection_hexagons(truth)
        got_hex = hexagons(counts, classifier.acrs, MAP_HEXAGON_M)
        assert got_hex["count"].tolist() == want_hex["count"].tolist(), case
        assert got_hex["flagged"].tolist() == want_hex["flagged"].tolist(), case
        assert shapely.equals_exact(
            got_hex.geometry.to_numpy(), want_hex.geometry.to_numpy(), tolerance=1e-9
        ).all()
        # the points in the view: exactly the window's rows inside the extent, bounds included
        det = truth.layers["detections"]
        inside = det[ext.holds(det.geometry.x.to_numpy(), det.geometry.y.to_numpy())]
        view = map_points(filled, viewers, operation="sample", time_from=tf, time_to=tt, extent=ext)
        assert view.total == len(inside), case
        pd.testing.assert_frame_equal(
            _points(view.detections),
            _points(inside.sort_values(["time", "upload_id", "src_row"], kind="stable")),
            check_dtype=False,
        )
    # every row on an edge is in, every one a double outside is out
    edge = map_points(filled, ["LTU", "LVA", "POL"], operation="sample", extent=ext)
    ids = set(edge.detections["detection_id"])
    assert {f"S0-{i}" for i in (0, 2, 4, 6)} <= ids
    assert not {f"S0-{i}" for i in (1, 3, 5, 7)} & ids


def test_a_view_past_the_limit_gives_the_count_and_the_first_rows_in_time(
    filled: Path | str, scenario: Any
) -> None:
    viewers = ["LTU"]
    every = store.visible_detections(
        filled, viewers, operation="sample", time_from="2026-11-01T06:00:00Z"
    )
    ext = _extent(scenario)
    inside = every[ext.holds(every.geometry.x.to_numpy(), every.geometry.y.to_numpy())]
    assert len(inside) > 50
    view = map_points(
        filled,
        viewers,
        operation="sample",
        time_from="2026-11-01T06:00:00Z",
        extent=ext,
        limit=50,
    )
    assert view.total == len(inside)
    pd.testing.assert_frame_equal(
        _points(view.detections), _points(inside.head(50)), check_dtype=False
    )
    whole = map_points(filled, viewers, operation="sample", limit=10)
    assert whole.total == len(store.visible_detections(filled, viewers, operation="sample"))
    assert len(whole.detections) == 10
    other = map_points(filled, ["POL"], operation="other")
    assert other.total == UPLOADS[-1][3]  # marked ALL
    assert map_points(filled, ["POL"], operation="none-such").total == 0


def _index_cells(path: Path) -> tuple[int, Any]:
    conn = connect(path, busy_timeout_s=5)
    try:
        n = int(conn.execute("SELECT count(*) FROM detections").scalar())
        table = conn.fetch_arrow(
            {"cell": "integer", "geom": "blob"},
            f"FROM {CELLS} c JOIN detections d ON d.fid = c.fid",
        )
        return n, table
    finally:
        conn.close()


def _view_truth(path: Path, ext: Extent) -> int:
    every = store.visible_detections(path, ["LTU", "LVA", "POL"], operation="sample")
    return int(ext.holds(every.geometry.x.to_numpy(), every.geometry.y.to_numpy()).sum())


def test_the_cell_index_catches_up_with_uploads_and_retractions(
    tmp_path: Path, scenario: Any
) -> None:
    path = tmp_path / "s.gpkg"
    _ingest(path, scenario)
    ext = _extent(scenario)
    conn = connect(path, busy_timeout_s=5)
    try:
        assert has_spatial_index(conn)
        assert not is_current(conn)  # uploads do not index
    finally:
        conn.close()
    got = map_points(path, ["LTU", "LVA", "POL"], operation="sample", extent=ext)
    assert got.total == _view_truth(path, ext)
    n, table = _index_cells(path)
    # every row has its cell: the one its point (decoded here from the blob) lies in
    xy = shapely.get_coordinates(points(table["geom"]))
    cell = table["cell"].to_numpy()
    assert len(xy) == n
    size = 0.01  # the fine cell, counted here from its key
    west = (cell >> 20) * size - 180
    south = (cell & 0xFFFFF) * size - 90
    assert ((west - 1e-9 <= xy[:, 0]) & (xy[:, 0] < west + size + 1e-9)).all()
    assert ((south - 1e-9 <= xy[:, 1]) & (xy[:, 1] < south + size + 1e-9)).all()
    assert (fine_cells_of(xy[:, 0], xy[:, 1]) == cell).all()
    # a retraction, then new rows on the same days (fids taken again): still exact
    upload = int(store.uploads(path, "LVA")["upload_id"].iloc[0])
    store.retract_upload(path, upload, partner="LVA", user="tester", is_admin=False)
    assert map_points(path, ["LTU", "LVA", "POL"], operation="sample", extent=ext).total == (
        _view_truth(path, ext)
    )
    put(path, _rows(scenario, 500, 99), partner="LVA", releasable_to="ALL")
    got = map_points(path, ["LTU", "LVA", "POL"], operation="sample", extent=ext)
    assert got.total == _view_truth(path, ext)


def test_a_store_without_the_cell_index_is_read_as_it_is_and_upgraded_when_written(
    tmp_path: Path, scenario: Any
) -> None:
    path = tmp_path / "s.gpkg"
    _ingest(path, scenario)
    ext = _extent(scenario)
    want = map_points(path, ["LTU"], extent=ext)
    conn = connect(path, busy_timeout_s=5)
    try:  # as a store of schema 4 was
        conn.execute(f"DROP TABLE {CELLS}")
        conn.execute("DROP TABLE limes_cells_state")
        conn.execute(f"DROP TABLE {HOURS}")
        conn.execute(
            "UPDATE gpkg_contents SET description = "
            f"replace(description, 'store schema {SCHEMA_VERSION}', 'store schema 4')"
        )
    finally:
        conn.close()
    got = map_points(path, ["LTU"], extent=ext)
    assert got.total == want.total
    pd.testing.assert_frame_equal(_points(got.detections), _points(want.detections))
    conn = connect(path, busy_timeout_s=5)
    try:
        assert not has_spatial_index(conn)
    finally:
        conn.close()
    store.open_store(path).close()  # opened for writing: upgraded
    conn = connect(path, busy_timeout_s=5)
    try:
        assert has_spatial_index(conn)
    finally:
        conn.close()
    assert map_points(path, ["LTU"], extent=ext).total == want.total
    n, table = _index_cells(path)
    assert table.num_rows == n


def test_bad_extent_and_limit_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="south <= north"):
        map_points(tmp_path / "none.gpkg", "LTU", extent=(20, 56, 21, 55))
    with pytest.raises(ValueError, match="finite"):
        map_points(tmp_path / "none.gpkg", "LTU", extent=(20, float("nan"), 21, 55))
    with pytest.raises(ValueError, match="limit"):
        map_points(tmp_path / "none.gpkg", "LTU", limit=-1)


def test_an_extent_across_the_antimeridian() -> None:
    ext = Extent(170.0, -10.0, -170.0, 10.0)
    lon = np.array([175.0, -175.0, 0.0, 180.0, -180.0, 169.9])
    assert ext.holds(lon, np.zeros(6)).tolist() == [True, True, False, True, True, False]


def test_counts_over_terrain_equal_the_in_memory_path(tmp_path: Path, scenario: Any) -> None:
    """The Map page's default (line of sight over the sample's DEM): the same figures."""
    assert scenario.dem is not None
    path = tmp_path / "s.gpkg"
    _ingest(path, scenario)
    every = store.visible_detections(path, ["LTU", "LVA", "POL"], operation="sample")
    full = analyse(
        scenario.border,
        scenario.sensors,
        sectors=scenario.sectors,
        detections=every,
        corridor_km=CORRIDOR_KM,
        min_gap_m=MIN_GAP_M,
        dem=scenario.dem,
    )
    classifier = point_classifier(
        scenario.border,
        scenario.sensors,
        sectors=scenario.sectors,
        corridor_km=CORRIDOR_KM,
        min_gap_m=MIN_GAP_M,
        dem=scenario.dem,
    )
    tf, tt = WINDOWS[1]
    truth = full.windowed(tf, tt, visible=visible_rows(every, ["POL"]))
    counts = count_batches(
        window_batches(path, ["POL"], operation="sample", time_from=tf, time_to=tt),
        classifier,
        hex_size_m=MAP_HEXAGON_M,
    )
    got = counted_report(full.report, counts)
    assert got["detections"] == truth.report["detections"]
    assert truth.report["detections"]["in_coverage"] > 0
    assert truth.report["detections"]["in_gaps"] > 0
    assert got["partners"] == truth.report["partners"]
    assert [s["detections"] for s in got["sectors"]] == [
        s["detections"] for s in truth.report["sectors"]
    ]
    want_hex = detection_hexagons(truth)
    got_hex = hexagons(counts, classifier.acrs, MAP_HEXAGON_M)
    assert got_hex["flagged"].tolist() == want_hex["flagged"].tolist()
    assert got_hex["count"].tolist() == want_hex["count"].tolist()


def _sorted_xy(pages: list[Any]) -> list[tuple[float, float]]:
    """Every position of the pages, sorted (the reads may hand them in another order)."""
    lon = [float(v) for p in pages for v in p.lon]
    lat = [float(v) for p in pages for v in p.lat]
    return sorted(zip(lon, lat, strict=True))


def test_window_positions_are_those_of_the_window_batches_and_count_alike(
    filled: Path | str, scenario: Any
) -> None:
    """The map's read of positions alone (one streamed query) gives the pages' rows, no other."""
    _, full = _truth(filled, scenario)
    classifier = point_classifier(
        scenario.border,
        scenario.sensors,
        sectors=scenario.sectors,
        corridor_km=CORRIDOR_KM,
        min_gap_m=MIN_GAP_M,
    )
    for viewers, (tf, tt) in itertools.product(VIEWERS, WINDOWS):
        case = f"{viewers} {tf}"
        pages = list(window_batches(filled, viewers, operation="sample", time_from=tf, time_to=tt))
        got = list(window_positions(filled, viewers, operation="sample", time_from=tf, time_to=tt))
        want_xy = _sorted_xy(pages)
        assert _sorted_xy(got) == want_xy, case
        assert len(want_xy) > 0 or viewers == ("EST",), case
        # read ahead in another thread, as the Map page reads them: the same figures
        truth = full.windowed(tf, tt, visible=visible_rows(full.all_detections, viewers))
        counts = count_batches(prefetched(iter(got)), classifier, hex_size_m=MAP_HEXAGON_M)
        assert counted_report(full.report, counts)["detections"] == truth.report["detections"]
        want_hex = detection_hexagons(truth)
        got_hex = hexagons(counts, classifier.acrs, MAP_HEXAGON_M)
        assert got_hex["count"].tolist() == want_hex["count"].tolist(), case
        assert got_hex["flagged"].tolist() == want_hex["flagged"].tolist(), case


@pytest.mark.parametrize("window", WINDOWS)
def test_past_the_limit_the_first_rows_in_time_whatever_day_the_limit_ends_on(
    filled: Path | str, window: tuple[str | None, str | None]
) -> None:
    """The cut (the first ``limit`` rows in time) is exact on, before and past a day's end.

    The store sorts only the days holding the first ``limit`` rows in ``fid`` order; the
    truth is every visible row, sorted in memory.
    """
    tf, tt = window
    viewers = ["LTU", "POL"]
    every = store.visible_detections(
        filled, viewers, operation="sample", time_from=tf, time_to=tt
    ).sort_values(["time", "upload_id", "src_row"], kind="stable")
    days = every["time"].dt.floor("D")
    first_day = int((days == days.iloc[0]).sum())
    assert days.nunique() >= 2
    assert first_day > 2
    limits = sorted({1, first_day - 1, first_day, first_day + 1, len(every) - 1, len(every)})
    for limit in limits:
        for total in (None, len(every)):
            got = map_points(
                filled, viewers, operation="sample", time_from=tf, time_to=tt, limit=limit,
                total=total,
            )  # fmt: skip
            assert got.total == len(every), (limit, total)
            pd.testing.assert_frame_equal(
                _points(got.detections), _points(every.head(limit)), check_dtype=False
            )


def test_past_the_limit_only_the_days_of_the_first_rows_are_walked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first rows of a long window: SQLite walks the rows of their day, not the window's.

    SQLite bounds its walk along ``fid`` by the first upper bound the WHERE states; the
    day's cut has to be it, else every row of the window is read and tested (4 s against
    0.1 s on 10,000,000 rows). Measured in SQLite's virtual-machine steps (a progress
    handler), against a count of the window's rows; the points equal the sorted rows.
    """
    from pg_util import csv_report

    path = tmp_path / "days.gpkg"
    rng = np.random.default_rng(5)
    n = 20_000  # 20 days
    start = pd.Timestamp("2026-11-01", tz="UTC")
    columns = {
        "time": start + pd.to_timedelta(rng.integers(0, 20 * 86_400_000_000, n), unit="us"),
        "lon": rng.uniform(21.0, 28.0, n),
        "lat": rng.uniform(53.9, 56.4, n),
        "detection_id": pd.array([f"D{i}" for i in range(n)], dtype="str"),
    }
    store.ingest(path, columns, csv_report(n), file_name="d.csv", sha256="d" * 64, partner="LTU")
    sql: list[str] = []
    fetch = store.connection.Connection.fetch_arrow

    def recorded(self: Any, columns: Any, source: str, *args: Any, **kwargs: Any) -> Any:
        sql.append(source)
        return fetch(self, columns, source, *args, **kwargs)

    monkeypatch.setattr(store.connection.Connection, "fetch_arrow", recorded)
    tf, tt = "2026-10-01T00:00:00Z", "2026-12-31T00:00:00Z"
    got = map_points(path, "LTU", time_from=tf, time_to=tt, limit=100)
    (source,) = sql
    every = store.visible_detections(path, "LTU", time_from=tf, time_to=tt)
    every = every.sort_values(["time", "src_row"], kind="stable")
    pd.testing.assert_frame_equal(
        _points(got.detections), _points(every.head(100)), check_dtype=False
    )

    def steps(query: str) -> int:
        conn = sqlite3.connect(path)
        count = [0]

        def tick() -> int:
            count[0] += 1
            return 0

        conn.set_progress_handler(tick, 100)
        conn.execute(query).fetchall()
        conn.close()
        return count[0]

    keys = source.split("fid IN (SELECT fid FROM detections WHERE ", 1)[1].split(" ORDER BY")[0]
    window = keys.removeprefix(keys.split(" AND ", 1)[0] + " AND ")  # without the day's cut
    walked = steps(f"SELECT fid {source}")
    whole = steps(f"SELECT count(*) FROM detections WHERE {window}")
    assert walked < whole / 4, (walked, whole, keys)
