"""Operations: a named set of layers (border, sectors, sensors, DEM, partners) and its versions.

``model`` describes an operation (name, partners, analysis defaults, period, time zone) and
reads a partners file; ``changes`` tells what a change of sensors does: the sensors added,
removed or edited, and the border coverage gained or lost (the sensor editor's preview, and
the diff of two versions); ``stored`` keeps operations in the store: created from files,
listed, loaded, exported, new sensor versions and the diff of two, partners' names and
colours changed; ``opened`` is how the app opens them: the sample seeded on first run, the
operations a partner takes part in, an operation as the scenario the app analyses; ``editing``
is the sensor editor's table (checked as ``analyse`` checks a sensors file), ``placement`` the
grid of cells a planner clicks to place a sensor, ``stretches`` the border stretches a change
gains and loses.
"""

from geo.operations.changes import CoverageChange, SensorChanges, coverage_change, sensor_changes
from geo.operations.editing import (
    checked_sensors,
    new_sensor,
    refuse_other_partners,
    sensor_table,
)
from geo.operations.model import SAMPLE, Operation, Partner, check_name, read_partners
from geo.operations.opened import (
    ensure_sample,
    map_layouts,
    operation_scenario,
    operation_stamp,
    operations_for,
    sample_operation,
)
from geo.operations.placement import placement_grid
from geo.operations.stored import (
    StoredOperation,
    create_operation,
    diff,
    export_operation,
    list_operations,
    load_operation,
    operation_summary,
    replace_layer,
    save_sensors,
    update_partners,
)
from geo.operations.stretches import SensorEdit, changed_stretches, sensor_edit

__all__ = [
    "SAMPLE",
    "CoverageChange",
    "Operation",
    "Partner",
    "SensorChanges",
    "SensorEdit",
    "StoredOperation",
    "changed_stretches",
    "check_name",
    "checked_sensors",
    "coverage_change",
    "create_operation",
    "diff",
    "ensure_sample",
    "export_operation",
    "list_operations",
    "load_operation",
    "map_layouts",
    "new_sensor",
    "operation_scenario",
    "operation_stamp",
    "operation_summary",
    "operations_for",
    "placement_grid",
    "read_partners",
    "refuse_other_partners",
    "replace_layer",
    "sample_operation",
    "save_sensors",
    "sensor_changes",
    "sensor_edit",
    "sensor_table",
    "update_partners",
]
