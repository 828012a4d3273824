"""The releasability rule is written once: its Python filter and its SQL agree.

:func:`geo.access.releasability.visible_mask` (the app's frames, :func:`may_see`) and
:func:`geo.access.releasability.sql_where` (every read of the store) are derived from one
description of the rule. Here both run on the same generated rows: owners, markings as
files and analysts write them (malformed ones, case variants, odd separators), and many
sets of viewers; the SQL runs in SQLite on the markings as the store writes them
(normalised when written).
"""

from __future__ import annotations

import sqlite3
import string
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo.access.releasability import (
    ALL,
    may_see,
    parse_releasability,
    sql_where,
    visible_mask,
)
from geo.core.errors import ValidationError
from geo.coverage.views import visible_rows
from geo.inputs.loader import LoadReport
from geo.store import ingest, visible_detections

#: Partner ids, with case variants (ids compare exactly: ``lva`` is another partner) and ids
#: inside others (``LV`` in ``LVA``).
PARTNERS = ["LTU", "LVA", "POL", "EU", "lva", "Ltu", "A.b-1", "x_9", "LV", "EUR"]

#: Markings that are not valid, or valid only after normalising.
ODD_MARKINGS = [
    None,
    np.nan,
    "",
    "  ",
    ALL,
    "all",
    " All ",
    "aLL",
    "ALL,LVA",
    "LVA,ALL",
    "LVA,*",
    "?",
    "L*A",
    "'LVA'",
    "rel to: lva",
    "LVA,,POL",
    ",LVA,",
    "LVA;POL",
    "POL/LVA",
    "EU LTU",
    "LVA\tPOL",
    "lva",
    "LVA, lva",
    "-LVA",
    ".EU",
    "LVA POL*",
    "A" * 65,
    "LVA," + "B" * 70,
    "ALL ALL",
    "LTU,LTU",
]

rng = np.random.default_rng(15)


def _marking() -> object:
    """A marking as a file or an analyst may write it."""
    kind = rng.integers(0, 4)
    if kind == 0:
        return ODD_MARKINGS[rng.integers(len(ODD_MARKINGS))]
    ids = list(rng.choice(PARTNERS, size=rng.integers(1, 4)))
    if kind == 2:  # a token that is no partner id
        ids.insert(int(rng.integers(len(ids) + 1)), rng.choice(["*", "l v", "ALL", "??", "é"]))
    separators = [",", ", ", ";", "/", " ", " ; ", ",,"]
    text = ids[0]
    for token in ids[1:]:
        text += separators[rng.integers(len(separators))] + token
    return text if rng.random() < 0.8 else f"  {text}  "


def _rows(n: int) -> pd.DataFrame:
    owners = [*PARTNERS, "", None]
    return pd.DataFrame(
        {
            "owner": [owners[i] for i in rng.integers(len(owners), size=n)],
            "releasable_to": [_marking() for _ in range(n)],
        }
    )


def _viewer_sets(k: int) -> list[list[str]]:
    sets = [[p] for p in PARTNERS] + [["XYZ"], PARTNERS]
    while len(sets) < k:
        sets.append(list(rng.choice(PARTNERS, size=rng.integers(1, 4), replace=False)))
    return sets


def _sql_rows(rows: pd.DataFrame, viewers: list[str], conn: sqlite3.Connection) -> set[int]:
    found = conn.execute(f"SELECT id FROM detections WHERE {sql_where(viewers)}").fetchall()
    return {r[0] for r in found}


def test_the_filter_in_python_and_the_sql_agree() -> None:
    rows = _rows(3000)
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(
            "CREATE TABLE detections (id INTEGER PRIMARY KEY, owner TEXT, "
            "releasable_to TEXT NOT NULL)"
        )
        conn.executemany(
            "INSERT INTO detections VALUES (?, ?, ?)",
            [
                (i, owner, parse_releasability(marking))  # as the store writes it
                for i, (owner, marking) in enumerate(
                    zip(rows["owner"], rows["releasable_to"], strict=True)
                )
            ],
        )
        seen_any = 0
        for viewers in _viewer_sets(200):
            mask = visible_mask(rows["owner"], rows["releasable_to"], viewers)
            assert set(np.flatnonzero(mask).tolist()) == _sql_rows(rows, viewers, conn), viewers
            seen_any += int(mask.any() and not mask.all())
        assert seen_any > 150  # the viewer sets see some rows and not others
    finally:
        conn.close()


def test_one_row_at_a_time_is_the_same_rule() -> None:
    rows = _rows(400)
    for viewer in [*PARTNERS, "XYZ", "ALL", "", "l v"]:
        mask = visible_mask(rows["owner"], rows["releasable_to"], [viewer])
        one_by_one = [
            may_see(viewer, o, m) for o, m in zip(rows["owner"], rows["releasable_to"], strict=True)
        ]
        if viewer in ("ALL", "", "l v"):  # not a partner id: sees nothing
            assert not any(one_by_one)
        else:
            assert one_by_one == mask.tolist()


def test_the_apps_frames_use_the_same_rule() -> None:
    rows = _rows(500)
    for viewers in _viewer_sets(30):
        expected = visible_mask(rows["owner"], rows["releasable_to"], viewers)
        assert visible_rows(rows, set(viewers)).tolist() == expected.tolist()
        # without an owner column, the partner column owns the row
        by_partner = rows.rename(columns={"owner": "partner"})
        assert visible_rows(by_partner, set(viewers)).tolist() == expected.tolist()


def test_the_store_shows_what_the_rule_shows(tmp_path: Path) -> None:
    # End to end: the markings go through the store's write path (normalised there), and
    # its reads use the rule's SQL.
    db = tmp_path / "limes.gpkg"
    rows = _rows(600)
    owned = rows[rows["owner"].isin(["LTU", "lva", "A.b-1"])].reset_index(drop=True)
    for owner, part in owned.groupby("owner"):
        n = len(part)
        columns = {
            "time": pd.date_range("2026-11-01", periods=n, freq="min", tz="UTC"),
            "lon": np.full(n, 25.0),
            "lat": np.linspace(54.0, 55.0, n),
            "detection_id": [f"{owner}-{i}" for i in part.index],
            "releasable_to": part["releasable_to"].to_numpy(dtype=object),
        }
        report = LoadReport(
            source="t.csv",
            layer="detections",
            format="CSV",
            source_crs="EPSG:4326",
            rows_read=n,
            rows_accepted=n,
        )
        ingest(
            db,
            columns,
            report,
            file_name="t.csv",
            sha256=f"{hash(owner) & 0xFFFF:064x}",
            partner=str(owner),
        )
    ids = np.array([f"{o}-{i}" for o, i in zip(owned["owner"], owned.index, strict=True)])
    for viewers in _viewer_sets(40):
        expected = set(ids[visible_mask(owned["owner"], owned["releasable_to"], viewers)])
        assert set(visible_detections(db, viewers)["detection_id"]) == expected, viewers


@pytest.mark.parametrize("viewer", ["LVA') OR 1=1 --", "ALL", "", "l v", "é"])
def test_the_sql_refuses_what_is_not_a_partner_id(viewer: str) -> None:
    with pytest.raises(ValidationError, match="not a partner id"):
        sql_where([viewer])


def test_no_viewer_sees_nothing_in_sql() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE TABLE detections (owner TEXT, releasable_to TEXT)")
        conn.execute("INSERT INTO detections VALUES ('LTU', 'ALL')")
        assert (
            conn.execute(f"SELECT count(*) FROM detections WHERE {sql_where([])}").fetchone()[0]
            == 0
        )
    finally:
        conn.close()


def test_no_viewer_sees_nothing_in_python_either() -> None:
    owners, markings = ["LTU", "LTU", None], ["ALL", "", "ALL"]
    assert not visible_mask(owners, markings, []).any()


def test_generated_markings_cover_every_kind() -> None:
    # The generator is the test's reach: it must make markings of every outcome.
    markings = [_marking() for _ in range(2000)]
    normalised = {parse_releasability(m) for m in markings}
    assert ALL in normalised
    assert "" in normalised
    assert any("," in m for m in normalised)
    assert any(isinstance(m, str) and m != m.strip() for m in markings)
    assert any(isinstance(m, str) and set(m) & set(string.ascii_lowercase) for m in markings)
