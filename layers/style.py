"""Colours and sizes shared by every map (the app's and the exported snapshots).

Partner colours come from the Okabe–Ito palette, which stays distinguishable under the
common forms of colour blindness. Gaps use a loud magenta-red that is not in the partner
palette, so a gap never reads as someone's sector.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import numpy as np

RGBA = list[int]

#: Okabe–Ito colours (vermillion left out: it is too close to the gap colour).
PARTNER_PALETTE: Final[tuple[tuple[int, int, int], ...]] = (
    (0, 114, 178),  # blue
    (230, 159, 0),  # orange
    (0, 158, 115),  # bluish green
    (204, 121, 167),  # reddish purple
    (86, 180, 233),  # sky blue
    (240, 228, 66),  # yellow
    (120, 120, 120),  # grey
)

GAP: Final[RGBA] = [255, 0, 110, 255]
GAP_AREA: Final[RGBA] = [255, 0, 110, 70]
OVERLAP: Final[RGBA] = [40, 40, 40, 255]
OVERLAP_AREA: Final[RGBA] = [60, 60, 60, 60]
BORDER: Final[RGBA] = [20, 20, 20, 255]
CORRIDOR: Final[RGBA] = [120, 120, 120, 35]
BASEMAP_FILL: Final[RGBA] = [236, 233, 224, 255]
BASEMAP_LINE: Final[RGBA] = [160, 155, 145, 255]
BACKGROUND: Final[RGBA] = [200, 220, 235, 255]
MUTED: Final[RGBA] = [150, 150, 150, 60]

#: Detection colours by coverage status. Detections in gaps are yellow so they stand out on
#: the magenta gap line without merging into it.
DETECTION: Final[dict[str, RGBA]] = {
    "coverage": [40, 40, 40, 150],
    "gap": [255, 214, 0, 255],
    "outside": [120, 120, 120, 110],
}

#: Terrain coverage count: sensors seeing a cell, 1 to 6 or more (ColorBrewer YlGnBu, which
#: reads as "more" from light to dark and avoids the gap and partner colours). 0 is clear.
COVERAGE_RAMP: Final[tuple[tuple[int, int, int], ...]] = (
    (199, 233, 180),
    (127, 205, 187),
    (65, 182, 196),
    (29, 145, 192),
    (34, 94, 168),
    (12, 44, 132),
)
COVERAGE_ALPHA: Final[int] = 150


def coverage_rgba(counts: np.ndarray) -> np.ndarray:
    """RGBA (uint8) image of a count grid: the ramp for 1, 2, ..., 6+; clear for 0 and NaN.

    Examples
    --------
    >>> coverage_rgba(np.array([[0.0, 1.0, 9.0, np.nan]]))[0, :, 3].tolist()
    [0, 150, 150, 0]
    """
    c = np.nan_to_num(np.asarray(counts, dtype=float), nan=0.0)
    idx = np.clip(c.astype(np.int64), 1, len(COVERAGE_RAMP)) - 1
    rgb = np.asarray(COVERAGE_RAMP, dtype=np.uint8)[idx]
    alpha = np.where(c >= 1, COVERAGE_ALPHA, 0).astype(np.uint8)
    return np.dstack([rgb, alpha])


def partner_colors(partners: Iterable[str]) -> dict[str, tuple[int, int, int]]:
    """Assign each partner a palette colour, in sorted order so colours are stable.

    Examples
    --------
    >>> partner_colors(["B", "A"])["A"]
    (0, 114, 178)
    """
    return {p: PARTNER_PALETTE[i % len(PARTNER_PALETTE)] for i, p in enumerate(sorted(set(partners)))}


#: Watched border: a calm line under the loud gaps.
COVERED: Final[RGBA] = [70, 110, 130, 255]
#: Gazetteer place dots and names.
PLACE: Final[RGBA] = [60, 60, 60, 220]
#: Country names: large, light, out of the way.
COUNTRY_LABEL: Final[RGBA] = [110, 105, 95, 200]
#: Detection density (hexagon fill) from few to many: light to dark blue-grey, translucent,
#: away from the gap and partner hues.
DENSITY_RAMP: Final[tuple[tuple[int, int, int, int], ...]] = (
    (208, 214, 222, 110),
    (150, 163, 181, 150),
    (96, 112, 138, 185),
    (48, 60, 84, 215),
)
