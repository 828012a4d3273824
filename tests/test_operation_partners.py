"""Changing an operation's partners (display names, colours) in the store.

geo.operations.update_partners checks what an administrator typed and writes it through
geo.store.set_operation_partners; read back with load_operation and the store's own record.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from geo import store
from geo.core.errors import ValidationError
from geo.core.settings import SAMPLE_DIR
from geo.operations import Operation, Partner, create_operation, load_operation, update_partners

PARTNERS = (
    Partner("LTU", "Lithuania", (85, 135, 255)),
    Partner("POL", "Poland"),
    Partner("LVA", "Latvia"),
    Partner("EU", "Frontex"),
)


@pytest.fixture
def made(tmp_path: Path) -> Path:
    path = tmp_path / "s.gpkg"
    create_operation(
        path,
        Operation("baltic", partners=PARTNERS),
        border=SAMPLE_DIR / "border.geojson",
        sensors=SAMPLE_DIR / "sensors.csv",
    )
    return path


def _raw_partners(path: Path) -> list[dict]:
    with sqlite3.connect(path) as conn:
        (text,) = conn.execute("SELECT partners FROM operations WHERE name = 'baltic'").fetchone()
    return json.loads(text)


def test_names_and_colours_change_and_nothing_else(made: Path) -> None:
    before = load_operation(made, "baltic")
    versions = store.layer_versions(made, "baltic", "sensors")
    new = [
        Partner("EU", "  Frontex (EU)  ", None),
        Partner("LTU", "Lithuania", (255, 115, 0)),
        Partner("POL", "Poland", None),
        Partner("LVA", "Latvia", (65, 180, 65)),
    ]
    out = update_partners(made, "baltic", new, user="root")
    assert out["changed"] == [
        {"id": "LTU", "name": ["Lithuania", "Lithuania"], "colour": ["#5587ff", "#ff7300"]},
        {"id": "LVA", "name": ["Latvia", "Latvia"], "colour": [None, "#41b441"]},
        {"id": "EU", "name": ["Frontex", "Frontex (EU)"], "colour": [None, None]},
    ]
    # The store's own record, in the operation's order, the name stripped.
    assert _raw_partners(made) == [
        {"id": "LTU", "name": "Lithuania", "colour": "#ff7300"},
        {"id": "POL", "name": "Poland", "colour": None},
        {"id": "LVA", "name": "Latvia", "colour": "#41b441"},
        {"id": "EU", "name": "Frontex (EU)", "colour": None},
    ]
    after = load_operation(made, "baltic")
    assert after.operation.partners[0] == Partner("LTU", "Lithuania", (255, 115, 0))
    # Layers untouched: same sensors, no new version.
    assert after.sensors_version == before.sensors_version
    assert after.sensors.equals(before.sensors)
    assert store.layer_versions(made, "baltic", "sensors").equals(versions)


def test_no_change_writes_nothing(made: Path) -> None:
    mtime = made.stat().st_mtime_ns
    out = update_partners(made, "baltic", list(PARTNERS), user="root")
    assert out["changed"] == []
    assert made.stat().st_mtime_ns == mtime


@pytest.mark.parametrize(
    ("partners", "match"),
    [
        ([*PARTNERS[:3]], r"partners missing.*none for EU"),
        (
            [*PARTNERS, Partner("FIN", "Finland")],
            r"partner FIN, field 'id': not a partner of the operation",
        ),
        ([*PARTNERS, PARTNERS[0]], r"partner LTU, field 'id': listed twice"),
        ([Partner("LTU", "   "), *PARTNERS[1:]], r"partner LTU.*not a display name"),
        ([Partner("LTU", "x" * 81), *PARTNERS[1:]], r"not a display name.*1–80"),
        ([Partner("LTU", "Lith\nuania"), *PARTNERS[1:]], r"not a display name"),
        ([Partner("LTU", "L", (300, 0, 0)), *PARTNERS[1:]], r"field 'colour'.*not a colour"),
    ],
)
def test_bad_partners_are_refused_and_nothing_is_stored(made: Path, partners, match) -> None:
    before = _raw_partners(made)
    with pytest.raises(ValidationError, match=match):
        update_partners(made, "baltic", partners, user="root")
    assert _raw_partners(made) == before


def test_unknown_operation_or_store(made: Path, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"no such operation.*got 'nope'"):
        update_partners(made, "nope", list(PARTNERS))
    missing = tmp_path / "none.gpkg"
    with pytest.raises(ValidationError, match="no such operation"):
        store.set_operation_partners(missing, "baltic", [])
    assert not missing.exists()  # no store created on the way
