"""What a coverage engine computes, and the one method every engine has.

An engine (:class:`CoverageEngine`) takes a prepared :class:`~geo.coverage.scene.Scene` and
returns a :class:`Coverage`: which border each sensor and each partner watches
(:class:`BorderCoverage`, intervals of global chainage in metres) and how much of the
corridor is watched (:class:`CorridorCoverage`). Two engines exist:

- :class:`geo.coverage.flat.FlatEngine`: footprint polygons on a flat earth (exact interval
  arithmetic along the border, polygon overlay in the corridor);
- :class:`geo.coverage.terrain.TerrainEngine`: viewshed over a DEM, counted on the DEM's grid
  (:mod:`geo.terrain.grids`); border and corridor are read from the counts.

The report and the map layers (:mod:`geo.coverage.report`, :mod:`geo.coverage.result_layers`)
read a :class:`Coverage` and never ask which engine made it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray

from geo.coverage import intervals as iv
from geo.coverage.scene import Scene

if TYPE_CHECKING:  # the terrain package (numba, rasterio) is imported only with a DEM
    from geo.terrain.grids import CoverageGrid

#: Whether each point (lon, lat in degrees) is watched, for engines without a coverage polygon.
CoveredAt = Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.bool_]]


@dataclass(frozen=True, eq=False)
class BorderCoverage:
    """The border watched, as intervals of global chainage (m, see :mod:`geo.coverage.border`).

    Attributes
    ----------
    covered
        Watched by at least one active sensor (merged).
    redundant
        Watched by two or more active sensors.
    by_partner
        Per partner (every partner of the scene, in its order), watched by its active sensors.
    sensor_covered_m, sensor_sole_m
        Per sensor of the scene (0 for inactive ones), the border it watches and the part of
        that no other sensor watches (m).
    """

    covered: iv.Intervals
    redundant: iv.Intervals
    by_partner: dict[str, iv.Intervals]
    sensor_covered_m: NDArray[np.float64]
    sensor_sole_m: NDArray[np.float64]

    @cached_property
    def overlap(self) -> iv.Intervals:
        """Watched by two or more partners (merged)."""
        return iv.at_least_of(self.by_partner.values(), k=2)


@dataclass(frozen=True, eq=False)
class CorridorCoverage:
    """The corridor watched.

    Attributes
    ----------
    area_m2, covered_m2, gap_m2, overlap_m2
        Areas on the ellipsoid (m²): the corridor, its part watched by at least one active
        sensor, the rest, and its part watched by two or more partners.
    gap, overlap
        The unwatched and the overlap areas as (multi)polygons in the analysis CRS, for maps.
    coverage
        The watched area as one (multi)polygon in the analysis CRS, when the engine has one;
        detections are classified against it unless ``covered_at`` is given.
    covered_at
        Whether each point (lon, lat) is watched: the ground under it (terrain), or the
        footprints that reach it (flat engine). Detections are classified with it when given.
    """

    area_m2: float
    covered_m2: float
    gap_m2: float
    overlap_m2: float
    gap: shapely.Geometry
    overlap: shapely.Geometry
    coverage: shapely.Geometry | None = None
    covered_at: CoveredAt | None = None


@dataclass(frozen=True, eq=False)
class Coverage:
    """What a :class:`CoverageEngine` computed.

    Attributes
    ----------
    border, corridor
        The border and the corridor watched.
    footprints
        The footprints layer (EPSG:4326): what the sensors watch, as the engine draws it.
    parameters
        The engine's own entries of the report's ``parameters`` (none for the flat engine).
    sections
        The engine's own sections of the report (e.g. ``terrain``), after the common ones.
    grid
        The count grids, when the engine counted on a DEM's grid.
    """

    border: BorderCoverage
    corridor: CorridorCoverage
    footprints: gpd.GeoDataFrame
    parameters: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)
    grid: CoverageGrid | None = None


class CoverageEngine(Protocol):
    """Computes the coverage of a scene's border and corridor by its active sensors."""

    def cover(self, scene: Scene) -> Coverage:
        """The border and the corridor the scene's active sensors watch."""
        ...


__all__ = ["BorderCoverage", "CorridorCoverage", "Coverage", "CoverageEngine", "CoveredAt"]
