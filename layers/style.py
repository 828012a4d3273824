"""Colours and sizes shared by every map (the app's and the exported snapshots).

Two families of colours share the map and must never be confused: the *partner* colours
(whose sector, footprint or sensor this is) and the *status* colours (what the analysis
found: a gap, a blind area, an overlap, covered border, a detection's status). The rule,
checked by ``tests/test_colours.py`` with :mod:`layers.colour`: every partner colour differs
from every status colour (translucent ones composited over the land fill) by a CIEDE2000
ΔE00 of at least 20, for normal vision and under simulated protanopia, deuteranopia and
tritanopia (Machado et al. 2009, severity 1). ΔE00 ≈ 1 is a just-noticeable difference;
20 is an obvious one.

How the colours were chosen:

- Status colours sit where partner colours cannot be: the calm ones are dark, nearly
  neutral lines and dots (``COVERED`` a dark slate, ``OVERLAP``, the in-coverage detections)
  or faint tints of the land (``OVERLAP_AREA``, detections outside the corridor). The two
  loud ones are a crimson (``GAP``, with its tint ``GAP_AREA``) and a deep violet for
  detections in a gap. Crimson rather than the earlier magenta: magenta turns into a
  nearly neutral grey (protans) or grey-olive (deutans), right where a partner's bluish
  green or reddish purple falls, while crimson stays a distinct dark olive-brown. The violet
  stays dark and saturated under every simulation (a blue for protans and deutans), so it
  is told apart from the crimson gap line, the pale blind area it sits on and the dark grey
  of in-coverage detections.
- The partner palette keeps the hues of Okabe & Ito's colour-blind-safe palette (blue,
  orange, bluish green, reddish purple, sky blue, yellow) with their lightness and chroma
  moved, by a max–min search over the sRGB cube, until each stays 20 from every status
  colour in all four visions while the six stay as far apart from each other as possible
  (worst pair under any simulation ≈ 8.8, normal vision ≈ 24) and at least 20 from the land
  fill. Okabe–Ito's vermillion cannot be a partner next to a red gap, nor its grey next to
  grey status colours; magenta, the seventh colour, serves only maps with seven or more
  partners and is close to the blue under protanopia (ΔE00 ≈ 6.8).
- ``bench/colour_palette.py`` prints the full ΔE00 tables and reruns the search.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import numpy as np

RGBA = list[int]

#: Partner colours in assignment order (see :func:`partner_colors`): Okabe–Ito hues moved
#: clear of every status colour (module docstring). The first six are the ones real
#: operations use.
PARTNER_PALETTE: Final[tuple[tuple[int, int, int], ...]] = (
    (85, 135, 255),  # blue
    (255, 115, 0),  # orange
    (65, 180, 65),  # green
    (180, 105, 150),  # reddish purple
    (0, 215, 255),  # sky blue
    (195, 255, 0),  # yellow-green
    (255, 0, 255),  # magenta (seventh partner only)
)

#: Uncovered border (the gap line, 7 px): a loud crimson.
GAP: Final[RGBA] = [180, 0, 20, 255]
#: Blind area in the corridor: the gap crimson as a tint.
GAP_AREA: Final[RGBA] = [180, 0, 20, 50]
#: Border covered by sensors of two or more partners (dashed line).
OVERLAP: Final[RGBA] = [40, 40, 40, 255]
#: Corridor area covered by two or more partners: a faint grey tint.
OVERLAP_AREA: Final[RGBA] = [60, 60, 60, 40]
#: Covered border: a calm dark slate, clearly not the gap crimson in any vision.
COVERED: Final[RGBA] = [45, 65, 75, 255]
BORDER: Final[RGBA] = [20, 20, 20, 255]
CORRIDOR: Final[RGBA] = [120, 120, 120, 35]
BASEMAP_FILL: Final[RGBA] = [236, 233, 224, 255]
BASEMAP_LINE: Final[RGBA] = [160, 155, 145, 255]
BACKGROUND: Final[RGBA] = [200, 220, 235, 255]

#: Detection colours by coverage status: in a gap a loud deep violet (distinct from the gap
#: crimson and the blind area beneath it), in coverage a calm dark grey, outside the corridor
#: a faint grey.
DETECTION: Final[dict[str, RGBA]] = {
    "coverage": [40, 40, 40, 200],
    "gap": [130, 0, 160, 255],
    "outside": [100, 100, 100, 80],
}

#: Every colour that marks a status, by name: what a partner colour must never look like.
#: Built from the constants above, so a new detection status is checked too.
STATUS_COLOURS: Final[dict[str, RGBA]] = {
    "gap": GAP,
    "gap_area": GAP_AREA,
    "overlap": OVERLAP,
    "overlap_area": OVERLAP_AREA,
    "covered": COVERED,
    **{f"detection_{status}": rgba for status, rgba in DETECTION.items()},
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


def partner_colors(
    partners: Iterable[str], chosen: Mapping[str, tuple[int, int, int]] | None = None
) -> dict[str, tuple[int, int, int]]:
    """Each partner's colour: the one ``chosen`` for it (the operation's), else the palette's.

    The others take the palette's colours in sorted order (so they are stable), skipping any
    colour chosen for another partner.

    Examples
    --------
    >>> partner_colors(["B", "A"])["A"]
    (85, 135, 255)
    >>> partner_colors(["B", "A"], {"B": (31, 119, 180)})["B"]
    (31, 119, 180)
    >>> partner_colors(["B", "A"], {"B": (85, 135, 255)})["A"]  # not B's blue again
    (255, 115, 0)
    """
    ids = sorted(set(partners))
    picked = {p: (int(c[0]), int(c[1]), int(c[2])) for p, c in (chosen or {}).items()}
    free = [c for c in PARTNER_PALETTE if c not in picked.values()] or list(PARTNER_PALETTE)
    rest = [p for p in ids if p not in picked]
    out = {p: free[i % len(free)] for i, p in enumerate(rest)}
    return {p: picked.get(p) or out[p] for p in ids}


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

#: A suggested site of the Plan page: a near-black dot with a white ring (no partner's colour,
#: so it stands out from the existing sensors whatever the partners' colours).
SITE_FILL: Final[tuple[int, int, int, int]] = (25, 25, 35, 255)
SITE_LINE: Final[tuple[int, int, int, int]] = (255, 255, 255, 255)
