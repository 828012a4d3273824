"""Briefing snapshots (``layers.snapshot``): the sample scenario as a PNG and a PDF, checked without eyes.

One render per fixture (module scope) keeps this quick. What is checked: image size and dpi,
page count and size, the banner, title and legend text in the PDF, that the map is not blank,
that the gap colour lies on the gaps (and nowhere else), a partner's view (its numbers lead,
others are muted, its tables hold only what its view shows), the scale bar against
``pyproj.Geod`` and the north arrow against PROJ's meridian convergence, the command line, and
that bad input is refused with a message. The map page is also drawn on its own (the figure
kept) to check what is on it: gap labels white on crimson with the view's ranks, sector labels
in their partner's dark colour, sensor dots clamped as in the browser, a legend of exactly
what is drawn, and border-wide headline figures labelled "(joint)" in a partner's view.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from pypdf import PdfReader

from geo.core.errors import ValidationError
from geo.coverage.analysis import analyse
from geo.coverage.views import headline
from geo.inputs.scenario import load_scenario
from layers import snapshot
from layers.map import GAP_LABEL_MIN_KM, GAP_LABELS, LAYERS, detection_hexagons
from layers.snapshot import EXPORT_FILES, export_bytes, render_snapshot, snapshot_bytes
from layers.snapshot.map_page import map_page
from layers.snapshot.output import MATPLOTLIB_RC
from layers.snapshot.view import prepare_view
from layers.style import GAP, partner_colors

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
GEOD = pyproj.Geod(ellps="WGS84")
BANNER = "UNCLASSIFIED // EXERCISE"
INPUTS = [
    "--border",
    str(SAMPLE / "border.geojson"),
    "--sensors",
    str(SAMPLE / "sensors.csv"),
    "--sectors",
    str(SAMPLE / "sectors.geojson"),
    "--detections",
    str(SAMPLE / "detections.csv"),
]


@pytest.fixture(scope="module")
def sample():
    sc = load_scenario(SAMPLE)
    result = analyse(sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections)
    return sc, result


@pytest.fixture(scope="module")
def png(sample, tmp_path_factory):
    sc, result = sample
    before = copy.deepcopy(result.report), {k: len(v) for k, v in result.layers.items()}
    out = tmp_path_factory.mktemp("snap") / "joint.png"
    summary = render_snapshot(result, out=out, title=sc.name)
    with Image.open(out) as img:
        info = dict(img.info)
        pixels = np.asarray(img.convert("RGB")).astype(int)
    return summary, pixels, info, before


@pytest.fixture(scope="module")
def pdf(sample):
    sc, result = sample
    buf = io.BytesIO()
    names = {p: v["name"] for p, v in sc.partners.items()}
    summary = render_snapshot(result, out=buf, fmt="pdf", title=sc.name, partner_names=names)
    reader = PdfReader(io.BytesIO(buf.getvalue()))
    return summary, reader, [page.extract_text() for page in reader.pages]


@pytest.fixture(scope="module")
def partner_png(sample):
    _, result = sample
    buf = io.BytesIO()
    summary = render_snapshot(result, out=buf, fmt="png", partner="LTU")
    with Image.open(io.BytesIO(buf.getvalue())) as img:
        return summary, np.asarray(img.convert("RGB")).astype(int)


def to_pixels(summary: dict, lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Pixel (column, row) of lon/lat points, from the map's CRS, extent and frame on the page."""
    x, y = pyproj.Transformer.from_crs("EPSG:4326", summary["crs"], always_xy=True).transform(
        lon, lat
    )
    xmin, ymin, xmax, ymax = summary["map_extent"]
    left, top, right, bottom = summary["map_box"]
    col = left + (np.asarray(x) - xmin) / (xmax - xmin) * (right - left)
    row = top + (ymax - np.asarray(y)) / (ymax - ymin) * (bottom - top)
    return col, row


def is_colour(pixels: np.ndarray, rgb, tol: int = 6) -> np.ndarray:
    return (np.abs(pixels - np.asarray(rgb[:3])) <= tol).all(axis=-1)


# ---- PNG -------------------------------------------------------------------------------------


def test_png_is_wide_enough_at_200_dpi(png):
    summary, pixels, info, _ = png
    height, width, _ = pixels.shape
    assert width >= 2400
    assert (summary["width_px"], summary["height_px"]) == (width, height)
    assert summary["dpi"] == 200 and summary["pages"] == 1
    assert [round(v) for v in info["dpi"]] == [200, 200]
    assert width > height  # landscape


def test_png_map_is_not_blank(png):
    summary, pixels, _, _ = png
    left, top, right, bottom = (round(v) for v in summary["map_box"])
    assert right - left > 1500 and bottom - top > 1200
    area = pixels[top + 3 : bottom - 3, left + 3 : right - 3]
    colours = np.unique(area.reshape(-1, 3), axis=0)
    assert len(colours) > 200
    assert area.std() > 20


def test_gap_colour_is_drawn_on_the_gaps_and_nowhere_else(png, sample):
    summary, pixels, _, _ = png
    _, result = sample
    longest = sorted(result.report["gaps"], key=lambda g: -g["length_km"])[:8]
    mid = np.array([g["midpoint"] for g in longest])
    cols, rows = to_pixels(summary, mid[:, 0], mid[:, 1])
    gap = is_colour(pixels, GAP).copy()
    for c, r, g in zip(cols, rows, longest, strict=True):
        c, r = round(c), round(r)
        assert gap[r - 4 : r + 5, c - 4 : c + 5].any(), (
            f"no gap colour at the midpoint of the gap at km {g['start_km']}"
        )
    # The labels "G1 26.9 km" of the longest gaps sit right of their midpoints on crimson
    # boxes: a solid run of gap colour there, and nowhere else off the gap lines.
    left, top, right, bottom = (round(v) for v in summary["map_box"])
    px = (right - left) / 1000  # page px per px of the app's map
    for c, r in zip(cols, rows, strict=True):
        c, r = round(c), round(r)
        box = gap[r - round(12 * px) : r + round(12 * px), c + round(4 * px) : c + round(140 * px)]
        assert (box.sum(axis=1) > 25 * px).sum() >= 10 * px, (
            "no crimson label box beside the gap midpoint"
        )
        gap[r - round(12 * px) : r + round(12 * px), c + round(4 * px) : c + round(140 * px)] = (
            False
        )
    rr, cc = np.nonzero(gap[top:bottom, left:right])
    assert rr.size > 500
    # Every other gap-coloured pixel of the map lies on a gap line (within its drawn half-width).
    lines = []
    for line in shapely.get_parts(
        shapely.segmentize(result.layers["gaps"].geometry.to_numpy(), 0.002)
    ):
        xy = shapely.get_coordinates(line)
        c, r = to_pixels(summary, xy[:, 0], xy[:, 1])
        lines.append(
            shapely.LineString(np.column_stack([c, r]))
            if len(xy) > 1
            else shapely.Point(c[0], r[0])
        )
    near = shapely.buffer(shapely.union_all(lines), 14.0)
    inside = shapely.contains_xy(near, cc + left + 0.5, rr + top + 0.5)
    assert inside.mean() > 0.999


def test_rendering_does_not_change_the_analysis(png, sample):
    _, _, _, (report, sizes) = png
    _, result = sample
    assert result.report == report
    assert {k: len(v) for k, v in result.layers.items()} == sizes


def test_scale_bar_matches_geodesic_length(png):
    summary, _, _, _ = png
    bar = summary["scale_bar"]
    assert bar["km"] in (1, 2, 5, 10, 20, 50, 100, 200, 500)
    lon, lat = bar["centre"]
    to_map = pyproj.Transformer.from_crs("EPSG:4326", summary["crs"], always_xy=True)
    cx, cy = to_map.transform(lon, lat)
    (lon0, lon1), (lat0, lat1) = to_map.transform(
        [cx - bar["map_units"] / 2, cx + bar["map_units"] / 2], [cy, cy], direction="INVERSE"
    )
    _, _, ground_m = GEOD.inv(lon0, lat0, lon1, lat1)
    assert ground_m == pytest.approx(bar["km"] * 1000.0, rel=2e-4)
    # and the scale the bar used agrees with PROJ's own scale factor at the centre
    factors = pyproj.Proj(summary["crs"]).get_factors(lon, lat)
    assert bar["map_units"] / (bar["km"] * 1000.0) == pytest.approx(
        factors.meridional_scale, rel=1e-4
    )


def test_north_arrow_points_along_the_meridian(png):
    summary, _, _, _ = png
    lon, lat = summary["scale_bar"]["centre"]
    to_map = pyproj.Transformer.from_crs("EPSG:4326", summary["crs"], always_xy=True)
    lon_n, lat_n, _ = GEOD.fwd(lon, lat, 0.0, 5000.0)
    (x0, x1), (y0, y1) = to_map.transform([lon, lon_n], [lat, lat_n])
    expected = np.degrees(np.arctan2(x1 - x0, y1 - y0))
    assert summary["north_deg"] == pytest.approx(expected, abs=0.02)
    convergence = pyproj.Proj(summary["crs"]).get_factors(lon, lat).meridian_convergence
    assert abs(summary["north_deg"]) == pytest.approx(abs(convergence), abs=0.02)


def test_partner_view_mutes_other_partners(partner_png, png, sample):
    """Only what leads is drawn at full strength: count pixels of each partner's exact colour."""
    _, result = sample
    colors = partner_colors(result.report["partners"])

    def full_strength(summary: dict, pixels: np.ndarray) -> dict[str, int]:
        left, top, right, bottom = (round(v) for v in summary["map_box"])
        area = pixels[top:bottom, left:right]
        return {p: int(is_colour(area, rgb, tol=4).sum()) for p, rgb in colors.items()}

    joint = full_strength(png[0], png[1])
    ltu = full_strength(*partner_png)
    assert partner_png[0]["partner"] == "LTU"
    assert all(n > 300 for n in joint.values()), joint  # every partner's sensors at full colour
    assert ltu["LTU"] > 300
    for p in colors:
        if p != "LTU":
            assert ltu[p] < joint[p] / 20, (p, ltu[p], joint[p])


# ---- PDF -------------------------------------------------------------------------------------


def test_pdf_has_two_landscape_a4_pages(pdf):
    summary, reader, _ = pdf
    assert summary["pages"] == 2 == len(reader.pages)
    for page in reader.pages:
        w, h = float(page.mediabox.width), float(page.mediabox.height)
        assert (w, h) == pytest.approx((841.89, 595.28), abs=0.5)  # A4 landscape, pt
    assert summary["page_size_mm"] == [297, 210]


def test_pdf_text_has_banner_title_and_a_legend_entry_for_each_layer(pdf, sample):
    summary, _, texts = pdf
    sc, _ = sample
    for text in texts:
        assert text.count(BANNER) >= 2  # top and bottom of every page
        assert sc.name in text
    drawn = [k for k in summary["layers"] if k in LAYERS]
    assert {
        "basemap",
        "corridor",
        "sectors",
        "footprints",
        "gaps",
        "border",
        "sensors",
        "detections",
    } <= set(drawn)
    # the app's wording (layers.legend), one entry per layer drawn
    expected = {
        "gaps": "Gap: border no sensor watches",
        "border": "Border, watched",
        "sensors": "Sensor (partner colour; grey: inactive)",
        "detections": "Detections per hexagon",
        "gap_areas": "Blind area in corridor",
        "footprints": "Sensor footprint (partner colour)",
        "sectors": "Patrol sector (partner colour, labelled)",
        "corridor": "Corridor (5 km each side)",
        "basemap": "Land · sea (country outlines)",
    }
    assert set(drawn) == set(expected)
    page = texts[0].replace("\n", " ")
    for label in expected.values():
        assert label in summary["legend"]
        assert label in page
    for word in (
        "Headline",
        "Coverage",
        "Corridor depth",
        "5 km each side",
        "Generated",
        "(UTC)",
        "km",
        "State Border Guard Service of Lithuania",
        "Unassigned / contested",
    ):
        assert word in page
    assert "(joint)" not in page  # the joint view's figures are all the border's
    assert "detections 2026-11-01 00:00" in page


def test_pdf_page_two_lists_gaps_longest_first_and_every_sector(pdf, sample):
    _, _, texts = pdf
    _, result = sample
    page = texts[1]
    assert "Gaps in the border, longest first" in page and "Coverage by sector" in page
    lengths = sorted((g["length_km"] for g in result.report["gaps"]), reverse=True)
    positions = [page.index(f"{v:,.2f}") for v in lengths[:5]]
    assert positions == sorted(positions)
    for sec in result.report["sectors"]:
        assert sec["sector_id"] in page


def test_pdf_is_vector(pdf):
    _, reader, _ = pdf
    page = reader.pages[0]
    xobjects = page["/Resources"].get("/XObject", {})
    images = [k for k, v in xobjects.items() if v.get_object().get("/Subtype") == "/Image"]
    assert images == []  # no hillshade asked for: nothing rasterised


# ---- the map page drawn on its own: labels, dots, legend, headline -------------------------


@dataclasses.dataclass
class Page:
    ax: object
    info: dict
    view: object
    pixels: np.ndarray  # RGB, rows from the top of the page
    renderer: object
    pt_per_px: float  # points on paper per pixel of the app's map
    m_per_pt: float  # map metres per point

    def texts(self, gid: str) -> list:
        return [t for t in self.ax.texts if t.get_gid() == gid]

    def dots(self, gid: str) -> list:
        return [line for line in self.ax.lines if line.get_gid() == gid]

    def box(self, artist) -> tuple[int, int, int, int]:
        """An artist's drawn box as (row0, row1, col0, col1) of the page's pixels."""
        ext = artist.get_window_extent(self.renderer)
        return (
            round(len(self.pixels) - ext.y1),
            round(len(self.pixels) - ext.y0),
            round(ext.x0),
            round(ext.x1),
        )


def draw_page(result, *, partner=None, shown=None, extent=None) -> Page:
    """The snapshot's map page as the PNG draws it, with its figure kept for inspection."""
    view = prepare_view(
        result,
        partner=partner,
        shown=shown,
        title=None,
        banner=BANNER,
        extent=extent,
        dem=None,
        partner_names=None,
    )
    w, h = snapshot.PAPER_IN["a4"]
    scale = snapshot.PNG_WIDTH_PX / snapshot.PNG_DPI / w
    with rc_context(MATPLOTLIB_RC):
        fig = Figure(figsize=(w * scale, h * scale), dpi=snapshot.PNG_DPI)
        info = map_page(fig, view, unit=scale)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        pixels = np.asarray(canvas.buffer_rgba())[..., :3].astype(int)
        renderer = canvas.get_renderer()
    left, _, right, _ = info["map_box"]
    xmin, _, xmax, _ = info["map_extent"]
    width_pt = (right - left) / snapshot.PNG_DPI * 72.0
    return Page(
        fig.axes[0], info, view, pixels, renderer, width_pt / 1000.0, (xmax - xmin) / width_pt
    )


@pytest.fixture(scope="module", params=[None, "POL"], ids=["joint", "POL"])
def page(sample, request):
    _, result = sample
    return request.param, draw_page(result, partner=request.param)


def test_gap_labels_are_the_views_ranks_white_on_crimson_boxes(page, sample):
    partner, pg = page
    _, result = sample
    table = headline(result.report, partner).gaps  # the app's gap table, G1 first
    labels = pg.texts("gap_labels")
    # Each label is its gap's row of the table (same G-number and km); the longest is always
    # labelled; shorter ones only from GAP_LABEL_MIN_KM and where a longer gap's label is not.
    ranks = [int(t.get_text().split()[0][1:]) for t in labels]
    assert ranks[0] == 1 and ranks == sorted(ranks) and max(ranks) <= GAP_LABELS
    gaps = [table[r - 1] for r in ranks]
    assert [t.get_text() for t in labels] == [
        f"G{r} {g['length_km']:,.1f} km" for r, g in zip(ranks, gaps, strict=True)
    ]
    assert all(g["length_km"] >= GAP_LABEL_MIN_KM for g in gaps)
    assert len(labels) >= 2
    dpi = snapshot.PNG_DPI
    to_map = pyproj.Transformer.from_crs("EPSG:4326", pg.info["crs"], always_xy=True)
    for t, g in zip(labels, gaps, strict=True):
        patch = t.get_bbox_patch()
        assert patch is not None, t.get_text()
        assert patch.get_facecolor() == pytest.approx(np.array(GAP) / 255)
        assert t.get_color() == pytest.approx((1.0, 1.0, 1.0, 1.0))
        assert t.get_fontweight() == "bold"
        assert t.get_horizontalalignment() == "left"
        assert t.get_fontsize() == pytest.approx(12 * pg.pt_per_px)
        # anchored 9 px of the app's map right of the gap's midpoint, on its row
        anchor = t.get_transform().transform(t.get_position())
        mid = pg.ax.transData.transform(to_map.transform(*g["midpoint"]))
        assert anchor - mid == pytest.approx([9 * pg.pt_per_px * dpi / 72, 0.0], abs=0.01)
        # the box pads the text by 3 px of the app's map left and right, 1 px above and below
        text, box = t.get_window_extent(pg.renderer), patch.get_window_extent(pg.renderer)
        pad = np.array([text.x0 - box.x0, box.x1 - text.x1, box.y1 - text.y1, text.y0 - box.y0])
        assert pad == pytest.approx(np.array([3, 3, 1, 1]) * pg.pt_per_px * dpi / 72, abs=0.6)
        # and it reads as white on crimson on the rendered page
        r0, r1, c0, c1 = pg.box(patch)
        inside = pg.pixels[r0 + 2 : r1 - 2, c0 + 2 : c1 - 2]
        assert is_colour(inside, GAP, tol=10).mean() > 0.45, t.get_text()
        assert is_colour(inside, (255, 255, 255), tol=10).mean() > 0.08, t.get_text()


def test_sector_labels_are_two_lines_in_the_partners_dark_colour_on_a_translucent_box(page, sample):
    partner, pg = page
    _, result = sample
    colours = partner_colors(result.report["partners"])
    labels = {t.get_text(): t for t in pg.texts("sector_labels")}
    sectors = result.layers["sectors"]
    assert len(labels) == len(sectors) > 0
    for sid, p, name in zip(sectors["sector_id"], sectors["partner"], sectors["name"], strict=True):
        t = labels[f"{sid}\n{name}"]
        rgb = np.array(colours[p]) / 255
        r, g, b, a = t.get_color()
        assert np.allclose([r, g, b], rgb * 0.55, atol=0.01)  # the partner's hue, darkened
        assert a == pytest.approx(
            1.0 if partner in (None, p) else 110 / 255, abs=0.01
        )  # others muted
        assert t.get_bbox_patch().get_facecolor() == pytest.approx((1.0, 1.0, 1.0, 150 / 255))
        assert t.get_horizontalalignment() == "center"
        assert (
            t.get_window_extent(pg.renderer).height > 1.8 * t.get_fontsize() * snapshot.PNG_DPI / 72
        )  # two lines


def test_place_labels_sit_beside_their_dots(page):
    # Right of the dot, or left of it where the map moved the name out of another label's way.
    _, pg = page
    labels = pg.texts("place_labels")
    (dots,) = pg.dots("places")
    assert len(labels) == len(dots.get_xdata()) > 5
    sides = []
    for t, x, y in zip(labels, dots.get_xdata(), dots.get_ydata(), strict=True):
        side = {"left": 1, "right": -1}[t.get_horizontalalignment()]
        sides.append(side)
        anchor = t.get_transform().transform(t.get_position())
        dot = pg.ax.transData.transform((x, y))
        assert anchor - dot == pytest.approx(
            [side * 5 * pg.pt_per_px * snapshot.PNG_DPI / 72, 0.0], abs=0.01
        )
    assert sides.count(1) > sides.count(-1)  # most names sit right of their dot


@pytest.mark.parametrize(
    ("extent", "clamp"),
    [(None, "min"), ((24.90, 54.08, 25.10, 54.20), "max")],
    ids=["whole-border", "zoomed-in"],
)
def test_sensor_dots_are_clamped_to_3_to_8_px_of_the_app(sample, extent, clamp):
    """600 m is below 3 px over the whole border and above 8 px zoomed in: the clamp holds both ends."""
    _, result = sample
    pg = draw_page(result, extent=extent, shown=("sensors", "border", "detections"))
    lines = pg.dots("sensors")
    assert lines
    radius_pt = np.array([line.get_markersize() / 2 for line in lines])
    unclamped = 600.0 / pg.m_per_pt
    if clamp == "min":
        assert unclamped < 3 * pg.pt_per_px
        assert radius_pt == pytest.approx(3 * pg.pt_per_px)
    else:
        assert unclamped > 8 * pg.pt_per_px
        assert radius_pt == pytest.approx(8 * pg.pt_per_px)
    # Zoomed in, the sensor letters and the detection points show, as in the browser, and
    # the legend lists the points then and only then.
    legend = pg.info["legend"]
    points = [
        "zoomed in, as points: in a gap",
        "zoomed in, as points: in coverage",
        "zoomed in, as points: outside the corridor",
    ]
    if clamp == "max":
        assert pg.texts("sensor_symbols")
        assert pg.dots("detection_points_gap")
        assert set(points) <= set(legend)
    else:
        assert not pg.texts("sensor_symbols")
        assert not pg.dots("detection_points_gap")
        assert not set(points) & set(legend)


def test_legend_lists_the_new_layers_as_the_app_words_them(page, sample):
    _, pg = page
    _, result = sample
    legend = pg.info["legend"]
    counts = detection_hexagons(result)["count"].to_numpy()
    top = int(np.percentile(counts, 98))
    for line in (
        "Gap: border no sensor watches",
        "Border, watched",
        "Detections per hexagon",
        f"light: 1 · dark: {top:,} or more",
        "Detections in gaps (circle area: count)",
        "Town or city (GeoNames)",
    ):
        assert line in legend
    # the gap labels' note comes right under the gap entry; each line once
    i = legend.index("Gap: border no sensor watches")
    assert legend[i + 1].startswith("G1, G2")
    assert "gap table" in legend[i + 1]
    assert len(legend) == len(set(legend))
    for drawn in (pg.dots("gap_detections"), pg.dots("places"), pg.texts("gap_labels")):
        assert drawn


def test_legend_has_an_entry_exactly_when_its_layer_is_drawn(sample):
    _, result = sample
    pg = draw_page(result, shown=("border", "detections"))
    legend = pg.info["legend"]
    assert not any(line.startswith(("Gap", "G1")) for line in legend)  # gaps not shown
    assert "Town or city (GeoNames)" not in legend
    assert "Land · sea (country outlines)" not in legend
    assert not pg.dots("places")
    assert legend[:2] == ["Border, watched", "thin dark line: the border itself"]
    assert "Detections in gaps (circle area: count)" in legend


def test_a_view_without_gaps_says_so_and_has_no_gap_labels():
    import geopandas as gpd

    border = gpd.GeoDataFrame(
        geometry=[shapely.LineString([(24.0, 54.0), (24.2, 54.05)])], crs=4326
    )
    sensors = gpd.GeoDataFrame(
        {"sensor_id": ["a"], "partner": ["P"], "kind": ["tower"], "range_m": [30_000.0]},
        geometry=[shapely.Point(24.1, 54.02)],
        crs=4326,
    )
    result = analyse(border, sensors)
    assert result.report["gaps"] == []
    pg = draw_page(result, shown=("border", "gaps", "sensors"))
    legend = pg.info["legend"]
    assert "Gap: border no sensor watches: none in this view" in legend
    assert not any(line.startswith("G1") for line in legend)
    assert not pg.texts("gap_labels")
    assert "Border, watched" in legend
    assert "Sensor (partner colour; grey: inactive)" in legend


def test_headline_names_border_wide_figures_joint_in_a_partner_view(sample):
    _, result = sample
    report = result.report
    joint = draw_page(result, shown=("border",)).info["headline"]
    assert joint["Partner overlap"] == f"{report['border']['overlap_km']:,.1f} km"
    assert joint["Unassigned / contested"] == (
        f"{report['unassigned_border_km']:,.1f} / {report['contested_border_km']:,.1f} km"
    )
    own = report["partners"]["POL"]
    pol = draw_page(result, partner="POL", shown=("border",)).info["headline"]
    assert pol["Partner overlap"] == f"{own['sector_overlap_km']:,.1f} km"  # POL's own
    assert pol["Unassigned (joint) / contested with POL"] == (
        f"{report['unassigned_border_km']:,.1f} / {own['contested_km']:,.1f} km"
    )
    # A report made before the per-partner figures: overlap and contested are the border's too.
    old = copy.deepcopy(report)
    for p in old["partners"].values():
        p.pop("sector_overlap_km"), p.pop("contested_km")
    legacy = draw_page(
        dataclasses.replace(result, report=old), partner="POL", shown=("border",)
    ).info["headline"]
    assert legacy["Partner overlap (joint)"] == f"{report['border']['overlap_km']:,.1f} km"
    assert legacy["Unassigned (joint) / contested (joint)"] == (
        f"{report['unassigned_border_km']:,.1f} / {report['contested_border_km']:,.1f} km"
    )


# ---- options and bad input -------------------------------------------------------------------


def test_letter_paper_and_an_extent(sample):
    _, result = sample
    buf = io.BytesIO()
    summary = render_snapshot(
        result,
        out=buf,
        fmt="pdf",
        paper="letter",
        extent=(25.0, 54.0, 26.0, 54.6),
        shown=("border", "gaps"),
    )
    reader = PdfReader(io.BytesIO(buf.getvalue()))
    assert (float(reader.pages[0].mediabox.width), float(reader.pages[0].mediabox.height)) == (
        792.0,
        612.0,
    )
    assert summary["layers"] == ["border", "gaps"]
    assert summary["legend"] == [
        "Gap: border no sensor watches",
        "G1, G2 … : the longest gaps, as in the gap table",
        "Border, watched",
        "thin dark line: the border itself",
    ]
    # the map shows at least the extent asked for
    x, y = pyproj.Transformer.from_crs("EPSG:4326", summary["crs"], always_xy=True).transform(
        [25.0, 26.0, 25.0, 26.0], [54.0, 54.0, 54.6, 54.6]
    )
    xmin, ymin, xmax, ymax = summary["map_extent"]
    assert xmin <= min(x) and max(x) <= xmax and ymin <= min(y) and max(y) <= ymax


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"fmt": "svg"}, "expected one of png, pdf"),
        ({"partner": "XYZ"}, "unknown partner 'XYZ'"),
        ({"shown": ("gaps", "roads")}, "unknown.*roads"),
        ({"extent": (26.0, 54.0, 25.0, 55.0)}, "west < east"),
        ({"paper": "a3"}, "a4, letter"),
    ],
)
def test_bad_options_are_refused_with_a_message(sample, options, match):
    _, result = sample
    with pytest.raises(ValidationError, match=match):
        render_snapshot(result, out=io.BytesIO(), **{"fmt": "png", **options})


def test_file_name_and_format_must_agree(sample, tmp_path):
    _, result = sample
    with pytest.raises(ValidationError, match=r"ends in \.png but the format is pdf"):
        render_snapshot(result, out=tmp_path / "x.png", fmt="pdf")
    with pytest.raises(ValidationError, match=r"\.png or \.pdf"):
        render_snapshot(result, out=tmp_path / "x.jpg")


def test_data_export_of_a_partner_view_as_one_file(sample):
    _, result = sample
    data = export_bytes(result, fmt="csv", partner="LTU", shown=("gaps", "sectors", "border"))
    assert EXPORT_FILES["csv"] == (".csv.zip", "application/zip")

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["gaps.csv", "sectors.csv"]
        sectors = zf.read("sectors.csv").decode()
    assert "LTU-1" in sectors and "POL-1" not in sectors
    with pytest.raises(ValidationError, match="no exported layer is shown"):
        export_bytes(result, fmt="gpkg", shown=("border",))


def test_snapshot_bytes(sample):
    _, result = sample
    assert snapshot_bytes(result, fmt="png", shown=("border",))[:8] == b"\x89PNG\r\n\x1a\n"


# ---- command line ----------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "geo", "snapshot", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_cli_renders_a_partner_pdf(tmp_path, sample):
    _, result = sample
    out = tmp_path / "brief" / "ltu.pdf"
    proc = run_cli(
        *INPUTS,
        "--partner",
        "LTU",
        "--title",
        "Morning brief 7",
        "--banner",
        "SECRET // TEST ONLY",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["out"] == str(out) and summary["format"] == "pdf" and summary["pages"] == 2
    assert summary["partner"] == "LTU" and summary["seconds"] > 0
    texts = [p.extract_text() for p in PdfReader(out).pages]
    assert "Morning brief 7" in texts[0] and texts[0].count("SECRET // TEST ONLY") >= 2
    assert "LTU view" in texts[0] and "sectors of LTU" in texts[0]
    # border in no sector is the border's figure (joint); the contested border is LTU's own
    assert "Unassigned (joint) /" in texts[0]
    assert "contested with LTU" in texts[0]
    # Page 2 holds only what the LTU view shows: its gaps and its sectors.
    ltu_gaps = [g for g in result.report["gaps"] if "LTU" in g["partners"]]
    assert f"longest first ({len(ltu_gaps)})" in texts[1]
    shown_ids = {s for g in ltu_gaps for s in g["sector_ids"]}
    for sec in result.report["sectors"]:
        if sec["partner"] == "LTU":
            assert sec["sector_id"] in texts[1]
        elif sec["sector_id"] not in shown_ids:
            assert sec["sector_id"] not in texts[1]


def test_cli_refuses_another_extension(tmp_path):
    proc = run_cli(*INPUTS, "--out", str(tmp_path / "x.tiff"))
    assert proc.returncode == 2
    assert "--out" in proc.stderr and ".png or .pdf" in proc.stderr and ".tiff" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.tiff").exists()


def test_cli_refuses_an_unknown_partner(tmp_path):
    proc = run_cli(*INPUTS, "--partner", "NOPE", "--out", str(tmp_path / "x.png"))
    assert proc.returncode == 2
    assert "unknown partner 'NOPE'" in proc.stderr and "LTU" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_long_gap_table_ends_with_how_many_more():
    import geopandas as gpd

    border = gpd.GeoDataFrame(geometry=[shapely.LineString([(20.0, 50.0), (23.0, 50.0)])], crs=4326)
    # 70 sensors of 600 m range spread along the 215 km geodesic: 71 gaps
    lonlat = np.array(GEOD.npts(20.0, 50.0, 23.0, 50.0, 70))
    sensors = gpd.GeoDataFrame(
        {
            "sensor_id": [f"s{i}" for i in range(len(lonlat))],
            "partner": "P",
            "kind": "camera",
            "range_m": 600.0,
        },
        geometry=gpd.points_from_xy(lonlat[:, 0], lonlat[:, 1]),
        crs=4326,
    )
    result = analyse(border, sensors)
    n = len(result.report["gaps"])
    assert n > 60
    reader = PdfReader(io.BytesIO(snapshot_bytes(result, fmt="pdf")))
    page = reader.pages[1].extract_text()
    more = re.search(r"… and (\d+) more", page)
    assert more is not None
    fits = n - int(more.group(1))
    assert 25 <= fits < n
    assert f"longest first ({n})" in page


def test_past_the_point_limit_detections_are_drawn_as_hexagons():
    import geopandas as gpd
    import pandas as pd

    border = gpd.GeoDataFrame(geometry=[shapely.LineString([(24.0, 54.0), (24.6, 54.2)])], crs=4326)
    sensors = gpd.GeoDataFrame(
        {"sensor_id": ["a"], "partner": ["P"], "kind": ["tower"], "range_m": [9000.0]},
        geometry=[shapely.Point(24.2, 54.07)],
        crs=4326,
    )
    rng = np.random.default_rng(7)
    n = 60_000
    detections = gpd.GeoDataFrame(
        {"time": pd.date_range("2026-11-01", periods=n, freq="s", tz="UTC")},
        geometry=gpd.points_from_xy(rng.uniform(24.0, 24.6, n), rng.uniform(53.95, 54.25, n)),
        crs=4326,
    )
    result = analyse(border, sensors, detections=detections)
    buf = io.BytesIO()
    summary = render_snapshot(result, out=buf, fmt="pdf")
    assert "detections" in summary["layers"]
    assert "Detections per hexagon" in summary["legend"]
    assert len(PdfReader(io.BytesIO(buf.getvalue())).pages) == 2


def test_terrain_view_names_the_dem_and_draws_its_layers(sample):
    sc, _ = sample
    result = analyse(
        sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections, dem=sc.dem
    )
    shown = ("basemap", "hillshade", "coverage_count", "border", "gaps")
    buf = io.BytesIO()
    summary = render_snapshot(result, out=buf, fmt="pdf", shown=shown, dem=sc.dem)
    assert summary["layers"] == ["basemap", "hillshade", "coverage_count", "border", "gaps"]
    reader = PdfReader(io.BytesIO(buf.getvalue()))
    text = reader.pages[0].extract_text().replace("\n", " ")
    assert "Terrain (hillshade)" in text
    assert "Line of sight: sensors seeing each place" in text
    assert "line of sight over DEM dem.tif" in text and "target 2 m above ground" in text
    images = [
        v.get_object()
        for v in reader.pages[0]["/Resources"]["/XObject"].values()
        if v.get_object().get("/Subtype") == "/Image"
    ]
    assert len(images) == 2  # the two terrain rasters; everything else stays vector


def test_the_detection_window_is_printed_in_the_operation_s_zone(sample):
    """The subtitle's window is the same instants as the UTC one, on the zone's clock, named."""
    _, result = sample
    det = result.all_detections["time"]
    views = {
        tz: prepare_view(
            result,
            partner=None,
            shown=None,
            title=None,
            banner=BANNER,
            extent=None,
            dem=None,
            partner_names=None,
            timezone=tz,
        )
        for tz in ("UTC", "America/New_York")
    }
    on_clock = {
        tz: f"{det.min().tz_convert(tz):%Y-%m-%d %H:%M} – {det.max().tz_convert(tz):%Y-%m-%d %H:%M}"
        for tz in views
    }
    assert views["UTC"].time_text == f"{on_clock['UTC']} UTC (all)"
    assert (
        views["America/New_York"].time_text
        == f"{on_clock['America/New_York']} America/New_York (all)"
    )
    assert on_clock["UTC"] != on_clock["America/New_York"]
    with pytest.raises(ValidationError, match="unknown time zone"):
        snapshot_bytes(result, fmt="png", timezone="Mars/Olympus")


def test_snapshot_help_states_the_png_size_it_writes() -> None:
    from layers.snapshot import PNG_DPI, PNG_WIDTH_PX

    done = subprocess.run(
        [sys.executable, "-m", "geo", "snapshot", "--help"],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, check=True,
    )  # fmt: skip
    text = " ".join(done.stdout.split())
    assert f"({PNG_WIDTH_PX:,} px wide, {PNG_DPI} dpi)" in text, text


# ---- past the map's point limit: the window's hexagons (issue 19) ---------------------------


@pytest.fixture
def frozen_clock(monkeypatch):
    """Renders stamped with one moment, so that two renders of one view are byte-identical."""
    import datetime as dt

    import layers.snapshot.view as view_module

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime(2026, 11, 5, 12, 0, tzinfo=tz)

    monkeypatch.setattr(view_module, "datetime", Frozen)


def _map_pixels(summary: dict, png: bytes) -> np.ndarray:
    left, top, right, bottom = (round(v) for v in summary["map_box"])
    with Image.open(io.BytesIO(png)) as img:
        pixels = np.asarray(img.convert("RGB")).astype(int)
    return pixels[top + 2 : bottom - 2, left + 2 : right - 2]


def _png(result, **options) -> tuple[dict, bytes]:
    buf = io.BytesIO()
    summary = render_snapshot(result, out=buf, fmt="png", **options)
    return summary, buf.getvalue()


@pytest.mark.usefixtures("frozen_clock")
def test_below_the_limit_the_window_s_hexagons_change_nothing(sample):
    _, result = sample
    det = result.layers["detections"]
    plain = _png(result, partner="LTU")
    given = _png(
        result, partner="LTU", hexagons=detection_hexagons(result), detections_total=len(det)
    )
    assert given[1] == plain[1]  # byte for byte
    assert "counted in hexagons" not in given[0]["subtitle"]


@pytest.mark.usefixtures("frozen_clock")
def test_past_the_limit_the_map_draws_the_hexagons_of_every_detection(sample):
    # A window's analysis as geo.mapview.map_window makes it past the limit: its report counts
    # every detection, its layer holds the first 300. The truth: the snapshot of the analysis
    # holding them all (the same hexagons, counting every detection).
    _, result = sample
    det = result.layers["detections"]
    n = len(det)
    cut = dataclasses.replace(result, layers={**result.layers, "detections": det.iloc[:300]})
    hexes = detection_hexagons(result)
    truth = _png(result)
    got = _png(cut, hexagons=hexes, detections_total=n)
    before = _png(cut)  # what the snapshot drew before: the hexagons of the 300 held
    assert np.array_equal(_map_pixels(*got), _map_pixels(*truth))
    assert not np.array_equal(_map_pixels(*before), _map_pixels(*truth))
    note = (
        f"{n:,} detections counted in hexagons "
        f"({hexes['count'].min():,}–{hexes['count'].max():,} per hexagon)"
    )
    assert note in got[0]["legend"]
    assert f"{n:,} detections counted in hexagons" in got[0]["subtitle"]
    assert not any("counted in hexagons" in line for line in truth[0]["legend"])
    assert "Detections per hexagon" in got[0]["legend"]
    # the headline counts every detection, as the window's report does
    assert got[0]["headline"] == truth[0]["headline"]
    with Image.open(io.BytesIO(got[1])) as img:
        assert f"{n:,} detections counted in hexagons" in img.info["Comment"]


def test_without_a_window_the_subtitle_prints_the_span_given(sample):
    # The Export page without a window holds the scenario's own rows only: the span of what
    # the viewer may see comes from the store (ui.shared.map_times), not from the rows held.
    import pandas as pd

    _, result = sample
    span = (pd.Timestamp("2026-10-30T05:00Z"), pd.Timestamp("2026-11-09T18:00Z"))
    view = prepare_view(
        result, partner=None, shown=("border",), title=None, banner=BANNER, extent=None,
        dem=None, partner_names=None, detections_span=span,
    )  # fmt: skip
    assert view.time_text == "2026-10-30 05:00 – 2026-11-09 18:00 UTC (all)"
    plain = prepare_view(
        result, partner=None, shown=("border",), title=None, banner=BANNER, extent=None,
        dem=None, partner_names=None,
    )  # fmt: skip
    det = result.all_detections["time"]
    assert plain.time_text.startswith(det.min().strftime("%Y-%m-%d %H:%M"))
