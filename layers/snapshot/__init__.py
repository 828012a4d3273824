"""Briefing snapshots: one view of the map as a PNG or a PDF, rendered on the server.

A snapshot draws exactly what the app's map draws: the deck of the view
(:func:`layers.map.build_map`, the same function the app caches) is turned into its deck.gl
JSON, the very spec the browser receives, and every layer of it is drawn with matplotlib. So
the layers, colours, muted partners and any filtering of a partner's view are the app's by
construction, not by a second copy of the rules. Around the map come a title, the partner and
the time window, a legend of every layer drawn (the app's own, :func:`layers.legend.legend_entries`,
less what shows only zoomed in), a km scale bar, a north arrow, the analysis
parameters, the headline numbers, the time of rendering (UTC) and a classification banner at
the top and bottom of every page. A PDF has a second page: the gaps of the view, longest
first, and the coverage of each sector.

Projection
    The map is drawn in the analysis CRS (``result.acrs``), not in the app's Web Mercator.
    It is conformal and fitted to the border, so its scale is within 0.05 % of true over the
    border and one scale bar is right everywhere along it; in Web Mercator the scale changes
    by about 5 % between the north and south ends of the sample border. Grid north is not true
    north in it: the north arrow points along the meridian at the map centre.

Output
    PNG: 2,600 px wide at 200 dpi (A4 proportions). PDF: A4 or Letter landscape, vector
    (text as TrueType, so it can be searched and copied), except the optional terrain
    hillshade, which is an image.

Matplotlib is used through its object API only (a :class:`~matplotlib.figure.Figure` per
page, no pyplot), and renders are serialised by a lock: matplotlib's settings are global.

Modules
    :mod:`~layers.snapshot.render` (:func:`render_snapshot`, :func:`snapshot_bytes`) writes the
    file; :mod:`~layers.snapshot.output` holds the formats, paper sizes and resolution;
    :mod:`~layers.snapshot.view` computes the view once; :mod:`~layers.snapshot.map_page`
    lays out page 1, drawing the deck with :mod:`~layers.snapshot.drawer`, the banners,
    header, scale bar and north arrow with :mod:`~layers.snapshot.furniture` and the legend,
    headline and parameters with :mod:`~layers.snapshot.side_panel` (rows written by
    :mod:`~layers.snapshot.column`); :mod:`~layers.snapshot.tables` draws the PDF's page 2.
    :mod:`~layers.snapshot.exports` (:func:`export_bytes`) packs the data export of a view
    as one download; :mod:`~layers.snapshot.coverage_over_time` (:func:`over_time`) gives the
    timeline's layers of a view (exposure, tracks, one moment) and the subtitle's note.

Examples
--------
>>> import io, geopandas as gpd, shapely
>>> from geo.coverage.analysis import analyse
>>> b = gpd.GeoDataFrame(geometry=[shapely.LineString([(24, 54), (24.5, 54.1)])], crs=4326)
>>> s = gpd.GeoDataFrame({"sensor_id": ["a"], "partner": ["P"], "kind": ["tower"],
...     "range_m": [8000.0]}, geometry=[shapely.Point(24.1, 54.02)], crs=4326)
>>> summary = render_snapshot(analyse(b, s), out=io.BytesIO(), fmt="png")
>>> summary["width_px"], summary["dpi"], summary["pages"]
(2600, 200, 1)
"""

from layers.snapshot.coverage_over_time import OverTime, over_time
from layers.snapshot.exports import EXPORT_FILES, EXPORT_SHOWN_BY, EXPOSED_LAYER, export_bytes
from layers.snapshot.output import (
    FORMATS,
    PAPER_IN,
    PNG_DPI,
    PNG_WIDTH_PX,
    Paper,
    SnapshotFormat,
    resolve_format,
)
from layers.snapshot.render import render_snapshot, snapshot_bytes

__all__ = [
    "EXPORT_FILES",
    "EXPORT_SHOWN_BY",
    "EXPOSED_LAYER",
    "FORMATS",
    "PAPER_IN",
    "PNG_DPI",
    "PNG_WIDTH_PX",
    "OverTime",
    "Paper",
    "SnapshotFormat",
    "export_bytes",
    "over_time",
    "render_snapshot",
    "resolve_format",
    "snapshot_bytes",
]
