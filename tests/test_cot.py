"""Cursor-on-Target XML as detections: events, times, positions, markings, bad rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from geo.core.errors import ValidationError
from geo.inputs.loader import read_border, read_detections, read_sensors

DECLARATION = "<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n"


def event(
    uid: str = "e1",
    *,
    lat: str | None = "45.5",
    lon: str | None = "14.5",
    time: str | None = "2024-05-01T12:00:00Z",
    attrs: str = "",
    detail: str = "",
    point: str = 'hae="250.5" ce="12.0" le="9999999.0"',
) -> str:
    """One CoT event; ``lat=None`` leaves the <point> out, ``time=None`` the time."""
    t = f' time="{time}"' if time is not None else ""
    pt = f'<point lat="{lat}" lon="{lon}" {point}/>' if lat is not None else ""
    det = f"<detail>{detail}</detail>" if detail else ""
    return (
        f'<event version="2.0" uid="{uid}" type="a-h-G-E-V"{t} how="m-g" '
        f'start="2024-05-01T11:59:00Z" stale="2024-05-01T12:10:00Z"{attrs}>{pt}{det}'
        "</event>"
    )


def write(tmp_path: Path, text: str, name: str = "det.cot") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_one_event_maps_to_one_detection(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        DECLARATION
        + event(
            "radar-7.track-42",
            attrs=' access="Unclassified" caveat="FOUO" releasableTo="SI HR"',
            detail='<link uid="RADAR-7" parent_callsign="Radar Sv. Gera" relation="p-p" '
            'type="a-f-G-E-S"/><contact callsign="T42"/>',
        ),
    )
    got, report = read_detections(path)
    row = got.iloc[0]
    assert report.format == "CoT"
    assert report.row_label == "feature"
    assert report.source_crs.startswith("EPSG:4326 (assumed: Cursor-on-Target")
    assert row["detection_id"] == "radar-7.track-42"
    assert row["class"] == "a-h-G-E-V"
    assert row["time"] == pd.Timestamp("2024-05-01T12:00:00Z")
    assert row["source"] == "Radar Sv. Gera"
    assert (row["access"], row["caveat"], row["releasable_to"]) == ("Unclassified", "FOUO", "SI,HR")
    assert row["hae_m"] == 250.5
    assert row["ce_m"] == 12.0
    assert np.isnan(row["le_m"])  # 9999999 = unknown in CoT
    assert pd.isna(row["partner"])
    assert pd.isna(row["confidence"])
    assert shapely.equals(row.geometry, shapely.Point(14.5, 45.5))
    assert any("9999999" in n for n in report.notes)
    assert any("producer (<link relation='p-p'>)" in n for n in report.notes)


@pytest.mark.parametrize(
    ("attrs", "detail", "expected"),
    [
        (' releaseableTo="ALL"', "", ("ALL", None, None)),
        (' releasableTo="all"', "", ("ALL", None, None)),
        (' releasableTo="SI,HR;AT"', "", ("SI,HR,AT", None, None)),
        (
            "",
            '<__group name="Cyan" role="Team Member"/><marking access="Restricted" '
            'caveat="REL EXERCISE" releasableTo="HR"/>',
            ("HR", "Restricted", "REL EXERCISE"),
        ),
        (
            ' access="Unclassified"',
            '<marking access="Secret" releaseableTo="SI"/>',
            ("SI", "Unclassified", None),
        ),  # the event's own attribute wins
        ("", "", (None, None, None)),
    ],
)
def test_markings_from_the_event_or_its_detail(
    tmp_path: Path, attrs: str, detail: str, expected: tuple[str | None, ...]
) -> None:
    got, _ = read_detections(write(tmp_path, event(attrs=attrs, detail=detail)))
    values = tuple(
        None if pd.isna(v) else v for v in got.loc[0, ["releasable_to", "access", "caveat"]]
    )
    assert values == expected


@pytest.mark.parametrize("layout", ["events_root", "other_root", "stream", "stream_no_decl"])
def test_many_events(tmp_path: Path, layout: str) -> None:
    events = [event(f"e{i}", lat=f"{45 + i / 100}", lon=f"{14 + i / 100}") for i in range(50)]
    text = {
        "events_root": DECLARATION + "<events>" + "\n".join(events) + "</events>",
        "other_root": "<feed><meta/>" + "".join(f"<item>{e}</item>" for e in events) + "</feed>",
        "stream": "\n".join(DECLARATION + e for e in events),
        "stream_no_decl": "".join(events),
    }[layout]
    got, report = read_detections(write(tmp_path, text))
    assert got["detection_id"].tolist() == [f"e{i}" for i in range(50)]
    assert got["src_row"].tolist() == list(range(1, 51))
    if layout.startswith("stream"):
        assert "the file holds 50 CoT documents one after the other" in report.notes


def test_time_from_start_when_there_is_no_time(tmp_path: Path) -> None:
    got, report = read_detections(
        write(tmp_path, "<events>" + event("a", time=None) + event("b") + "</events>")
    )
    assert got["time"].tolist() == [
        pd.Timestamp("2024-05-01T11:59:00Z"),
        pd.Timestamp("2024-05-01T12:00:00Z"),
    ]
    assert "1 event time(s) taken from 'start' (no 'time' attribute)" in report.notes


def test_bad_events_are_rejected_with_reasons_the_rest_kept(tmp_path: Path) -> None:
    events = [
        event("ok1"),
        event("no-point", lat=None),
        event("bad-lat", lat="abc"),
        event("nan-lat", lat="NaN"),
        event("inf-lon", lon="INF"),
        event("out", lat="95.2"),
        event("null-island", lat="0.0", lon="0.0"),
        event("no-time", time="", attrs=""),
        event("bad-time", time="yesterday"),
        event("gps-reset", time="1901-12-13T20:45:52Z"),
        event("neg-ce", point='hae="1" ce="-3" le="1"'),
        event("ok2", lat="45.6", lon="14.6"),
    ]
    # an event with neither time nor start: drop start from one of them
    events[7] = events[7].replace(' start="2024-05-01T11:59:00Z"', "")
    got, report = read_detections(write(tmp_path, "<events>" + "".join(events) + "</events>"))
    assert got["detection_id"].tolist() == ["ok1", "ok2"]
    why = {e.row: (e.field, e.reason) for e in report.rejected}
    assert why[2] == (
        "lon",
        "the value is missing: expected a longitude in decimal degrees, got None",
    )
    assert why[3][0] == "lat"
    assert "not a number" in why[3][1]
    assert "'abc'" in why[3][1]
    assert "not a finite number" in why[4][1] or "missing" in why[4][1]
    assert "not a finite number" in why[5][1]
    assert "out of range" in why[6][1]
    assert "(0, 0) is almost always a missing position" in why[7][1]
    assert why[8][0] == "time"
    assert "the time is missing" in why[8][1]
    assert "not a time" in why[9][1]
    assert "'yesterday'" in why[9][1]
    assert "unset device clock" in why[10][1]
    assert why[11] == (
        "ce_m",
        "an error cannot be negative: expected a circular error in metres >= 0, got -3.0",
    )
    assert report.rows_read == 12


def test_cot_is_recognised_by_content_and_by_xml_extension(tmp_path: Path) -> None:
    text = DECLARATION + event()
    for name in ("det.xml", "det.txt", "upload_7f3a"):
        got, report = read_detections(write(tmp_path, text, name))
        assert report.format == "CoT"
        assert len(got) == 1
    upload = write(tmp_path, text, "tmp_upload")
    _, report = read_detections(upload, source_name="C:\\exports\\tracks.cot")
    assert report.format == "CoT"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<events></events>", r"det\.cot: the file holds no CoT <event>"),
        (
            "<events><event uid='a'></events>",
            r"det\.cot: is not well-formed XML: expected a CoT "
            r"document, got 'mismatched tag",
        ),
        ("<kml/>", r"det\.cot: is not a CoT document"),
        ("just text", r"det\.cot: the file content does not look like CoT"),
    ],
)
def test_unusable_cot_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        read_detections(write(tmp_path, text))


def test_cot_for_lines_or_polygons_says_what_to_do(tmp_path: Path) -> None:
    path = write(tmp_path, event())
    with pytest.raises(
        ValidationError,
        match=r"det\.cot: Cursor-on-Target events are points, "
        r"but the border need lines.*Load CoT files as detections",
    ):
        read_border(path)
    with pytest.raises(
        ValidationError,
        match=r"det\.cot, field 'sensor_id': required columns "
        r"'sensor_id', 'partner', 'kind', 'range_m' missing",
    ):
        read_sensors(path)


def test_markings_in_other_formats(tmp_path: Path) -> None:
    path = tmp_path / "det.csv"
    path.write_text(
        "time,lat,lon,Access,Caveat,releasableTo,hae,CE\n"
        "2024-05-01T12:00:00Z,45.5,14.5,Unclassified,FOUO,SI HR,310.5,8\n"
        "2024-05-01T12:00:00Z,45.6,14.6,,,ALL,,\n"
        "2024-05-01T12:00:00Z,45.7,14.7,,,,,\n"
    )
    got, _ = read_detections(path)
    assert got["hae_m"].tolist()[0] == 310.5
    assert got["ce_m"].tolist()[0] == 8.0
    assert got["le_m"].isna().all()
    assert got["releasable_to"].tolist()[:2] == ["SI,HR", "ALL"]
    assert pd.isna(got["releasable_to"].iloc[2])
    assert got["access"].tolist()[0] == "Unclassified"
    assert got["caveat"].tolist()[0] == "FOUO"
    assert got["releasable_to"].dtype == "str"


# --------------------------------------------------------------------------------------
# Real ATAK files (deptofdefense/AndroidTacticalAssaultKit-CIV takcot/examples)
# --------------------------------------------------------------------------------------


def test_real_atak_marker(realdata: Path) -> None:
    got, report = read_detections(realdata / "tracks/cot/atak_Marker_-_2525.cot")
    row = got.iloc[0]
    assert row["detection_id"] == "a0c524c6-0422-4382-9981-e39d1dc71730"
    assert row["class"] == "a-u-G"
    assert row["source"] == "HOPE"
    assert row["time"] == pd.Timestamp("2020-12-16T19:59:34.910Z")
    assert np.isnan(row["hae_m"])  # 9999999.0 in the file
    np.testing.assert_allclose(
        shapely.get_coordinates(row.geometry), [[-77.06364199776728, 38.856650047254725]]
    )
    assert report.rejected == []


def test_real_atak_route_at_0_0_is_refused_clearly(realdata: Path) -> None:
    with pytest.raises(
        ValidationError,
        match=r"atak_Route\.cot: none of the 1 features can be "
        r"used.*feature 1, field 'lat': position \(0, 0\) is almost always a "
        r"missing position",
    ):
        read_detections(realdata / "tracks/cot/atak_Route.cot")


def test_every_real_atak_event_loads_or_fails_clearly(realdata: Path) -> None:
    at_0_0 = {"atak_Route.cot", "atak_Drawing_Shapes_-_Telestration.cot"}  # shapes: 0,0 point
    paths = sorted((realdata / "tracks/cot").glob("*.cot"))
    assert len(paths) == 12
    for path in paths:
        if path.name in at_0_0:
            with pytest.raises(ValidationError, match=r"\(0, 0\) is almost always"):
                read_detections(path)
            continue
        got, report = read_detections(path)
        assert got["time"].dt.year.tolist() == [2020]
        assert report.rejected == []
