"""The map's colours (issue 13): partner colours never look like a status colour, in any vision.

First the colour science of ``layers.colour`` against outside references (Sharma, Wu &
Dalal's CIEDE2000 test data; CIELAB of the sRGB primaries; colorspacious's implementation of
Machado et al.'s colour-blindness simulation); then the rules for ``layers.style``.
"""

from __future__ import annotations

import numpy as np
import pytest

from layers import style
from layers.colour import CVD_KINDS, ciede2000, composite, simulate_cvd, srgb_to_lab

VISIONS = ("normal", *CVD_KINDS)
LAND = style.BASEMAP_FILL[:3]

# ---- CIEDE2000 -------------------------------------------------------------------------------

#: Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
#: supplementary test data, and mathematical observations", Color Res. Appl. 30, table 1:
#: L1, a1, b1, L2, a2, b2, ΔE00.
SHARMA = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
    (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


@pytest.mark.parametrize("row", SHARMA, ids=[f"pair{i:02d}" for i in range(1, len(SHARMA) + 1)])
def test_ciede2000_matches_sharmas_test_data(row):
    lab1, lab2, expected = row[:3], row[3:6], row[6]
    assert float(ciede2000(lab1, lab2)) == pytest.approx(expected, abs=1e-4)
    assert float(ciede2000(lab2, lab1)) == pytest.approx(expected, abs=1e-4)  # symmetric


def test_ciede2000_vectorised_equals_pairwise():
    table = np.asarray(SHARMA)
    got = ciede2000(table[:, :3], table[:, 3:6])
    assert got.shape == (len(SHARMA),)
    np.testing.assert_allclose(got, table[:, 6], atol=1e-4)
    # broadcasting: every row against every row, the diagonal being zero
    square = ciede2000(table[:, None, :3], table[None, :, :3])
    assert square.shape == (len(SHARMA), len(SHARMA))
    np.testing.assert_allclose(np.diag(square), 0.0, atol=1e-12)


# ---- sRGB -> CIELAB --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rgb", "lab"),
    [
        # Bruce Lindbloom's colour calculator (sRGB, D65, 2°); red is also in most textbooks.
        ((255, 0, 0), (53.2408, 80.0925, 67.2032)),
        ((0, 255, 0), (87.7347, -86.1827, 83.1793)),
        ((0, 0, 255), (32.2970, 79.1875, -107.8602)),
        ((255, 255, 255), (100.0, 0.0, 0.0)),
        ((0, 0, 0), (0.0, 0.0, 0.0)),
    ],
)
def test_srgb_to_lab_matches_reference(rgb, lab):
    np.testing.assert_allclose(srgb_to_lab(rgb), lab, atol=1e-3)


def test_srgb_to_lab_keeps_shape_and_input():
    rgb = np.array([[[255, 0, 0], [0, 0, 255]]], dtype=np.uint8)
    before = rgb.copy()
    assert srgb_to_lab(rgb).shape == (1, 2, 3)
    np.testing.assert_array_equal(rgb, before)
    with pytest.raises(ValueError, match="3 channels"):
        srgb_to_lab([255, 0])


# ---- colour-blindness simulation -------------------------------------------------------------

#: Reference values from colorspacious 1.1.2 (Smith & van der Walt), which implements Machado,
#: Oliveira & Fernandes (2009) as the "sRGB1+CVD" space; computed once in a throwaway venv:
#:     cspace_convert(rgb / 255, {"name": "sRGB1+CVD", "cvd_type": "deuteranomaly",
#:                                "severity": 100}, "sRGB1")
#: clipped to 0..1 and scaled by 255 (colorspacious does not clip).
COLORSPACIOUS = {
    ("protan", 1.0): {
        (255, 0, 0): (108.785, 95.027, 0.0),
        (0, 255, 0): (255.0, 229.354, 0.0),
        (0, 0, 255): (0.0, 88.706, 255.0),
        (230, 159, 0): (185.049, 162.386, 0.0),
        (204, 121, 167): (127.501, 138.91, 168.658),
    },
    ("deutan", 1.0): {
        (255, 0, 0): (163.215, 144.281, 0.0),
        (0, 255, 0): (238.693, 214.008, 58.444),
        (0, 0, 255): (0.0, 61.499, 251.48),
        (230, 159, 0): (201.761, 179.712, 16.836),
        (204, 121, 167): (148.483, 152.448, 164.844),
    },
    ("tritan", 1.0): {
        (255, 0, 0): (255.0, 0.0, 14.888),
        (0, 255, 0): (0.0, 247.082, 216.652),
        (0, 0, 255): (0.0, 107.197, 149.756),
        (230, 159, 0): (251.252, 139.612, 135.298),
        (204, 121, 167): (214.271, 119.953, 137.584),
    },
    # between Machado's tabulated severities (0.5 and 0.6): linear interpolation
    ("protan", 0.55): {(255, 0, 0): (173.72, 87.593, 0.0), (0, 255, 0): (221.167, 235.908, 0.0)},
    ("deutan", 0.55): {
        (255, 0, 0): (191.358, 121.658, 0.0),
        (0, 255, 0): (209.532, 227.02, 47.618),
    },
    ("tritan", 0.55): {(255, 0, 0): (255.0, 0.0, 12.526), (0, 255, 0): (0.0, 251.042, 145.039)},
}


@pytest.mark.parametrize(("kind", "severity"), list(COLORSPACIOUS), ids=lambda v: str(v))
def test_simulate_cvd_matches_colorspacious(kind, severity):
    refs = COLORSPACIOUS[(kind, severity)]
    got = simulate_cvd(list(refs), kind, severity)
    np.testing.assert_allclose(got, list(refs.values()), atol=0.01)


@pytest.mark.parametrize("kind", CVD_KINDS)
def test_simulation_leaves_greys_alone_and_severity_zero_is_normal_vision(kind):
    greys = np.array([[g, g, g] for g in (0, 20, 60, 119, 128, 200, 255)], dtype=float)
    np.testing.assert_allclose(simulate_cvd(greys, kind), greys, atol=0.1)
    colours = np.array(style.PARTNER_PALETTE, dtype=float)
    np.testing.assert_allclose(simulate_cvd(colours, kind, severity=0.0), colours, atol=1e-9)
    # and it changes a red, so the test above is not vacuous
    assert np.abs(simulate_cvd([255, 0, 0], kind) - [255, 0, 0]).max() > 10


def test_simulation_refuses_unknown_kind_and_severity():
    with pytest.raises(
        ValueError,
        match=r"kind must be one of \['protan', 'deutan', 'tritan'\], got 'deuteranopia'",
    ):
        simulate_cvd([255, 0, 0], "deuteranopia")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"severity must be between 0 and 1, got 1\.5"):
        simulate_cvd([255, 0, 0], "protan", 1.5)


def test_composite_blends_straight_alpha_over_the_background():
    assert composite([255, 0, 0, 0], LAND).tolist() == [float(c) for c in LAND]
    assert composite([10, 20, 30, 255], LAND).tolist() == [10.0, 20.0, 30.0]
    assert composite([0, 0, 0, 51], [255, 255, 255]).tolist() == [204.0, 204.0, 204.0]
    both = composite([[0, 0, 0, 51], [255, 255, 255, 255]], [100, 100, 100, 255])
    np.testing.assert_allclose(both, [[80, 80, 80], [255, 255, 255]])


# ---- the palette rules -----------------------------------------------------------------------


def seen(rgba, vision: str) -> np.ndarray:
    """CIELAB of a map colour (composited over the land where translucent) in a vision."""
    rgb = composite(np.asarray(rgba, dtype=float), LAND)
    return srgb_to_lab(rgb if vision == "normal" else simulate_cvd(rgb, vision))


def test_status_colours_name_every_status_constant():
    expected = [
        style.GAP,
        style.GAP_AREA,
        style.OVERLAP,
        style.OVERLAP_AREA,
        style.COVERED,
        *style.DETECTION.values(),
    ]
    assert len(style.STATUS_COLOURS) == len(expected)
    for rgba in expected:
        assert any(rgba is v for v in style.STATUS_COLOURS.values()), rgba
    assert all(len(v) == 4 and all(0 <= c <= 255 for c in v) for v in style.STATUS_COLOURS.values())


@pytest.mark.parametrize("vision", VISIONS)
def test_every_partner_colour_is_far_from_every_status_colour(vision):
    """Issue 13: CIEDE2000 >= 20 between each partner and each status colour, in every vision."""
    bad = []
    for i, partner in enumerate(style.PARTNER_PALETTE):
        for name, status in style.STATUS_COLOURS.items():
            d = float(ciede2000(seen(partner, vision), seen(status, vision)))
            if d < 20.0:
                bad.append(f"partner colour {i} {partner} vs {name} {status}: ΔE00 {d:.2f}")
    assert not bad, f"{vision} vision: " + "; ".join(bad)


@pytest.mark.parametrize("vision", VISIONS)
def test_the_gap_line_stands_out_from_the_covered_border_the_border_and_the_map(vision):
    gap = seen(style.GAP, vision)
    for name, other in [
        ("COVERED", style.COVERED),
        ("BORDER", style.BORDER),
        ("BASEMAP_FILL", style.BASEMAP_FILL),
        ("BACKGROUND", style.BACKGROUND),
    ]:
        d = float(ciede2000(gap, seen(other, vision)))
        assert d >= 20.0, f"{vision} vision: GAP {style.GAP} vs {name} {other}: ΔE00 {d:.2f}"


@pytest.mark.parametrize("vision", VISIONS)
def test_border_lines_are_visible_on_land_and_sea(vision):
    for name, line in [("GAP", style.GAP), ("COVERED", style.COVERED), ("BORDER", style.BORDER)]:
        for ground in (style.BASEMAP_FILL, style.BACKGROUND):
            d = float(
                ciede2000(
                    seen(line, vision),
                    srgb_to_lab(
                        ground[:3] if vision == "normal" else simulate_cvd(ground[:3], vision)
                    ),
                )
            )
            assert d >= 20.0, f"{vision} vision: {name} {line} on {ground}: ΔE00 {d:.2f}"


@pytest.mark.parametrize("vision", VISIONS)
def test_detections_in_a_gap_are_told_from_the_gap_and_from_calm_detections(vision):
    loud = seen(style.DETECTION["gap"], vision)
    for name, other in [
        ("GAP", style.GAP),
        ("GAP_AREA (beneath them)", style.GAP_AREA),
        ('DETECTION["coverage"]', style.DETECTION["coverage"]),
    ]:
        d = float(ciede2000(loud, seen(other, vision)))
        assert d >= 20.0, f"{vision} vision: DETECTION['gap'] vs {name}: ΔE00 {d:.2f}"


@pytest.mark.parametrize("vision", VISIONS)
def test_the_first_six_partner_colours_stay_apart(vision):
    """Not issue 13's hard rule: a floor under the palette as chosen (worst 8.8, protan)."""
    lab = np.array([seen(p, vision) for p in style.PARTNER_PALETTE[:6]])
    d = ciede2000(lab[:, None], lab[None])
    d[np.eye(6, dtype=bool)] = np.inf
    i, j = np.unravel_index(d.argmin(), d.shape)
    floor = 20.0 if vision == "normal" else 8.5
    assert d.min() >= floor, (
        f"{vision} vision: partner colours {style.PARTNER_PALETTE[i]} and {style.PARTNER_PALETTE[j]}: "
        f"ΔE00 {d.min():.2f} < {floor}"
    )


def test_partner_colours_follow_sorted_partners_in_palette_order():
    got = style.partner_colors(["C", "A", "B", "A"])
    assert list(got) == ["A", "B", "C"]
    assert list(got.values()) == list(style.PARTNER_PALETTE[:3])
    many = style.partner_colors([f"P{i:02d}" for i in range(9)])
    assert many["P07"] == style.PARTNER_PALETTE[0]  # the palette repeats past its length
