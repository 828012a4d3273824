"""Releasability enforced by PostgreSQL: row-level security made from the one rule.

The policy (:func:`geo.access.releasability.postgres_policy`) is checked against the rule's
Python form on generated rows and viewer sets (as tests/test_releasability.py checks the
SQLite SQL), then end to end on a PostGIS store: each releasability case through Limes and
through raw SQL as the app's role, a raw SELECT that states no viewer sees no row, and the
role cannot write rows of a partner it did not state.
"""

from __future__ import annotations

import adbc_driver_postgresql.dbapi as pg
import numpy as np
import pandas as pd
import pg_util
import pytest
from pg_util import csv_report

from geo import store
from geo.access.releasability import (
    ALL,
    is_partner,
    may_see,
    parse_releasability,
    postgres_owns,
    postgres_policy,
    postgres_where,
    visible_mask,
)
from geo.core.errors import ValidationError
from geo.store.map_query import HOUR_US

#: Partner ids with case variants and ids inside others (as in test_releasability).
PARTNERS = ["LTU", "LVA", "POL", "EU", "lva", "Ltu", "A.b-1", "x_9", "LV", "EUR"]

#: Markings as files and analysts write them, valid and not.
MARKINGS = [
    None, "", "ALL", "all", " All ", "ALL,LVA", "LVA", "lva", "LVA,POL", "POL;LVA", "EU LTU",
    "LVA,*", "?", "'LVA'", ",LVA,", "LV", "EUR,EU", "A.b-1/x_9", "A" * 65, "LTU,LTU",
]  # fmt: skip

#: Viewer settings as raw SQL may state them: valid ids, and text that names no partner.
RAW_SETTINGS = ["ALL", "all", "", ",", "LTU, LVA", " LTU", "LVA') OR true --", "*", "é", "A" * 65]

rng = np.random.default_rng(19)


def _rows(n: int) -> pd.DataFrame:
    owners = [*PARTNERS, ""]
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "owner": [owners[i] for i in rng.integers(len(owners), size=n)],
            "releasable_to": [
                parse_releasability(MARKINGS[i])  # as the store writes them
                for i in rng.integers(len(MARKINGS), size=n)
            ],
        }
    )


def _viewer_sets(k: int) -> list[list[str]]:
    sets: list[list[str]] = [[p] for p in PARTNERS] + [["XYZ"], PARTNERS, []]
    sets += [[s] for s in RAW_SETTINGS] + [["LTU", s] for s in RAW_SETTINGS]
    while len(sets) < k:
        sets.append(list(rng.choice(PARTNERS, size=rng.integers(1, 4), replace=False)))
    return sets


def _seen_by_sql(cur: pg.Cursor, setting: str | None, table: str = "rule_rows") -> set:
    if setting is not None:
        cur.execute("SELECT set_config('limes.viewers', $1, true)", (setting,))
        cur.fetchall()
    cur.execute(f"SELECT id FROM {table}")
    return {r[0] for r in cur.fetchall()}


def test_the_policy_is_the_rule(pg_store: str) -> None:
    rows = _rows(2000)
    with pg.connect(pg_store) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE rule_rows (id bigint, owner text, releasable_to text NOT NULL)")
        cur.adbc_ingest("rule_rows", rows, mode="append")
        cur.execute("ALTER TABLE rule_rows ENABLE ROW LEVEL SECURITY")
        cur.execute("ALTER TABLE rule_rows FORCE ROW LEVEL SECURITY")
        cur.execute(f"CREATE POLICY r ON rule_rows FOR SELECT USING {postgres_policy()}")
        conn.commit()
        some = 0
        for viewers in _viewer_sets(120):
            # The setting holds ids joined by commas; only partner ids among them count.
            valid = [v for v in ",".join(viewers).split(",") if is_partner(v)]
            # No viewer sees nothing (as sql_where and may_see; visible_mask is not asked).
            mask = visible_mask(rows["owner"], rows["releasable_to"], valid) if valid else []
            expected = set(rows["id"][mask]) if valid else set()
            assert _seen_by_sql(cur, ",".join(viewers)) == expected, viewers
            conn.rollback()  # SET LOCAL ends with the transaction
            some += 0 < len(expected) < len(rows)
        assert some > 50  # the sets tell rows apart
        # One row at a time, against may_see itself.
        for i in rng.choice(len(rows), size=150, replace=False).tolist():
            owner, marking = rows.at[i, "owner"], rows.at[i, "releasable_to"]
            for viewer in ["LTU", "LVA", "EU", "lva", ALL, "x_9"]:
                seen = i in _seen_by_sql(cur, viewer)
                conn.rollback()
                assert seen == may_see(viewer, owner, marking), (viewer, owner, marking)
        assert _seen_by_sql(cur, None) == set()  # no viewer stated: nothing


def test_the_query_condition_is_the_rule(pg_store: str) -> None:
    """:func:`postgres_where` (a query's WHERE, no row-level security) agrees with the rule."""
    rows = _rows(2000)
    with pg.connect(pg_store) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE open_rows (id bigint, owner text, releasable_to text NOT NULL)")
        cur.adbc_ingest("open_rows", rows, mode="append")
        conn.commit()
        some = 0
        for viewers in _viewer_sets(120):
            valid = [v for v in ",".join(viewers).split(",") if is_partner(v)]
            mask = visible_mask(rows["owner"], rows["releasable_to"], valid)
            cur.execute(f"SELECT id FROM open_rows WHERE {postgres_where(valid)}")
            assert {r[0] for r in cur.fetchall()} == set(rows["id"][mask]), viewers
            some += 0 < int(mask.sum()) < len(rows)
        assert some > 50  # the sets tell rows apart


#: The cases of the rule: (owner, the analyst's marking, the rows' own markings).
CASES = [
    ("LTU", None, None),  # owner only
    ("LTU", "ALL", None),
    ("LTU", "LVA", None),
    ("LTU", "LVA,POL", None),
    ("LVA", None, ["POL", "ALL", "", "lva?", "LTU;EU"]),  # file markings, one unknown
    ("POL", "EU", ["LTU", None, None, None, None]),
]


def _store_cases(url: str) -> pd.DataFrame:
    """Ingest every case through Limes; the stored rows as the rule sees them."""
    expected = []
    for k, (owner, marking, own) in enumerate(CASES):
        n = 5
        columns: dict[str, object] = {
            "time": pd.date_range("2026-11-01", periods=n, freq="h", tz="UTC"),
            "lon": np.full(n, 24.0 + k),
            "lat": np.linspace(54.0, 55.0, n),
            "detection_id": [f"c{k}-{i}" for i in range(n)],
        }
        if own is not None:
            columns["releasable_to"] = np.array(own, dtype=object)
        store.ingest(
            url,
            columns,
            csv_report(n),
            file_name=f"case{k}.csv",
            sha256=f"{k:064x}",
            partner=owner,
            releasable_to=marking,
        )
        for i in range(n):
            row_marking = own[i] if own is not None and own[i] else marking
            expected.append((f"c{k}-{i}", owner, row_marking))
    return pd.DataFrame(expected, columns=["detection_id", "owner", "marking"])


def test_each_case_through_limes_and_through_raw_sql(pg_store: str) -> None:
    cases = _store_cases(pg_store)
    with pg.connect(pg_store) as conn, conn.cursor() as cur:
        for viewer in ["LTU", "LVA", "POL", "EU", "lva", "XYZ"]:
            expected = {
                d
                for d, o, m in cases.itertuples(index=False)
                if may_see(viewer, o, m)  # the rule on the raw markings
            }
            through_limes = set(store.visible_detections(pg_store, [viewer])["detection_id"])
            cur.execute("SELECT set_config('limes.viewers', $1, true)", (viewer,))
            cur.fetchall()
            cur.execute("SELECT detection_id FROM detections")
            through_sql = {r[0] for r in cur.fetchall()}
            conn.rollback()
            assert through_limes == expected, viewer
            assert through_sql == expected, viewer
        # Joint views are unions.
        joint = set(store.visible_detections(pg_store, ["LVA", "POL"])["detection_id"])
        assert joint == {
            d
            for d, o, m in cases.itertuples(index=False)
            if may_see("LVA", o, m) or may_see("POL", o, m)
        }


def test_a_raw_select_that_states_no_viewer_sees_nothing(pg_store: str) -> None:
    _store_cases(pg_store)
    with pg.connect(pg_store, autocommit=True) as conn, conn.cursor() as cur:
        for table in ("detections", "uploads"):
            cur.execute(f"SELECT count(*) FROM {table}")
            assert cur.fetchone() == (0,), table
        cur.execute("SET limes.viewers = ''")  # stated, but empty
        cur.execute("SELECT count(*) FROM detections")
        assert cur.fetchone() == (0,)
        cur.execute("SET limes.viewers = 'LTU'")
        cur.execute("SELECT count(*) FROM uploads")
        assert cur.fetchone()[0] > 0
        # The table's policies, as PostgreSQL keeps them: forced, and only Limes's.
        cur.execute(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relname IN ('detections', 'uploads') ORDER BY relname"
        )
        assert cur.fetchall() == [("detections", True, True), ("uploads", True, True)]


def test_the_role_writes_only_rows_of_the_partner_it_states(pg_store: str) -> None:
    _store_cases(pg_store)

    def as_lva(cur: pg.Cursor, sql: str) -> list:
        cur.execute("SELECT set_config('limes.viewers', 'LVA', true)")
        cur.fetchall()
        cur.execute(sql)
        return cur.fetchall()

    with pg.connect(pg_store) as conn, conn.cursor() as cur:
        # Rows of another partner are not there to change or delete.
        assert (
            as_lva(cur, "UPDATE detections SET releasable_to = 'ALL' RETURNING owner")
            == [("LVA",)] * 5
        )
        conn.rollback()
        assert as_lva(cur, "DELETE FROM detections WHERE owner = 'LTU' RETURNING 1") == []
        conn.rollback()
        # Nor can it give its rows, or write new ones, to another partner.
        for sql in (
            "UPDATE uploads SET partner = 'LTU' RETURNING 1",
            "INSERT INTO uploads (partner, file_name, sha256, rows_read, accepted, rejected, "
            "duplicates, releasable_to, file_markings) VALUES ('LTU', 'f', 'x', 0, 0, 0, 0, "
            "'ALL', 0) RETURNING 1",
        ):
            with pytest.raises(pg.Error, match="violates row-level security policy"):
                as_lva(cur, sql)
            conn.rollback()
    assert postgres_owns().startswith("(owner = ANY")


def test_the_app_role_must_not_bypass_rls(pg_cluster: pg_util.Cluster, pg_store: str) -> None:
    database = pg_store.rsplit("/", 1)[1]
    with pytest.raises(ValidationError, match=r"bypasses row-level security.*superuser"):
        store.visible_detections(pg_cluster.url(database, "postgres"), ["LTU"])


def test_the_python_filter_is_a_second_line(pg_cluster: pg_util.Cluster, pg_store: str) -> None:
    """Were the policy opened (here by the superuser), Limes still shows only what the rule does."""
    cases = _store_cases(pg_store)
    database = pg_store.rsplit("/", 1)[1]
    pg_cluster.psql("ALTER POLICY limes_read ON detections USING (true)", database=database)
    with pg.connect(pg_store) as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('limes.viewers', 'XYZ', true)")
        cur.fetchall()
        cur.execute("SELECT count(*) FROM detections")
        assert cur.fetchone() == (len(cases),)  # the database no longer filters
    for viewer in ["POL", "XYZ"]:
        expected = {d for d, o, m in cases.itertuples(index=False) if may_see(viewer, o, m)}
        assert set(store.visible_detections(pg_store, viewer)["detection_id"]) == expected


def test_the_time_counts_state_the_rule_in_sql_too(
    pg_cluster: pg_util.Cluster, pg_store: str
) -> None:
    """With row-level security switched off, the map's counts are still each viewer's.

    The time summary and the count of :func:`geo.store.map_points` return no rows to filter
    in Python: their WHERE states the rule (:func:`postgres_where`). The truth: the rule in
    Python (:func:`may_see`) on each stored case, and the in-memory summary of those times.
    """
    cases = _store_cases(pg_store)
    database = pg_store.rsplit("/", 1)[1]
    pg_cluster.psql("ALTER TABLE detections DISABLE ROW LEVEL SECURITY", database=database)
    with pg.connect(pg_store) as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('limes.viewers', 'XYZ', true)")
        cur.fetchall()
        cur.execute("SELECT count(*) FROM detections")
        assert cur.fetchone() == (len(cases),)  # the database no longer filters
    every = pd.DataFrame(
        {"detection_id": [f"c{k}-{i}" for k in range(len(CASES)) for i in range(5)]}
    ).assign(time_us=lambda d: [
        pd.Timestamp("2026-11-01", tz="UTC").value // 1000 + int(i.split("-")[1]) * HOUR_US
        for i in d["detection_id"]
    ])  # fmt: skip
    for viewers in (["POL"], ["XYZ"], ["LVA", "EU"], ["LTU"]):
        seen = {
            d for d, o, m in cases.itertuples(index=False) if any(may_see(v, o, m) for v in viewers)
        }
        want = every[every["detection_id"].isin(seen)]["time_us"].to_numpy(dtype=np.int64)
        got = store.time_summary(pg_store, viewers)
        truth = store.time_summary("no-such-store.gpkg", viewers, extra_us=want)
        assert got.total == len(seen) < len(cases), viewers
        assert (got.first_us, got.last_us, got.bulk) == (truth.first_us, truth.last_us, truth.bulk)
        for field in ("hours", "counts", "on_hour"):
            np.testing.assert_array_equal(getattr(got, field), getattr(truth, field))
        assert store.map_points(pg_store, viewers, limit=0).total == len(seen), viewers
    assert postgres_where(["LTU"]).startswith("(owner = ANY (ARRAY['LTU']::text[])")
