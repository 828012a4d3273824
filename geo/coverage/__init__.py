"""Where the border and its corridor are watched: the coverage engines and their views.

``analysis`` is the recipe (:func:`analyse`): ``scene`` prepares the inputs, an engine
computes coverage (``engine`` states what every engine returns; ``flat`` draws footprint
polygons, ``terrain`` counts viewsheds over a DEM), ``detections`` classifies detections,
``report`` and ``result_layers`` assemble the report and the map layers. ``border``,
``footprints``, ``footprint_index``, ``intervals``, ``pointindex``, ``polygon_index`` and
``threads`` are their parts; ``views`` cuts an analysis to what one partner sees (headline,
gap ranks); ``hexbin`` bins detections into hexagons.

``TerrainEngine`` is not imported here: it loads the terrain (numba, rasterio); import it from
:mod:`geo.coverage.terrain`.
"""

from geo.coverage.analysis import Analysis, analyse
from geo.coverage.engine import Coverage, CoverageEngine
from geo.coverage.flat import FlatEngine
from geo.coverage.views import JOINT, Headline, headline, visible_rows

__all__ = [
    "JOINT",
    "Analysis",
    "Coverage",
    "CoverageEngine",
    "FlatEngine",
    "Headline",
    "analyse",
    "headline",
    "visible_rows",
]
