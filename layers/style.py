"""Colours and sizes shared by every map (the app's and the exported snapshots).

Partner colours come from the Okabe–Ito palette, which stays distinguishable under the
common forms of colour blindness. Gaps use a loud magenta-red that is not in the partner
palette, so a gap never reads as someone's sector.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

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


def partner_colors(partners: Iterable[str]) -> dict[str, tuple[int, int, int]]:
    """Assign each partner a palette colour, in sorted order so colours are stable.

    Examples
    --------
    >>> partner_colors(["B", "A"])["A"]
    (0, 114, 178)
    """
    return {p: PARTNER_PALETTE[i % len(PARTNER_PALETTE)] for i, p in enumerate(sorted(set(partners)))}
