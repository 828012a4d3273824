"""``python -m geo snapshot --at`` and ``--exposure`` (issue 18), checked against the engine.

``--at``: a moment when a scheduled sensor is off does not draw its footprint (the summary
and the layer data say so, and the picture differs from a moment when it is on).
``--exposure``: the exposed km equal ``python -m geo timeline``'s for the same window and τ.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely
from PIL import Image

from geo.coverage.analysis import analyse
from geo.inputs import load_scenario
from geo.timeline import exposed_layer, moment, timeline
from layers import deck as lk
from layers import timeline as lt

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
INPUTS = [
    *("--border", str(SAMPLE / "border.geojson")),
    *("--sensors", str(SAMPLE / "sensors.csv")),
    *("--sectors", str(SAMPLE / "sectors.geojson")),
    *("--detections", str(SAMPLE / "detections.csv")),
    *("--tracks", str(SAMPLE / "tracks.csv")),
]
#: A camera of the sample on the schedule 06:00-20:00 (UTC).
SCHEDULED = "LTU-CAM-001"
NIGHT, DAY = "2026-11-02T04:00:00Z", "2026-11-02T12:00:00Z"


def _geo(*args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "geo", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def moments(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, np.ndarray]]:
    """The snapshot at night and by day: its summary and its pixels."""
    out = {}
    folder = tmp_path_factory.mktemp("at")
    for name, when in (("night", NIGHT), ("day", DAY)):
        png = folder / f"{name}.png"
        summary = _geo("snapshot", *INPUTS, "--at", when, "--out", str(png))
        out[name] = (summary, np.asarray(Image.open(png).convert("RGB")))
    return out


def test_at_a_moment_a_scheduled_sensor_off_has_no_footprint(moments) -> None:
    night, night_px = moments["night"]
    day, day_px = moments["day"]
    assert night["timeline"]["moment"]["at"] == NIGHT
    assert SCHEDULED in night["timeline"]["moment"]["inactive_sensors"]
    assert SCHEDULED in day["timeline"]["moment"]["active_sensors"]
    # the subtitle under the title names the moment and the share watched then
    share = night["timeline"]["moment"]["watched_pct"]
    assert f"moment 2026-11-02 04:00 UTC: {share:.1f} % of the border watched" in night["subtitle"]
    for layer in ("footprints", "moment_watched", "moment_tracks", "tracks"):
        assert layer in night["layers"]
    assert "Border watched at the moment shown (white)" in night["legend"]
    assert night_px.shape == day_px.shape
    assert (np.abs(night_px.astype(int) - day_px.astype(int)).max(axis=-1) > 30).sum() > 500


def test_the_moments_footprint_layer_leaves_out_the_sensor_that_is_off() -> None:
    """The layer data itself: the camera's footprint (as ``analyse`` draws it) is not in it
    at night and is by day."""
    sc = load_scenario(SAMPLE)
    own = analyse(sc.border, sc.sensors).layers["footprints"]
    truth = own.geometry[own["sensor_id"] == SCHEDULED].iloc[0]
    tl = timeline(
        sc.border,
        sensors=sc.sensors,
        tracks=sc.tracks,
        time_from="2026-11-02T00:00Z",
        time_to="2026-11-02T13:00Z",
    )

    def drawn(when: str) -> list[shapely.Polygon]:
        layer = lt.moment_layers(moment(tl, when), {})["footprints"]
        return [shapely.Polygon(d["polygon"][0]) for d in layer.data]

    def has_it(polys: list[shapely.Polygon]) -> bool:
        return any(shapely.hausdorff_distance(p, truth) < 2 * lk.SIMPLIFY_DEG for p in polys)

    night, day = drawn(NIGHT), drawn(DAY)
    assert not has_it(night)
    assert has_it(day)
    assert len(day) > len(night)


def test_exposure_lists_the_exposed_km_of_the_timeline_command(tmp_path: Path) -> None:
    window = ("--time-from", "2026-11-02T00:00:00Z", "--time-to", "2026-11-04T00:00:00Z")
    tau = ("--crossing-time-min", "45")
    png = tmp_path / "exposure.pdf"
    summary = _geo("snapshot", *INPUTS, *window, *tau, "--exposure", "--out", str(png))
    report = _geo(
        "timeline",
        *(a for a in INPUTS if a != "--detections" and not a.endswith("detections.csv")),
        *window,
        *tau,
    )
    exposure = summary["timeline"]["exposure"]
    assert exposure["exposed_km"] == pytest.approx(report["border"]["exposed_km"], abs=1e-5)
    assert exposure["crossing_time_min"] == 45.0
    assert exposure["stretches"] >= 1
    assert "exposed" in summary["layers"]
    assert "tracks" in summary["layers"]
    assert "Exposed: unwatched longer than the crossing time τ" in summary["legend"]
    assert summary["pages"] == 2
    assert png.read_bytes()[:5] == b"%PDF-"


def test_a_long_legend_is_drawn_smaller_to_fit_the_side_panel() -> None:
    """A moment with the tracks and the exposure over terrain: the side panel's legend,
    headline and parameters still end above the page's footer (none of its texts overlap),
    and the long subtitle stays on the page."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from layers.map import DEFAULT_OFF, LAYERS
    from layers.snapshot.coverage_over_time import over_time
    from layers.snapshot.map_page import map_page
    from layers.snapshot.view import prepare_view

    sc = load_scenario(SAMPLE)
    result = analyse(
        sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections, dem=sc.dem
    ).windowed("2026-11-01T05:00Z", "2026-11-01T06:00Z")
    tl = timeline(
        sc.border,
        sensors=sc.sensors,
        tracks=sc.tracks,
        time_from="2026-11-01T00:00Z",
        time_to="2026-11-02T00:00Z",
    )
    drawn = over_time(
        colors={},
        tracks=lt.track_lines(sc.tracks),
        exposed=lt.with_length(exposed_layer(tl, 30.0)),
        crossing_time_min=30.0,
        moment=moment(tl, "2026-11-01T06:00Z"),
    )
    view = prepare_view(
        result,
        partner=None,
        shown=[k for k in LAYERS if k not in DEFAULT_OFF],
        title=None,
        banner="UNCLASSIFIED",
        extent=None,
        dem=sc.dem,
        partner_names=None,
        timeline_layers=drawn.layers,
        note=drawn.note,
    )
    fig = Figure(figsize=(297 / 25.4, 210 / 25.4), dpi=72)
    FigureCanvasAgg(fig)
    info = map_page(fig, view, unit=1.0)
    assert "Exposed: unwatched longer than the crossing time τ" in info["legend"]
    renderer = fig.canvas.get_renderer()
    right = info["map_box"][2]  # the map's right edge (pt): the panel is beyond it
    boxes = [t.get_window_extent(renderer) for t in fig.texts if t.get_text().strip()]
    panel = [b for b in boxes if b.x1 > right + 2]
    clashes = [
        (a, b)
        for i, a in enumerate(panel)
        for b in panel[i + 1 :]
        if a.x0 < b.x1 - 1 and b.x0 < a.x1 - 1 and a.y0 < b.y1 - 1 and b.y0 < a.y1 - 1
    ]
    assert not clashes, clashes[:3]
    # the subtitle (window, moment, exposure) is wrapped within the page
    page_w = fig.get_size_inches()[0] * fig.dpi
    assert max(b.x1 for b in boxes) <= page_w
