"""The terrain: reading a DEM, the line-of-sight viewshed kernel, count grids, hillshade.

``grid_metric`` measures a DEM grid on the ground (distances from a cell, the window within
range of it); ``dem`` opens any raster GDAL reads and measures it on the ground; ``viewshed``
is the line-of-sight kernel (numba, on plain arrays) and ``viewshed_file`` its adapter from a
DEM file to a GeoTIFF; ``grids`` counts, per cell, the sensors that see it (the terrain engine
behind :func:`geo.coverage.analyse`); ``hillshade`` draws the relief and the coverage picture
for the map; ``raster_distance`` is a Euclidean distance transform.
"""

from geo.terrain.dem import open_dem
from geo.terrain.grids import CoverageGrid, terrain_coverage
from geo.terrain.hillshade import coverage_image, read_hillshade_faded
from geo.terrain.viewshed_file import viewshed_geotiff

# Not the functions ``viewshed`` and ``hillshade``: their names are the modules'.
__all__ = [
    "CoverageGrid",
    "coverage_image",
    "open_dem",
    "read_hillshade_faded",
    "terrain_coverage",
    "viewshed_geotiff",
]
