"""Where the border and its corridor are watched: the coverage engines and their views.

``analysis`` computes coverage (flat footprints, or viewsheds over a DEM), gaps, partner
overlaps and unassigned border; ``border``, ``footprints``, ``intervals`` and ``pointindex``
are its parts; ``views`` cuts an analysis to what one partner sees (headline, gap ranks);
``hexbin`` bins detections into hexagons.
"""

from geo.coverage.analysis import Analysis, analyse
from geo.coverage.views import JOINT, Headline, headline, visible_rows

__all__ = ["JOINT", "Analysis", "Headline", "analyse", "headline", "visible_rows"]
