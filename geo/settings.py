"""Limes settings: every default the analysis and the loaders use, in one documented place.

Change a value here (or pass the matching keyword argument) rather than hard-coding numbers
elsewhere. Units are in the names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

#: Sensor kinds Limes knows. Anything else in a ``kind`` column is rejected with this list.
SensorKind = Literal["camera", "radar", "tower", "ground_sensor", "drone", "other"]
SENSOR_KINDS: Final[tuple[str, ...]] = (
    "camera",
    "radar",
    "tower",
    "ground_sensor",
    "drone",
    "other",
)

#: Height of a sensor above ground (m) when the file gives none, by kind. A camera on a pole,
#: a radar on a mast, a surveillance tower, an unattended ground sensor, a drone on station.
DEFAULT_HEIGHT_M: Final[dict[str, float]] = {
    "camera": 6.0,
    "radar": 10.0,
    "tower": 20.0,
    "ground_sensor": 0.5,
    "drone": 120.0,
    "other": 2.0,
}

#: Sensor status values. Inactive sensors are loaded and shown but cover nothing.
SENSOR_STATUSES: Final[tuple[str, ...]] = ("active", "inactive")

#: Depth of the border corridor on each side of the border (km).
CORRIDOR_KM: Final[float] = 5.0

#: Uncovered stretches of border shorter than this are not listed as gaps (m).
MIN_GAP_M: Final[float] = 1.0

#: Height of the target a sensor must see, e.g. a standing person (m). Used with a DEM.
TARGET_HEIGHT_M: Final[float] = 2.0

#: Atmospheric refraction coefficient, as in GRASS r.viewshed and QGIS (dimensionless).
REFRACTION_COEFF: Final[float] = 0.13

#: Vertices on a full circle of a sensor footprint. The polygon is inscribed in the true
#: circle, so a chord through it is short by at most ``1 - cos(pi / n)`` (0.12 % at 64).
FOOTPRINT_CIRCLE_VERTICES: Final[int] = 64

#: Border lines are split into pieces no longer than this before analysis (m), so that the
#: straight pieces in the analysis CRS follow the geodesic between input vertices.
BORDER_MAX_SEGMENT_M: Final[float] = 1000.0

#: Corridor and footprint outlines are densified to this spacing (m) before areas are
#: measured on the ellipsoid.
AREA_DENSIFY_M: Final[float] = 2000.0

#: Where uploads and the shared store live (relative paths are relative to the working dir).
DATA_DIR: Final[Path] = Path("data")

#: The bundled sample scenario.
SAMPLE_DIR: Final[Path] = Path(__file__).resolve().parent.parent / "sample_data"

#: Above this many detections in the time window the map shows hexagons with counts
#: (computed on the server) instead of points, so the page stays light.
MAX_MAP_POINTS: Final[int] = 50_000

#: Circumradius of the detection hexagons (m).
HEXAGON_SIZE_M: Final[float] = 1_500.0

#: Classification banner printed at the top and bottom of snapshots (and shown in the app).
BANNER: Final[str] = "UNCLASSIFIED // EXERCISE"

#: The shared detection store (a GeoPackage), created on first use.
STORE_PATH: Final[Path] = DATA_DIR / "limes.gpkg"

#: The users file. While it does not exist the app runs in local demo mode (no sign-in).
USERS_FILE: Final[Path] = DATA_DIR / "users.json"

#: Roles a user may hold.
ROLES: Final[tuple[str, ...]] = ("analyst", "commander", "briefer", "admin")

#: Largest upload accepted (MB). Keep equal to ``server.maxUploadSize`` in
#: ``.streamlit/config.toml``; the server enforces it again on every file it reads.
MAX_UPLOAD_MB: Final[int] = 200

#: A zip or KMZ is refused when its entries would expand past this many bytes in total...
MAX_UNZIPPED_BYTES: Final[int] = 1_000_000_000
#: ...or past this ratio of uncompressed to compressed size (zip bombs compress ~1000:1).
MAX_ZIP_RATIO: Final[float] = 200.0
