"""layers.colour.partner_colour_clashes: the map palette's rule applied to any partner colour.

The rule (``layers.style``, checked for the palette by ``tests/test_colours.py``): a partner
colour differs from every status colour, composited over the land, and from the land itself
by CIEDE2000 >= 20 in normal vision and under simulated protanopia, deuteranopia and
tritanopia. The check is compared here with the same figures computed pair by pair from
``ciede2000`` (itself checked against Sharma's test data), one colour and vision at a time.
"""

from __future__ import annotations

import numpy as np
import pytest

from layers import style
from layers.colour import (
    LAND,
    PARTNER_MIN_DELTA_E00,
    VISIONS,
    alike_partner_colours,
    ciede2000,
    composite,
    partner_colour_clashes,
    simulate_cvd,
    srgb_to_lab,
)

MAP_COLOURS = {**style.STATUS_COLOURS, LAND: style.BASEMAP_FILL}


def _seen(rgba, vision: str) -> np.ndarray:
    rgb = composite(np.asarray(rgba, dtype=float), style.BASEMAP_FILL[:3])
    return srgb_to_lab(rgb if vision == "normal" else simulate_cvd(rgb, vision))


def _pairwise(rgb) -> dict[str, tuple[str, float]]:
    """For each map colour closer than the rule allows: (closest vision, ΔE00), pair by pair."""
    out = {}
    for name, rgba in MAP_COLOURS.items():
        ds = {v: float(ciede2000(_seen(rgb, v), _seen(rgba, v))) for v in VISIONS}
        vision = min(ds, key=ds.__getitem__)
        if ds[vision] < PARTNER_MIN_DELTA_E00:
            out[name] = (vision, ds[vision])
    return out


@pytest.mark.parametrize("rgb", style.PARTNER_PALETTE)
def test_the_maps_own_palette_passes(rgb):
    assert partner_colour_clashes(rgb) == []


@pytest.mark.parametrize("name", sorted(MAP_COLOURS))
def test_each_map_colour_itself_is_refused_by_name(name):
    rgba = MAP_COLOURS[name]
    opaque = composite(np.asarray(rgba, dtype=float), style.BASEMAP_FILL[:3]).round()
    clashes = {c.name: c for c in partner_colour_clashes(opaque)}
    assert name in clashes, name
    assert clashes[name].delta_e00 < 1.0  # the same colour, up to rounding to whole sRGB
    assert all(c.delta_e00 < PARTNER_MIN_DELTA_E00 for c in clashes.values())


def test_a_blue_fine_in_normal_vision_clashes_for_deuteranopes():
    """(31, 116, 250): far from everything in normal vision, near the gap detections' violet
    for a deuteranope (both turn blue)."""
    blue = (31, 116, 250)
    for rgba in MAP_COLOURS.values():
        assert float(ciede2000(_seen(blue, "normal"), _seen(rgba, "normal"))) >= 20
    clashes = partner_colour_clashes(blue)
    assert [(c.name, c.vision) for c in clashes] == [("detection_gap", "deutan")]
    message = clashes[0].message()
    assert "detections in a gap" in message
    assert "deuteranopia" in message
    assert "ΔE00 15.4" in message


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_the_pairwise_figures_on_random_colours(seed):
    rng = np.random.default_rng(seed)
    for rgb in rng.integers(0, 256, size=(40, 3)):
        got = {c.name: (c.vision, c.delta_e00) for c in partner_colour_clashes(rgb)}
        want = _pairwise(rgb)
        assert set(got) == set(want), tuple(rgb)
        for name, (vision, d) in want.items():
            assert got[name][0] == vision
            assert got[name][1] == pytest.approx(d, abs=1e-9)
        ds = [c.delta_e00 for c in partner_colour_clashes(rgb)]
        assert ds == sorted(ds)


def test_threshold_and_input_checks():
    crimson = (185, 10, 30)
    assert partner_colour_clashes(crimson)[0].name == "gap"
    assert partner_colour_clashes(crimson, min_delta_e00=0.0) == []
    colour = np.array([185, 10, 30])
    partner_colour_clashes(colour)
    assert colour.tolist() == [185, 10, 30]  # the input is not changed
    with pytest.raises(ValueError, match="3 channels"):
        partner_colour_clashes((1, 2))
    with pytest.raises(ValueError, match="one colour"):
        partner_colour_clashes([[1, 2, 3], [4, 5, 6]])


def test_alike_partner_colours_names_pairs_closest_first():
    six = {f"P{i}": rgb for i, rgb in enumerate(style.PARTNER_PALETTE[:6])}
    assert alike_partner_colours(six) == []  # the palette's partners are told apart
    colours = {
        "LTU": (85, 135, 255),
        "POL": (255, 115, 0),
        "EU": (85, 135, 255),
        "LVA": (250, 120, 5),
    }
    pairs = alike_partner_colours(colours)
    assert [(a, b) for a, b, _ in pairs] == [("LTU", "EU"), ("POL", "LVA")]
    assert pairs[0][2] == 0.0
    want = float(ciede2000(srgb_to_lab(colours["POL"]), srgb_to_lab(colours["LVA"])))
    assert pairs[1][2] == pytest.approx(want, abs=0.05)
    assert alike_partner_colours(colours, min_delta_e00=0.0) == []
    assert alike_partner_colours({"LTU": (1, 2, 3)}) == []
