"""Colour science for checking the map's colours: CIELAB, CIEDE2000, colour-blindness simulation.

Small, vectorised numpy versions of four standard recipes, enough to measure whether two
map colours can be told apart by a person with normal vision or with a colour vision
deficiency (CVD):

- :func:`srgb_to_lab`: sRGB (IEC 61966-2-1, 0–255) to CIELAB under D65 (2° observer).
- :func:`ciede2000`: the CIEDE2000 colour difference, as written out by Sharma, Wu & Dalal,
  "The CIEDE2000 color-difference formula: implementation notes, supplementary test data,
  and mathematical observations", Color Res. Appl. 30 (2005) 21–30.
- :func:`simulate_cvd`: protan, deutan and tritan vision by the matrices of Machado,
  Oliveira & Fernandes, "A physiologically-based model for simulation of color vision
  deficiency", IEEE TVCG 15 (2009) 1291–1298, applied to linear RGB.
- :func:`composite`: a translucent colour drawn over an opaque one, as deck.gl and
  matplotlib blend (in gamma-encoded sRGB, straight alpha).

With them, :func:`partner_colour_clashes` applies the map's palette rule
(:mod:`layers.style`) to any partner colour, e.g. one an administrator picks: it names
each status colour (and the land) the colour could be confused with, and in which vision.

Colours are arrays whose last axis holds the channels; any leading shape broadcasts. A
CIEDE2000 difference of about 1 is just noticeable side by side; map symbols that must
never be confused should differ by far more (``layers.style`` asks for 20).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal, cast, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from geo.core.errors import ValidationError
from layers import style

CVDKind = Literal["protan", "deutan", "tritan"]
CVD_KINDS: Final[tuple[str, ...]] = get_args(CVDKind)

#: Linear sRGB to CIE XYZ (D65), Y of white = 1 (IEC 61966-2-1 primaries, as tabulated by
#: Lindbloom). The reference white is the matrix's own white (its row sums, D65 to 7 digits),
#: so sRGB white maps to exactly L* 100, a* b* 0.
_RGB_TO_XYZ: Final[NDArray[np.float64]] = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_WHITE_D65: Final[NDArray[np.float64]] = _RGB_TO_XYZ.sum(axis=1)
_EPSILON: Final[float] = 216.0 / 24389.0  # CIE's exact (6/29)**3
_KAPPA: Final[float] = 24389.0 / 27.0  # CIE's exact (29/3)**3

#: Machado et al. (2009), supplementary table: simulation matrices (linear RGB) for severity
#: 0.0, 0.1, ..., 1.0 of protanomaly, deuteranomaly and tritanomaly; 1.0 is the dichromacy
#: (protanopia, deuteranopia, tritanopia). Severities in between are interpolated linearly.
_MACHADO: Final[dict[str, NDArray[np.float64]]] = {
    "protan": np.array(
        [
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            [
                [0.856167, 0.182038, -0.038205],
                [0.029342, 0.955115, 0.015544],
                [-0.002880, -0.001563, 1.004443],
            ],
            [
                [0.734766, 0.334872, -0.069637],
                [0.051840, 0.919198, 0.028963],
                [-0.004928, -0.004209, 1.009137],
            ],
            [
                [0.630323, 0.465641, -0.095964],
                [0.069181, 0.890046, 0.040773],
                [-0.006308, -0.007724, 1.014032],
            ],
            [
                [0.539009, 0.579343, -0.118352],
                [0.082546, 0.866121, 0.051332],
                [-0.007136, -0.011959, 1.019095],
            ],
            [
                [0.458064, 0.679578, -0.137642],
                [0.092785, 0.846313, 0.060902],
                [-0.007494, -0.016807, 1.024301],
            ],
            [
                [0.385450, 0.769005, -0.154455],
                [0.100526, 0.829802, 0.069673],
                [-0.007442, -0.022190, 1.029632],
            ],
            [
                [0.319627, 0.849633, -0.169261],
                [0.106241, 0.815969, 0.077790],
                [-0.007025, -0.028051, 1.035076],
            ],
            [
                [0.259411, 0.923008, -0.182420],
                [0.110296, 0.804340, 0.085364],
                [-0.006276, -0.034346, 1.040622],
            ],
            [
                [0.203876, 0.990338, -0.194214],
                [0.112975, 0.794542, 0.092483],
                [-0.005222, -0.041043, 1.046265],
            ],
            [
                [0.152286, 1.052583, -0.204868],
                [0.114503, 0.786281, 0.099216],
                [-0.003882, -0.048116, 1.051998],
            ],
        ]
    ),
    "deutan": np.array(
        [
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            [
                [0.866435, 0.177704, -0.044139],
                [0.049567, 0.939063, 0.011370],
                [-0.003453, 0.007233, 0.996220],
            ],
            [
                [0.760729, 0.319078, -0.079807],
                [0.090568, 0.889315, 0.020117],
                [-0.006027, 0.013325, 0.992702],
            ],
            [
                [0.675425, 0.433850, -0.109275],
                [0.125303, 0.847755, 0.026942],
                [-0.007950, 0.018572, 0.989378],
            ],
            [
                [0.605511, 0.528560, -0.134071],
                [0.155318, 0.812366, 0.032316],
                [-0.009376, 0.023176, 0.986200],
            ],
            [
                [0.547494, 0.607765, -0.155259],
                [0.181692, 0.781742, 0.036566],
                [-0.010410, 0.027275, 0.983136],
            ],
            [
                [0.498864, 0.674741, -0.173604],
                [0.205199, 0.754872, 0.039929],
                [-0.011131, 0.030969, 0.980162],
            ],
            [
                [0.457771, 0.731899, -0.189670],
                [0.226409, 0.731012, 0.042579],
                [-0.011595, 0.034333, 0.977261],
            ],
            [
                [0.422823, 0.781057, -0.203881],
                [0.245752, 0.709602, 0.044646],
                [-0.011843, 0.037423, 0.974421],
            ],
            [
                [0.392952, 0.823610, -0.216562],
                [0.263559, 0.690210, 0.046232],
                [-0.011910, 0.040281, 0.971630],
            ],
            [
                [0.367322, 0.860646, -0.227968],
                [0.280085, 0.672501, 0.047413],
                [-0.011820, 0.042940, 0.968881],
            ],
        ]
    ),
    "tritan": np.array(
        [
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            [
                [0.926670, 0.092514, -0.019184],
                [0.021191, 0.964503, 0.014306],
                [0.008437, 0.054813, 0.936750],
            ],
            [
                [0.895720, 0.133330, -0.029050],
                [0.029997, 0.945400, 0.024603],
                [0.013027, 0.104707, 0.882266],
            ],
            [
                [0.905871, 0.127791, -0.033662],
                [0.026856, 0.941251, 0.031893],
                [0.013410, 0.148296, 0.838294],
            ],
            [
                [0.948035, 0.089490, -0.037526],
                [0.014364, 0.946792, 0.038844],
                [0.010853, 0.193991, 0.795156],
            ],
            [
                [1.017277, 0.027029, -0.044306],
                [-0.006113, 0.958479, 0.047634],
                [0.006379, 0.248708, 0.744913],
            ],
            [
                [1.104996, -0.046633, -0.058363],
                [-0.032137, 0.971635, 0.060503],
                [0.001336, 0.317922, 0.680742],
            ],
            [
                [1.193214, -0.109812, -0.083402],
                [-0.058496, 0.979410, 0.079086],
                [-0.002346, 0.403492, 0.598854],
            ],
            [
                [1.257728, -0.139648, -0.118081],
                [-0.078003, 0.975409, 0.102594],
                [-0.003316, 0.501214, 0.502102],
            ],
            [
                [1.278864, -0.125333, -0.153531],
                [-0.084748, 0.957674, 0.127074],
                [-0.000989, 0.601151, 0.399838],
            ],
            [
                [1.255528, -0.076749, -0.178779],
                [-0.078411, 0.930809, 0.147602],
                [0.004733, 0.691367, 0.303900],
            ],
        ]
    ),
}


def _channels(rgb: ArrayLike, n: int, name: str) -> NDArray[np.float64]:
    """``rgb`` as a float array whose last axis has ``n`` channels, or a ValueError."""
    arr = np.asarray(rgb, dtype=float)
    if arr.ndim == 0 or arr.shape[-1] != n:
        raise ValueError(f"{name} must have {n} channels on its last axis, got shape {arr.shape}")
    return arr


def srgb_to_linear(rgb: ArrayLike) -> NDArray[np.float64]:
    """Decode sRGB (0–255) to linear light (0–1), by the IEC 61966-2-1 transfer function.

    Examples
    --------
    >>> srgb_to_linear([0, 255, 128]).round(4).tolist()
    [0.0, 1.0, 0.2159]
    """
    c = np.asarray(rgb, dtype=float) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: ArrayLike) -> NDArray[np.float64]:
    """Encode linear light (0–1) as sRGB (0–255, float, not rounded).

    The inverse of :func:`srgb_to_linear`.

    Examples
    --------
    >>> linear_to_srgb([0.0, 1.0, 0.2159]).round(1).tolist()
    [0.0, 255.0, 128.0]
    """
    c = np.asarray(linear, dtype=float)
    return 255.0 * np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.abs(c) ** (1 / 2.4) - 0.055)


def srgb_to_lab(rgb: ArrayLike) -> NDArray[np.float64]:
    """CIELAB (L*, a*, b*) of sRGB colours (0–255), D65 white, 2° observer.

    Parameters
    ----------
    rgb
        Colours, shape ``(..., 3)``, channels 0–255 (float values allowed).

    Returns
    -------
    numpy.ndarray
        Shape ``(..., 3)``: L* (0 black to 100 white), a* (green − to red +) and b*
        (blue − to yellow +).

    Examples
    --------
    >>> srgb_to_lab([255, 0, 0]).round(2).tolist()
    [53.24, 80.09, 67.2]
    >>> srgb_to_lab([[255, 255, 255], [0, 0, 0]]).round(6).tolist()
    [[100.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    xyz = srgb_to_linear(_channels(rgb, 3, "rgb")) @ _RGB_TO_XYZ.T
    t = xyz / _WHITE_D65
    f = np.where(t > _EPSILON, np.cbrt(t), (_KAPPA * t + 16.0) / 116.0)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    lab = np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)
    return lab + 0.0  # no negative zeros


def ciede2000(
    lab1: ArrayLike, lab2: ArrayLike, *, k_l: float = 1.0, k_c: float = 1.0, k_h: float = 1.0
) -> NDArray[np.float64]:
    """CIEDE2000 colour difference ΔE00 between CIELAB colours (Sharma, Wu & Dalal 2005).

    Parameters
    ----------
    lab1, lab2
        CIELAB colours, shape ``(..., 3)``; the two broadcast against each other.
    k_l, k_c, k_h
        Parametric weights of lightness, chroma and hue (1 under reference conditions).

    Returns
    -------
    numpy.ndarray
        ΔE00, shape of the broadcast leading axes (a 0-d array for two single colours).
        Symmetric in its arguments; 0 only for equal colours.

    Notes
    -----
    The hue angle of a neutral colour (a' = b* = 0) is 0; the mean hue and the hue difference
    follow Sharma's equations (7)–(14), including the cases where either chroma is 0.

    Examples
    --------
    >>> float(ciede2000([50, 2.6772, -79.7751], [50, 0, -82.7485]).round(4))
    2.0425
    """
    l1, a1, b1 = np.moveaxis(_channels(lab1, 3, "lab1"), -1, 0)
    l2, a2, b2 = np.moveaxis(_channels(lab2, 3, "lab2"), -1, 0)

    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2.0
    g = 0.5 * (1.0 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.where((a1p == 0) & (b1 == 0), 0.0, np.degrees(np.arctan2(b1, a1p)) % 360.0)
    h2p = np.where((a2p == 0) & (b2 == 0), 0.0, np.degrees(np.arctan2(b2, a2p)) % 360.0)

    neutral = c1p * c2p == 0
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(neutral, 0.0, dh)
    d_l = l2 - l1
    d_c = c2p - c1p
    d_h = 2.0 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2.0)

    l_mean = (l1 + l2) / 2.0
    cp_mean = (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    h_mean = np.where(
        np.abs(h1p - h2p) <= 180.0,
        h_sum / 2.0,
        np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0),
    )
    h_mean = np.where(neutral, h_sum, h_mean)

    t = (
        1.0
        - 0.17 * np.cos(np.radians(h_mean - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * h_mean))
        + 0.32 * np.cos(np.radians(3.0 * h_mean + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * h_mean - 63.0))
    )
    d_theta = 30.0 * np.exp(-(((h_mean - 275.0) / 25.0) ** 2))
    r_c = 2.0 * np.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
    s_l = 1.0 + 0.015 * (l_mean - 50.0) ** 2 / np.sqrt(20.0 + (l_mean - 50.0) ** 2)
    s_c = 1.0 + 0.045 * cp_mean
    s_h = 1.0 + 0.015 * cp_mean * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c

    dl, dc, dhh = d_l / (k_l * s_l), d_c / (k_c * s_c), d_h / (k_h * s_h)
    return np.asarray(np.sqrt(dl**2 + dc**2 + dhh**2 + r_t * dc * dhh))


def simulate_cvd(rgb: ArrayLike, kind: CVDKind, severity: float = 1.0) -> NDArray[np.float64]:
    """How sRGB colours look to a person with a colour vision deficiency (Machado et al. 2009).

    Parameters
    ----------
    rgb
        Colours, shape ``(..., 3)``, channels 0–255.
    kind
        ``"protan"`` (missing or shifted L cones, red-weak), ``"deutan"`` (M cones,
        green-weak; the most common) or ``"tritan"`` (S cones, blue-weak).
    severity
        0 (normal vision) to 1 (dichromacy: protanopia, deuteranopia, tritanopia).
        Between Machado's tabulated steps of 0.1 the matrices are interpolated linearly.

    Returns
    -------
    numpy.ndarray
        Simulated sRGB colours, shape ``(..., 3)``, float 0–255 (not rounded). The matrix
        is applied to linear RGB and the result clipped to the displayable range before
        encoding.

    Raises
    ------
    ValueError
        For an unknown ``kind``, a ``severity`` outside 0–1, or colours without 3 channels.

    Examples
    --------
    >>> simulate_cvd([128, 128, 128], "deutan").round(2).tolist()
    [128.0, 128.0, 128.0]
    >>> simulate_cvd([255, 0, 0], "blue")
    Traceback (most recent call last):
    ...
    ValueError: kind must be one of ['protan', 'deutan', 'tritan'], got 'blue'
    """
    if kind not in _MACHADO:
        raise ValueError(f"kind must be one of {list(CVD_KINDS)}, got {kind!r}")
    if not 0.0 <= severity <= 1.0:
        raise ValueError(f"severity must be between 0 and 1, got {severity!r}")
    table = _MACHADO[kind]
    step = severity * (len(table) - 1)
    low = min(int(np.floor(step)), len(table) - 2)
    frac = step - low
    matrix = (1.0 - frac) * table[low] + frac * table[low + 1]
    linear = srgb_to_linear(_channels(rgb, 3, "rgb")) @ matrix.T
    return linear_to_srgb(np.clip(linear, 0.0, 1.0))


def composite(rgba: ArrayLike, under_rgb: ArrayLike) -> NDArray[np.float64]:
    """The colour seen where a translucent colour is drawn over an opaque one.

    Parameters
    ----------
    rgba
        Colours drawn on top, shape ``(..., 4)`` (straight alpha, all 0–255) or ``(..., 3)``
        (opaque).
    under_rgb
        The opaque colour beneath, shape ``(..., 3)`` or ``(..., 4)`` (its alpha is ignored);
        broadcasts against ``rgba``.

    Returns
    -------
    numpy.ndarray
        ``alpha * top + (1 - alpha) * under`` per channel, in gamma-encoded sRGB as deck.gl
        (WebGL) and matplotlib blend; shape ``(..., 3)``, float 0–255.

    Examples
    --------
    >>> composite([255, 0, 0, 51], [255, 255, 255]).tolist()
    [255.0, 204.0, 204.0]
    >>> composite([10, 20, 30], [255, 255, 255]).tolist()
    [10.0, 20.0, 30.0]
    """
    top = np.asarray(rgba, dtype=float)
    if top.ndim == 0 or top.shape[-1] not in (3, 4):
        raise ValueError(f"rgba must have 3 or 4 channels on its last axis, got shape {top.shape}")
    under = np.asarray(under_rgb, dtype=float)
    if under.ndim == 0 or under.shape[-1] not in (3, 4):
        raise ValueError(
            f"under_rgb must have 3 or 4 channels on its last axis, got shape {under.shape}"
        )
    alpha = top[..., 3:4] / 255.0 if top.shape[-1] == 4 else np.ones_like(top[..., :1])
    return alpha * top[..., :3] + (1.0 - alpha) * under[..., :3]


# ---- the palette rule, for any partner colour ------------------------------------------------

#: The visions a map colour is checked in: normal vision and the three dichromacies.
VISIONS: Final[tuple[str, ...]] = ("normal", *CVD_KINDS)

#: The least CIEDE2000 difference between a partner colour and every status colour (and the
#: land it is drawn on), in every vision of :data:`VISIONS`: the rule the palette
#: (:data:`layers.style.PARTNER_PALETTE`) was chosen by and ``tests/test_colours.py`` checks.
PARTNER_MIN_DELTA_E00: Final[float] = 20.0

#: The name :func:`partner_colour_clashes` gives the map's land fill.
LAND: Final[str] = "land"

#: What each colour marks on the map, in words for messages (keys of
#: :data:`layers.style.STATUS_COLOURS`, and :data:`LAND`).
MAP_COLOUR_LABELS: Final[dict[str, str]] = {
    "gap": "the gap line (uncovered border)",
    "gap_area": "the blind-area tint",
    "overlap": "the overlap line",
    "overlap_area": "the overlap-area tint",
    "covered": "the covered-border line",
    "detection_coverage": "detections in coverage",
    "detection_gap": "detections in a gap",
    "detection_outside": "detections outside the corridor",
    LAND: "the land the map is drawn on",
}

#: Each vision in words.
VISION_LABELS: Final[dict[str, str]] = {
    "normal": "normal vision",
    "protan": "protanopia (red-blind)",
    "deutan": "deuteranopia (green-blind)",
    "tritan": "tritanopia (blue-blind)",
}


@dataclass(frozen=True)
class Clash:
    """A partner colour too close to one colour of the map, in the vision where it is closest.

    Attributes
    ----------
    name
        The map colour: a key of :data:`layers.style.STATUS_COLOURS`, or :data:`LAND`.
    rgba
        That colour as the style defines it.
    vision
        One of :data:`VISIONS`: where the two are closest.
    delta_e00
        Their CIEDE2000 difference there (below the rule's minimum).
    """

    name: str
    rgba: tuple[int, ...]
    vision: str
    delta_e00: float

    @property
    def label(self) -> str:
        """What the map colour marks, in words (e.g. "the gap line (uncovered border)")."""
        return MAP_COLOUR_LABELS.get(self.name, self.name.replace("_", " "))

    def message(self) -> str:
        """One line for people: which map colour, how close, in which vision.

        Examples
        --------
        >>> Clash("gap", (180, 0, 20, 255), "deutan", 7.25).message()
        'too close to the status colour gap, the gap line (uncovered border): \
ΔE00 7.2 under deuteranopia (green-blind), at least 20 needed'
        """
        kind = "map colour" if self.name == LAND else "status colour"
        return (
            f"too close to the {kind} {self.name}, {self.label}: ΔE00 {self.delta_e00:.1f} "
            f"under {VISION_LABELS.get(self.vision, self.vision)}, at least "
            f"{PARTNER_MIN_DELTA_E00:g} needed"
        )


def seen_lab(rgba: ArrayLike, vision: str) -> NDArray[np.float64]:
    """CIELAB of a map colour as seen on the map, in one of :data:`VISIONS`.

    A translucent colour (4 channels) is composited over the land fill
    (:data:`layers.style.BASEMAP_FILL`) first, then the vision is simulated.

    Examples
    --------
    >>> seen_lab([255, 0, 0], "normal").round(2).tolist()
    [53.24, 80.09, 67.2]
    >>> clear = seen_lab([255, 0, 0, 0], "normal")  # fully transparent: the land
    >>> bool(np.allclose(clear, seen_lab(style.BASEMAP_FILL[:3], "normal")))
    True
    """
    if vision not in VISIONS:
        raise ValueError(f"vision must be one of {list(VISIONS)}, got {vision!r}")
    rgb = composite(np.asarray(rgba, dtype=float), np.asarray(style.BASEMAP_FILL[:3], dtype=float))
    return srgb_to_lab(rgb if vision == "normal" else simulate_cvd(rgb, cast(CVDKind, vision)))


def partner_colour_clashes(
    rgb: ArrayLike, *, min_delta_e00: float = PARTNER_MIN_DELTA_E00
) -> list[Clash]:
    """The map colours a partner colour could be confused with, closest first.

    The rule the map's palette keeps (:mod:`layers.style`): a partner colour differs from
    every status colour of :data:`layers.style.STATUS_COLOURS` (translucent ones over the
    land) and from the land fill itself by a CIEDE2000 ΔE00 of at least ``min_delta_e00``,
    for normal vision and under simulated protanopia, deuteranopia and tritanopia.

    Parameters
    ----------
    rgb
        The partner colour, 3 channels 0–255 (drawn opaque).
    min_delta_e00
        The least difference allowed (default :data:`PARTNER_MIN_DELTA_E00`).

    Returns
    -------
    list[Clash]
        One entry per map colour closer than ``min_delta_e00`` in some vision, with the
        vision where it is closest; sorted by that difference. Empty: the colour is fine.

    Examples
    --------
    >>> partner_colour_clashes(style.PARTNER_PALETTE[0])
    []
    >>> [c.name for c in partner_colour_clashes((185, 10, 30))][:1]
    ['gap']
    """
    colour = _channels(rgb, 3, "rgb")
    if colour.ndim != 1:
        raise ValueError(f"rgb must be one colour of 3 channels, got shape {colour.shape}")
    targets = {**style.STATUS_COLOURS, LAND: style.BASEMAP_FILL}
    names = list(targets)
    table = np.asarray([targets[n] for n in names], dtype=float)
    d = np.stack([ciede2000(seen_lab(colour, v), seen_lab(table, v)) for v in VISIONS])
    worst = d.argmin(axis=0)  # the vision where each map colour is closest
    clashes = [
        Clash(name, tuple(int(c) for c in targets[name]), VISIONS[v], float(d[v, j]))
        for j, (name, v) in enumerate(zip(names, worst, strict=True))
        if d[v, j] < min_delta_e00
    ]
    return sorted(clashes, key=lambda c: c.delta_e00)


#: Two partners whose colours differ by less than this (CIEDE2000, normal vision) look alike.
PARTNERS_ALIKE_DELTA_E00: Final[float] = 10.0


def alike_partner_colours(
    colours: dict[str, tuple[int, int, int]], *, min_delta_e00: float = PARTNERS_ALIKE_DELTA_E00
) -> list[tuple[str, str, float]]:
    """Pairs of partners whose colours look alike in normal vision, closest first.

    Not the palette's hard rule (the first six palette colours differ by ΔE00 ≥ 20 in normal
    vision, about 8.8 at worst under simulated dichromacy): a warning that the map would
    hardly tell two partners apart.

    Returns
    -------
    list[tuple[str, str, float]]
        ``(partner, partner, ΔE00)`` for each pair closer than ``min_delta_e00``, in the
        order of ``colours`` within a pair.

    Examples
    --------
    >>> alike_partner_colours({"LTU": (85, 135, 255), "EU": (85, 135, 250), "POL": (255, 115, 0)})
    [('LTU', 'EU', 0.6)]
    """
    ids = list(colours)
    if len(ids) < 2:
        return []
    lab = srgb_to_lab(np.asarray([colours[i] for i in ids], dtype=float))
    d = ciede2000(lab[:, None], lab[None])
    pairs = [
        (ids[i], ids[j], round(float(d[i, j]), 1))
        for i in range(len(ids))
        for j in range(i + 1, len(ids))
        if d[i, j] < min_delta_e00
    ]
    return sorted(pairs, key=lambda p: p[2])


def refuse_clashing_colours(
    partners: Iterable[tuple[str, Sequence[int] | None]], where: str
) -> None:
    """Refuse partner colours the map cannot use (:func:`partner_colour_clashes`).

    ``partners``: ``(id, rgb or None)`` pairs (None: the map's palette, which passes).
    ``where``: the file or operation named in the message.

    Raises
    ------
    ValidationError
        Naming the first partner whose colour clashes, its colour, the closest map colour and
        the vision, and how to fix it (and how many more partners clash).

    Examples
    --------
    >>> refuse_clashing_colours([("A", style.PARTNER_PALETTE[0]), ("B", None)], "partners.csv")
    >>> refuse_clashing_colours([("A", (185, 10, 30))], "partners.csv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geo.core.errors.ValidationError: partners.csv, partner A: colour #b90a1e is too close to \
the status colour gap, ...
    """
    bad = [
        (pid, rgb, clashes)
        for pid, rgb in partners
        if rgb is not None
        for clashes in [partner_colour_clashes(rgb)]
        if clashes
    ]
    if not bad:
        return
    pid, rgb, clashes = bad[0]
    hex_rgb = "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb[:3]))
    more = f" (and {len(bad) - 1} more partner(s))" if len(bad) > 1 else ""
    raise ValidationError(
        f"{where}, partner {pid}: colour {hex_rgb} is {clashes[0].message()}{more}: the map "
        "would draw the partner like what the analysis found there. Nothing was stored. Pick "
        "another colour, or leave the colour empty to use the map's palette"
    )
