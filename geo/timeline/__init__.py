"""Coverage over time: when, and for how long, each stretch of border is unwatched.

``analysis`` is the recipe (:func:`timeline`): ``windows`` turns sensors' schedules into
time intervals, ``tracks`` prepares the fixes of drones and patrols, ``watch`` cuts the
border into elementary pieces and merges the times each is watched (``kernel``: the
compiled moving-observer kernel), ``report`` assembles the JSON sections and ``detections``
classifies detections at their own time (``steps``: a playback step's, page by page),
``views`` draws pieces, exposure and one moment as lines for maps, ``moments`` says what
is active at one moment (playback). With a DEM, ``terrain`` reads static sensors'
viewsheds along the border and ``sightlines`` samples tracks' lines of sight at the time
step. See ``docs/timeline.md``.
"""

from geo.timeline.analysis import Timeline, detections_watched, timeline
from geo.timeline.moments import Moment, active_sensors, moment, track_positions
from geo.timeline.steps import StepCounts, step_counts
from geo.timeline.tracks import PreparedTracks, prepare_tracks
from geo.timeline.views import exposed_layer, piece_layer, watched_at, watched_layer
from geo.timeline.windows import Window, sensor_windows

__all__ = [
    "Moment",
    "PreparedTracks",
    "StepCounts",
    "Timeline",
    "Window",
    "active_sensors",
    "detections_watched",
    "exposed_layer",
    "moment",
    "piece_layer",
    "prepare_tracks",
    "sensor_windows",
    "step_counts",
    "timeline",
    "track_positions",
    "watched_at",
    "watched_layer",
]
