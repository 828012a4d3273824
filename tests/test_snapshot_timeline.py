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
from geo.timeline import moment, timeline
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
