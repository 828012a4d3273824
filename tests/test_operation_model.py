"""What describes an operation: names, partners files, time zones, periods."""

from __future__ import annotations

import pytest

from geo.core.errors import ValidationError
from geo.operations.model import Operation, Partner, check_name, read_partners


def test_partners_file_with_colours_and_bom(tmp_path):
    p = tmp_path / "partners.csv"
    p.write_bytes("\ufeffid,name,colour\nLTU,Lithuania,#5587FF\nPOL,Poland,\n".encode())
    assert read_partners(p) == [
        Partner("LTU", "Lithuania", (85, 135, 255)),
        Partner("POL", "Poland"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,name\nLTU,A\nLTU,B\n", "partners.csv row 2, field 'id': partner listed twice"),
        ("id,name\nALL,Everyone\n", "partners.csv row 1, field 'id': not a partner id"),
        (
            "id,name,colour\nLTU,A,blue\n",
            "partners.csv row 1, field 'colour': not a colour: expected #RRGGBB",
        ),
        ("name\nLithuania\n", "partners.csv: no 'id' column"),
        ("id,name\n", "partners.csv: no partners"),
    ],
)
def test_bad_partners_files_say_where_and_how(tmp_path, text, message):
    p = tmp_path / "partners.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError, match=message):
        read_partners(p)


def test_operation_checks_its_name_zone_and_period():
    op = Operation(
        "baltic-2026", timezone="Europe/Vilnius", period=("2026-11-01T00:00:00+02:00", None)
    )
    assert op.period[0].isoformat() == "2026-10-31T22:00:00+00:00"
    assert op.to_dict()["period"] == ["2026-10-31T22:00:00+00:00", None]
    with pytest.raises(ValidationError, match="unknown time zone"):
        Operation("x", timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="ends before it starts"):
        Operation("x", period=("2026-11-02", "2026-11-01"))
    with pytest.raises(ValidationError, match="not an operation name"):
        check_name("../etc")
    with pytest.raises(ValidationError, match="corridor_km: not a distance"):
        Operation("x", corridor_km=float("nan"))
