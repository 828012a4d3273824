"""The Map page's coverage over time across the antimeridian (``docs/timeline.md``).

The Bering-Strait scene of ``test_antimeridian.py`` with a drone and a patrol whose tracks
cross 180°. The main map with the exposure and the tracks on, at a moment of playback when
both are past 180°, is built as the page builds it (:func:`layers.map.build_map`, the
timeline's layers of :func:`layers.snapshot.coverage_over_time.over_time` added by
:func:`layers.timeline.with_layers`). deck.gl draws longitudes as given, so:

- no path or ring of any layer jumps by ~360° (a band round the world), and every layer is
  drawn near the view's centre;
- every timeline layer is drawn where the same scene moved 30° west draws it, 30° further
  east (the scene moved away from 180°, shifted back).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_antimeridian import CASES, drawn, scene, wrap

from geo.core import settings
from geo.coverage.analysis import analyse
from geo.inputs import read_tracks
from geo.timeline import exposed_layer, moment, timeline
from layers import timeline as lt
from layers.map import LAYERS, build_map, preview_deck
from layers.operation_preview import operation_preview_deck
from layers.snapshot.coverage_over_time import over_time
from layers.style import partner_colors

WINDOW = ("2026-01-01T00:00:00Z", "2026-01-01T02:00:00Z")
#: Playback's moment: the drone at 180.1° (unwrapped), the patrol at 179.95°: their range
#: disks across 180°.
AT = "2026-01-01T00:35:00Z"
TAU_MIN = 10.0
#: (track_id, kind, lat, lon at 00:00, lon at 01:00 (unwrapped), range_m)
TRACKS = (
    ("UAV-1", "drone", 65.05, 179.4, 180.6, 4_000.0),
    ("PAT-1", "patrol", 64.97, 180.3, 179.7, 3_000.0),
)
#: The timeline's layers: all of them are on the map in this test.
TIMELINE_IDS = (
    "tracks",
    "exposed",
    "footprints",
    "moment_watched",
    "moment_watched_casing",
    "moment_track_footprints",
    "moment_tracks",
)


def tracks_file(folder: Path, shift: float) -> Path:
    """A tracks CSV (the format the page reads) with every longitude moved by ``shift``."""
    rows = []
    for tid, kind, lat, lon0, lon1, reach in TRACKS:
        for minute in range(61):
            lon = lon0 + (lon1 - lon0) * minute / 60.0
            rows.append(
                {
                    "track_id": tid,
                    "time": f"2026-01-01T00:{minute:02d}:00Z" if minute < 60 else
                    "2026-01-01T01:00:00Z",
                    "lat": lat,
                    "lon": round(float(wrap(lon + shift)), 6),
                    "partner": "P",
                    "kind": kind,
                    "range_m": reach,
                }
            )  # fmt: skip
    path = folder / f"tracks_{shift:+.0f}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def main_map(folder: Path, shift: float, *, centre: bool = True) -> str:
    """The main map's deck JSON with exposure and tracks on, at :data:`AT` (as the page).

    ``centre``: hand the analysis CRS's centre to the timeline's layers (the fix); without
    it they are drawn with their longitudes as they are.
    """
    case = CASES["bering"]
    border, sensors, detections = scene(case, shift)
    tracks, report = read_tracks(tracks_file(folder, shift))
    assert not report.rejected
    result = analyse(border, sensors, detections=detections, corridor_km=case.corridor_km)
    tl = timeline(border, sensors=sensors, tracks=tracks, time_from=WINDOW[0], time_to=WINDOW[1])
    colors = partner_colors(result.report["partners"], result.partner_colours)
    extra = over_time(
        colors=colors,
        tracks=lt.track_lines(tracks),
        exposed=lt.with_length(exposed_layer(tl, TAU_MIN)),
        crossing_time_min=TAU_MIN,
        moment=moment(tl, AT),
        centre_deg=result.acrs.lon_centre_deg if centre else None,
    ).layers
    shown = [k for k in LAYERS if k not in ("hillshade", "coverage_count")]
    return lt.with_layers(build_map(result, shown=shown), extra).to_json()


@pytest.fixture(scope="module")
def maps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, dict]]:
    folder = tmp_path_factory.mktemp("tracks")
    return {
        "here": drawn(main_map(folder, 0.0)),
        "away": drawn(main_map(folder, -30.0)),
        "unwrapped": drawn(main_map(folder, 0.0, centre=False)),
    }


def test_every_layer_of_the_main_map_is_drawn_in_one_piece_past_180(maps) -> None:
    here, view = maps["here"]
    for layer_id in TIMELINE_IDS:
        assert layer_id in here, layer_id
    for layer_id, features in here.items():
        for lon in features:
            # no jump of ~360° along a ring or a path, and all drawn near the view's centre
            assert np.abs(np.diff(lon)).max(initial=0.0) < 20.0, layer_id
            assert np.abs(lon - view["longitude"]).max() < 10.0, layer_id
    # the tracks, the exposed band and the moment's disks go on past 180°
    for layer_id in ("tracks", "exposed", "moment_track_footprints", "moment_watched"):
        lon = np.concatenate(here[layer_id])
        assert lon.min() < 180.0 < lon.max(), layer_id


def test_the_timeline_layers_are_the_scene_moved_away_shifted_back(maps) -> None:
    here, view = maps["here"]
    away, view_away = maps["away"]
    assert view["longitude"] == pytest.approx(view_away["longitude"] + 30.0, abs=1e-6)
    for layer_id in TIMELINE_IDS:
        assert len(here[layer_id]) == len(away[layer_id]), layer_id
        for lon, lon_away in zip(here[layer_id], away[layer_id], strict=True):
            assert lon.shape == lon_away.shape, layer_id
            np.testing.assert_allclose(lon, lon_away + 30.0, atol=2e-5, err_msg=layer_id)


def test_without_the_centre_they_would_be_drawn_a_world_away(maps) -> None:
    """The failure this guards against, on the same scene: longitudes as they are."""
    unwrapped, view = maps["unwrapped"]
    astray = {
        layer_id
        for layer_id in TIMELINE_IDS
        for lon in unwrapped[layer_id]
        if np.abs(np.diff(lon)).max(initial=0.0) > 300.0
        or np.abs(lon - view["longitude"]).max() > 300.0
    }
    assert astray == set(TIMELINE_IDS)


# ---- the Upload page's preview (app_pages/upload.py: layers.map.preview_deck) ----------------


@pytest.mark.parametrize("as_hexagons", [False, True], ids=["points", "hexagons"])
def test_the_upload_preview_draws_rows_across_180_together(
    as_hexagons: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preview of a file of rows on both sides of 180° is the file moved 30° west, drawn
    30° further east: one small map (not the world), nothing a world away."""
    if as_hexagons:  # more rows than the map draws as points: counted in hexagons
        monkeypatch.setattr(settings, "MAX_MAP_POINTS", 500)
    case = CASES["bering"]
    here, view = drawn(preview_deck(scene(case)[2])[0].to_json())
    away, view_away = drawn(preview_deck(scene(case, -30.0)[2])[0].to_json())
    rows = "detections"  # the points' layer, or the hexagons' (polygons) in its place
    assert rows in here
    assert all(lon.size == (7 if as_hexagons else 1) for lon in here[rows])
    assert view["longitude"] == pytest.approx(view_away["longitude"] + 30.0, abs=1e-6)
    assert view["zoom"] == pytest.approx(view_away["zoom"], abs=1e-6)  # not the whole world
    for layer_id, features in here.items():
        for lon in features:
            assert np.abs(np.diff(lon)).max(initial=0.0) < 20.0, layer_id
            assert np.abs(lon - view["longitude"]).max() < 10.0, layer_id
    assert len(here[rows]) == len(away[rows])
    for lon, lon_away in zip(here[rows], away[rows], strict=True):
        np.testing.assert_allclose(lon, lon_away + 30.0, atol=2e-5)
    lon = np.concatenate(here[rows])
    assert lon.min() < 180.0 < lon.max()
    # the basemap goes on past 180° too: the east of Chukotka is drawn past it
    assert any(lon.min() >= 180.0 and lon.max() > 181.0 for lon in here["basemap"])


# ---- the Operations page's preview (layers.operation_preview) -------------------------------


def test_the_operation_preview_draws_a_border_across_180_in_one_piece() -> None:
    """Border and sensors across 180°: drawn as the scene moved 30° west, 30° further east."""
    case = CASES["bering"]
    here, view = drawn(
        operation_preview_deck(border=scene(case)[0], sensors=scene(case)[1])[0].to_json()
    )
    away_border, away_sensors, _ = scene(case, -30.0)
    away, view_away = drawn(
        operation_preview_deck(border=away_border, sensors=away_sensors)[0].to_json()
    )
    assert view["longitude"] == pytest.approx(view_away["longitude"] + 30.0, abs=1e-6)
    assert view["zoom"] == pytest.approx(view_away["zoom"], abs=1e-6)  # not the whole world
    for layer_id, features in here.items():
        for lon in features:
            assert np.abs(np.diff(lon)).max(initial=0.0) < 20.0, layer_id
            assert np.abs(lon - view["longitude"]).max() < 10.0, layer_id
    for layer_id in ("border", "sensors"):
        lon, lon_away = np.concatenate(here[layer_id]), np.concatenate(away[layer_id])
        np.testing.assert_allclose(lon, lon_away + 30.0, atol=2e-5, err_msg=layer_id)
    assert np.concatenate(here["border"]).max() > 181.0
