"""PostGIS extent queries through the ``fine_cell`` B-tree (geo.store.postgres.extent).

Under forced row-level security PostGIS's ``&&`` (not leakproof) cannot use the GiST index;
the extent's rows are found through key ranges of the stored fine cell instead. The outside
truth: every row the viewers may see (``store.visible_detections``) tested in numpy against
the extent (bounds included, across the antimeridian as :class:`geo.store.Extent` reads it),
and the fine cell of each point as numpy computes it (:func:`geo.core.cells.fine_cells_of`).
The plan is read with ``EXPLAIN`` as the app's role, stating the viewers.
"""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

import adbc_driver_postgresql.dbapi as pg
import geopandas as gpd
import numpy as np
import pandas as pd
import pg_util
import pytest
from test_store import put

from geo import store
from geo.core.cells import fine_cells_of
from geo.store import Extent
from geo.store.postgres import extent as pg_extent
from geo.store.postgres import map_query as pg_map
from geo.store.postgres.connection import PgConnection

T0 = pd.Timestamp("2026-11-01T00:00:00Z")

#: Fine cell edges and box edges, and the doubles either side of the box's.
_LON = [
    23.99,
    np.nextafter(24.0, 0),
    24.0,
    24.01,
    24.05,
    24.25,
    24.49,
    24.5,
    np.nextafter(24.5, 99),
]
_LAT = [54.99, np.nextafter(55.0, 0), 55.0, 55.01, 55.05, 55.15, 55.3, np.nextafter(55.3, 99)]

#: Positions on and beside the antimeridian, and at the poles.
_EDGE_180 = [179.98, np.nextafter(179.99, 0), 179.99, 180.0, -180.0, -179.99, -179.98]

BOXES = [
    (24.0, 55.0, 24.5, 55.3),  # on fine cell edges, rows on its edges
    (24.003, 55.004, 24.007, 55.006),  # inside one fine cell
    (24.0031, 55.0042, 24.0032, 55.0043),  # tiny, rows on its corners
    (23.99, 54.99, 24.01, 55.01),  # around a cell corner
    (179.99, 10.0, -179.99, 11.0),  # across the antimeridian
    (179.98, 10.0, 180.0, 11.0),  # up to 180
    (-180.0, 10.0, -179.98, 10.5),  # from -180
    (-0.01, -90.0, 0.01, -89.99),  # at the south pole
    (-0.01, 89.99, 0.01, 90.0),  # at the north pole
    (21.0, 53.5, 27.0, 53.6),  # wide and short: columns joined
    (20.0, 52.0, 29.0, 58.0),  # every row of the region
    (-180.0, -90.0, 180.0, 90.0),  # the world
]

#: The boxes whose rows the ranges find (once the table is analysed), not the whole region.
SMALL = BOXES[:9]

VIEWERS = [("LTU",), ("LVA", "POL"), ("EST",)]
WINDOWS = [(None, None), ("2026-11-03T00:00:00Z", "2026-11-03T23:59:59.999999Z")]


def _frame(lon: Any, lat: Any, seed: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    n = lon.size
    us = rng.integers(0, 6 * 86_400_000_000, n)
    return gpd.GeoDataFrame(
        {
            "time": T0 + pd.to_timedelta(us, unit="us"),
            "detection_id": pd.Series([f"X{seed}-{i}" for i in range(n)], dtype="str"),
            "source": pd.Series(["radar"] * n, dtype="str"),
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )


def _edge_rows() -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(_LON, _LAT)
    tiny = np.array([[24.0031, 55.0042], [24.0032, 55.0043], [24.00315, 55.00425],
                     [24.0033, 55.0043], [24.005, 55.005]])  # fmt: skip
    near, lats = np.meshgrid(_EDGE_180, [10.0, 10.5, 11.0])
    poles = np.array([[0.0, -90.0], [0.005, -90.0], [0.0, 90.0], [-0.01, 89.99]])
    x = np.concatenate([lon.ravel(), tiny[:, 0], near.ravel(), poles[:, 0]])
    y = np.concatenate([lat.ravel(), tiny[:, 1], lats.ravel(), poles[:, 1]])
    return x, y


@pytest.fixture(scope="module")
def pg_filled(pg_cluster: pg_util.Cluster) -> str:
    """40,000 rows over 8° x 4° and rows on every edge, of three owners and markings."""
    url = pg_cluster.create_database("limes_extent")
    rng = np.random.default_rng(5)
    x, y = _edge_rows()
    for seed, (owner, marking) in enumerate([("LTU", "ALL"), ("LVA", ""), ("POL", "LVA")]):
        lon = np.concatenate([rng.uniform(20.0, 28.0, 13_000), x])
        lat = np.concatenate([rng.uniform(53.0, 57.0, 13_000), y])
        put(url, _frame(lon, lat, seed), partner=owner, releasable_to=marking or None)
    return url


_ROWS: dict[Any, gpd.GeoDataFrame] = {}


def _truth(url: str, viewers: Any, box: Any, window: Any) -> list[str]:
    """The ids of the rows ``viewers`` may see in the window and the box, by numpy."""
    if (url, viewers, window) not in _ROWS:
        _ROWS[url, viewers, window] = store.visible_detections(
            url, list(viewers), time_from=window[0], time_to=window[1]
        )
    rows = _ROWS[url, viewers, window]
    inside = Extent(*box).holds(rows.geometry.x.to_numpy(), rows.geometry.y.to_numpy())
    return sorted(rows["detection_id"][inside])


def _analyse(url: str) -> None:
    with pg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("ANALYZE detections")


def _check(url: str, boxes: Any) -> None:
    for viewers in VIEWERS:
        for window in WINDOWS:
            for box in boxes:
                want = _truth(url, viewers, box, window)
                got = store.map_points(
                    url, list(viewers), time_from=window[0], time_to=window[1],
                    extent=box, limit=10**6,
                )  # fmt: skip
                assert got.total == len(want), (viewers, window, box)
                assert sorted(got.detections["detection_id"]) == want, (viewers, window, box)
                pages = store.window_batches(
                    url, list(viewers), time_from=window[0], time_to=window[1], extent=box,
                    batch_rows=5000,
                )  # fmt: skip
                assert sum(len(p.fid) for p in pages) == len(want), (viewers, window, box)


def test_the_rows_of_every_extent_are_those_numpy_finds(
    pg_filled: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[bool] = []
    find = pg_map.with_candidates

    def spy(*args: Any) -> str:
        sql = find(*args)
        used.append("fine_cell BETWEEN" in sql)
        return sql

    monkeypatch.setattr(pg_map, "with_candidates", spy)
    _check(pg_filled, BOXES)  # before ANALYZE: the planner's guesses
    _analyse(pg_filled)
    used.clear()
    _check(pg_filled, SMALL)
    assert used
    assert all(used)  # every small box read through the ranges
    used.clear()
    _check(pg_filled, BOXES[-2:])
    assert used
    assert not any(used)  # most of the rows: read without them


def test_a_pick_box_across_the_antimeridian_through_the_ranges(pg_filled: str) -> None:
    _analyse(pg_filled)
    box = (179.985, 9.0, -179.985, 12.0)
    got = store.map_points(pg_filled, ["LTU"], extent=box, limit=10**6)
    assert sorted(got.detections["detection_id"]) == _truth(pg_filled, ("LTU",), box, (None, None))
    lon = got.detections.geometry.x
    assert (lon > 179.985).sum() == 3 * 3  # 179.99 and the double before it, 180; 3 latitudes
    assert (lon < -179.985).sum() == 2 * 3  # -180 and -179.99


def _count_sql(url: str, viewers: list[str], box: Any, window: Any) -> tuple[str, list[Any]]:
    """The count :func:`geo.store.map_points` runs, and its values."""
    seen: list[tuple[str, list[Any]]] = []
    execute = PgConnection.execute

    def spy(self: PgConnection, sql: str, params: Any = None) -> PgConnection:
        seen.append((sql, list(params or [])))
        return execute(self, sql, params)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(PgConnection, "execute", spy)
        store.map_points(url, viewers, time_from=window[0], time_to=window[1], extent=box)
    return next(s for s in seen if s[0].startswith("SELECT count(*) FROM detections"))


def _index_names(plan: Any) -> set[str]:
    if isinstance(plan, list):
        return set().union(set(), *map(_index_names, plan))
    if not isinstance(plan, dict):
        return set()
    own = {plan["Index Name"]} if "Index Name" in plan else set()
    return own.union(*map(_index_names, plan.values()))


@pytest.mark.parametrize("window", WINDOWS)
def test_the_count_of_an_extent_uses_the_fine_cell_index_under_forced_rls(
    pg_filled: str, window: Any
) -> None:
    _analyse(pg_filled)
    sql, params = _count_sql(pg_filled, ["LVA"], BOXES[0], window)
    with pg.connect(pg_filled) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cur.fetchall() == [(False, False)]
        cur.execute(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = 'detections'"
        )
        assert cur.fetchall() == [(True, True)]
        cur.execute("SELECT set_config('limes.viewers', 'LVA', true)")
        cur.fetchall()
        cur.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cur.fetchall()[0][0]
        conn.rollback()
    names = _index_names(json.loads(plan) if isinstance(plan, str) else plan)
    assert pg_extent.FINE_CELL_INDEX in names, names


def _in_ranges(keys: np.ndarray, ranges: list[tuple[int, int]]) -> np.ndarray:
    lo = np.array([a for a, _ in ranges], dtype=np.int64)
    hi = np.array([b for _, b in ranges], dtype=np.int64)
    i = np.searchsorted(lo, keys, side="right") - 1
    return (i >= 0) & (keys <= hi[np.clip(i, 0, None)])


@pytest.mark.parametrize("most", [1, 3, 256])
def test_the_ranges_hold_the_cell_of_every_point_of_the_boxes(most: int) -> None:
    rng = np.random.default_rng(11)
    for _ in range(200):
        w, e = np.sort(rng.uniform(-180, 180, 2))
        s, n = np.sort(rng.uniform(-90, 90, 2))
        if rng.random() < 0.5:  # small boxes, often on cell edges
            w, s = np.round(w, 2), np.round(s, 2)
            e, n = min(w + rng.choice([0.0, 0.01, 0.03, 0.5]), 180.0), min(s + 0.02, 90.0)
        box = (float(w), float(s), float(e), float(n))
        ranges = pg_extent.fine_ranges([box], max_ranges=most)
        assert ranges is not None
        assert len(ranges) <= most + 1
        assert all(a <= b for a, b in ranges)
        assert all(b < c for (_, b), (c, _) in pairwise(ranges))
        # corners, edges and points inside, each coordinate also one double in from the edge
        xs = np.concatenate([[w, e, np.nextafter(w, e), np.nextafter(e, w)], rng.uniform(w, e, 50)])
        ys = np.concatenate([[s, n, np.nextafter(s, n), np.nextafter(n, s)], rng.uniform(s, n, 50)])
        lon, lat = (a.ravel() for a in np.meshgrid(xs, ys))
        assert _in_ranges(fine_cells_of(lon, lat), ranges).all(), box


def test_the_ranges_of_the_world_are_bounded_and_a_box_off_the_grid_has_none() -> None:
    world = pg_extent.fine_ranges([(-180.0, -90.0, 180.0, 90.0)])
    assert world is not None
    assert len(world) <= pg_extent.MAX_RANGES
    assert pg_extent.fine_ranges([(-200.0, 0.0, -170.0, 1.0)]) is None
    assert pg_extent.fine_ranges([(0.0, -91.0, 1.0, 1.0)]) is None
    with pytest.raises(ValueError, match="max_ranges must be >= 1"):
        pg_extent.fine_ranges([(0.0, 0.0, 1.0, 1.0)], max_ranges=0)
