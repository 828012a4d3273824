"""Value checks shared by the loaders in :mod:`geo.inputs.loader`, one column at a time.

Every check works on whole columns (numpy/pandas/pyarrow); only rows that fail get a
Python object, their reason (``rejects``). By what they check:

- ``columns``: which column of a file is which field (names, aliases)
- ``fields``: each layer's fields (sensor ranges, detection times, markings, ...)
- ``values``: text and numbers; ``times``: times to UTC
- ``coordinates``: positions in range, not swapped, not (0, 0); ``crs``: CRS names
- ``geometry``: each row's geometry in its layer's family, in EPSG:4326
"""

from geo.inputs.checks.coordinates import swapped_outliers
from geo.inputs.checks.crs import crs_description, crs_label
from geo.inputs.checks.geometry import Geometry, build_geometry
from geo.inputs.checks.rejects import Rejects, fmt_value, reason
from geo.inputs.checks.times import Times, to_time
from geo.inputs.checks.values import to_float, to_text

__all__ = [
    "Geometry",
    "Rejects",
    "Times",
    "build_geometry",
    "crs_description",
    "crs_label",
    "fmt_value",
    "reason",
    "swapped_outliers",
    "to_float",
    "to_text",
    "to_time",
]
