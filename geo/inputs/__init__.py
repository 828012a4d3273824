"""Reading what users bring: borders, sectors, sensors and detections in any supported format.

``readers`` reads each file format into raw columns, one module per format family (CSV,
Parquet, GeoJSON/GeoPackage/FlatGeobuf through GDAL, Shapefile, KML/KMZ, GPX,
Cursor-on-Target); ``guard`` refuses hostile files before they are decoded (rows, decoded
size, GeoPackage schemas); ``checks`` validates values column by column (which column is
which field, each layer's fields, times, coordinates, geometry); ``loader`` turns raw layers
into checked frames with a report; ``bounded`` runs the loader in a child process under a
memory limit; ``scenario`` loads a folder of layers.
"""

from geo.inputs.loader import (
    LoadReport,
    RowError,
    read_border,
    read_detection_columns,
    read_detections,
    read_sectors,
    read_sensors,
)
from geo.inputs.scenario import Scenario, load_scenario, read_manifest
from geo.inputs.tracks import read_tracks

__all__ = [
    "LoadReport",
    "RowError",
    "Scenario",
    "load_scenario",
    "read_border",
    "read_detection_columns",
    "read_detections",
    "read_manifest",
    "read_sectors",
    "read_sensors",
    "read_tracks",
]
