"""Operations: a named set of layers (border, sectors, sensors, DEM, partners) and its versions.

``model`` describes an operation (name, partners, analysis defaults, period, time zone) and
reads a partners file; ``changes`` tells what a change of sensors does: the sensors added,
removed or edited, and the border coverage gained or lost (the sensor editor's preview, and
the diff of two versions).
"""

from geo.operations.changes import CoverageChange, SensorChanges, coverage_change, sensor_changes
from geo.operations.model import SAMPLE, Operation, Partner, check_name, read_partners

__all__ = [
    "SAMPLE",
    "CoverageChange",
    "Operation",
    "Partner",
    "SensorChanges",
    "check_name",
    "coverage_change",
    "read_partners",
    "sensor_changes",
]
