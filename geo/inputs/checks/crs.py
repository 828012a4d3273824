"""How a CRS is named in reports and messages (``EPSG:32634 (WGS 84 / UTM zone 34N)``)."""

from __future__ import annotations

import pyproj

__all__ = ["crs_description", "crs_label"]


def crs_label(crs: pyproj.CRS) -> str:
    """Short name of a CRS: ``EPSG:32634``, else its name, else its projection method."""
    auth = crs.to_authority()
    if auth is not None:
        return f"{auth[0]}:{auth[1]}"
    if crs.name and crs.name.lower() not in ("unnamed", "unknown", "undefined"):
        return crs.name
    method = crs.coordinate_operation.method_name if crs.coordinate_operation else None
    return f"a custom {method} CRS" if method else "a custom CRS"


def crs_description(crs: pyproj.CRS) -> str:
    """``EPSG:32634 (WGS 84 / UTM zone 34N)``; custom CRSs by name or projection method."""
    label = crs_label(crs)
    if label == crs.name or label.startswith("a custom") or not crs.name:
        return label
    return f"{label} ({crs.name})"
