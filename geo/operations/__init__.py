"""Operations: a named set of layers (border, sectors, sensors, DEM, partners) and its versions.

``changes`` tells what a change of sensors does: the sensors added, removed or edited, and the
border coverage gained or lost (the sensor editor's preview, and the diff of two versions).
"""

from geo.operations.changes import CoverageChange, SensorChanges, coverage_change, sensor_changes

__all__ = ["CoverageChange", "SensorChanges", "coverage_change", "sensor_changes"]
