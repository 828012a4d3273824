"""A scenario: the four layers of one operation, loaded and validated together.

A scenario folder holds a ``scenario.json`` manifest naming its files (see
``sample_data/scenario.json``) and the files themselves, in any format
:mod:`geo.inputs.loader` reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd

from geo.core.errors import ValidationError
from geo.inputs import loader
from geo.inputs.tracks import read_tracks


@dataclass
class Scenario:
    """Validated layers of one operation, in EPSG:4326.

    Attributes
    ----------
    name, description
        From the manifest.
    partners
        Partner id -> {"name": ...} from the manifest (may be empty).
    dem
        Path of the terrain model named by the manifest's ``dem`` key, if any.
    border, sensors, sectors, detections
        The layers; ``sectors`` and ``detections`` may be ``None``.
    tracks
        The fixes of drones and patrols named by the manifest's ``tracks`` key
        (:func:`geo.inputs.read_tracks`), or ``None``.
    reports
        The :class:`geo.inputs.loader.LoadReport` of each layer, by layer name.
    """

    name: str
    description: str
    partners: dict[str, dict[str, Any]]
    border: gpd.GeoDataFrame
    sensors: gpd.GeoDataFrame
    sectors: gpd.GeoDataFrame | None = None
    detections: gpd.GeoDataFrame | None = None
    reports: dict[str, loader.LoadReport] = field(default_factory=dict)
    #: Terrain model (any raster GDAL reads), if the manifest names one.
    dem: Path | None = None
    #: Fixes of drones and patrols, if the manifest names a ``tracks`` file.
    tracks: gpd.GeoDataFrame | None = None


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """A scenario folder's ``scenario.json``, checked to name a border and a sensors file.

    Raises
    ------
    ValidationError
        When the manifest is missing, not JSON, or names no border or sensors file.
    """
    manifest_path = Path(directory) / "scenario.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"{manifest_path}: no scenario manifest found") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{manifest_path}: not valid JSON ({exc.msg} at line {exc.lineno})"
        ) from None
    if not isinstance(manifest, dict):
        raise ValidationError(
            f"{manifest_path}: expected a JSON object, got {type(manifest).__name__}"
        )
    for key in ("border", "sensors"):
        if key not in manifest:
            raise ValidationError(f"{manifest_path}: the manifest must name a '{key}' file")
    return manifest


def load_scenario(directory: str | Path) -> Scenario:
    """Load a scenario folder.

    Parameters
    ----------
    directory
        Folder with ``scenario.json``.

    Raises
    ------
    ValidationError
        When the manifest is missing or malformed, or a layer is unusable.
    """
    directory = Path(directory)
    manifest_path = directory / "scenario.json"
    manifest = read_manifest(directory)
    readers = {
        "border": loader.read_border,
        "sensors": loader.read_sensors,
        "sectors": loader.read_sectors,
        "detections": loader.read_detections,
        "tracks": read_tracks,
    }
    layers: dict[str, gpd.GeoDataFrame] = {}
    reports: dict[str, loader.LoadReport] = {}
    for key, reader in readers.items():
        if manifest.get(key):
            layers[key], reports[key] = reader(directory / manifest[key])
    dem = directory / manifest["dem"] if manifest.get("dem") else None
    if dem is not None and not dem.is_file():
        raise ValidationError(
            f"{manifest_path}: the DEM {manifest['dem']!r} named in the manifest does not exist"
        )
    return Scenario(
        dem=dem,
        name=str(manifest.get("name", directory.name)),
        description=str(manifest.get("description", "")),
        partners=dict(manifest.get("partners", {})),
        border=layers["border"],
        sensors=layers["sensors"],
        sectors=layers.get("sectors"),
        detections=layers.get("detections"),
        tracks=layers.get("tracks"),
        reports=reports,
    )
