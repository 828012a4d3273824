"""What every part of Limes shares: settings, errors, the analysis CRS, the antimeridian."""

from geo.core.errors import ValidationError, describe
from geo.core.projection import AnalysisCRS, choose_analysis_crs, to_lonlat, to_projected

__all__ = [
    "AnalysisCRS",
    "ValidationError",
    "choose_analysis_crs",
    "describe",
    "to_lonlat",
    "to_projected",
]
