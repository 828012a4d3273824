"""Operations as the app opens them: the sample seeded on first run, who sees which, scenarios.

The app analyses a :class:`geo.inputs.Scenario`; an operation kept in the store becomes one
(:func:`operation_scenario`), its DEM written once to a file the analysis opens. The bundled
sample becomes the operation :data:`~geo.operations.model.SAMPLE` the first time a store is
opened by the app (:func:`ensure_sample`), so ``make run`` opens on it; its synthetic week of
detections stays in ``sample_data/`` and is shown with it.

Examples
--------
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     store_file = Path(tmp) / "limes.gpkg"
...     first, again = ensure_sample(store_file), ensure_sample(store_file)
...     sc = operation_scenario(store_file, SAMPLE, dem_dir=tmp)
...     names = operations_for(store_file, "LTU"), operations_for(store_file, "XYZ")
>>> first, again, names
(True, False, (['sample'], []))
>>> len(sc.sensors), len(sc.sectors), sc.dem.name, sorted(sc.partners)
(171, 10, 'dem.tif', ['EU', 'LTU', 'LVA', 'POL'])
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from geo import store
from geo.core import settings
from geo.core.cells import HexLayout
from geo.core.errors import ValidationError
from geo.coverage.border import prepare_border
from geo.inputs import Scenario, read_detections, read_manifest, read_tracks
from geo.operations.model import SAMPLE, Operation, Partner
from geo.operations.stored import create_operation, load_operation

__all__ = [
    "ensure_sample",
    "map_layouts",
    "operation_scenario",
    "operation_stamp",
    "operations_for",
    "sample_operation",
]

Source = str | os.PathLike[str]


def sample_operation(directory: Source | None = None) -> tuple[Operation, dict[str, Path]]:
    """The bundled sample as an operation, and its layer files by layer name.

    From ``scenario.json`` (of ``directory``, default :data:`geo.core.settings.SAMPLE_DIR`):
    the title, description and partners' display names.
    """
    directory = Path(settings.SAMPLE_DIR if directory is None else directory)
    manifest = read_manifest(directory)
    partners = tuple(
        Partner(str(pid), str(entry.get("name") or pid))
        for pid, entry in sorted(manifest.get("partners", {}).items())
    )
    op = Operation(
        SAMPLE,
        title=str(manifest.get("name", "")),
        description=str(manifest.get("description", "")),
        partners=partners,
    )
    files = {
        layer: directory / manifest[layer]
        for layer in ("border", "sensors", "sectors", "dem", "detections", "tracks")
        if manifest.get(layer)
    }
    return op, files


def ensure_sample(store_path: Source, directory: Source | None = None) -> bool:
    """Create the operation ``sample`` from the bundled sample unless the store has it.

    Returns True when it was created now. Two servers starting at once are fine: the store
    refuses the second creation and this returns False.
    """
    if store.operation_record(store_path, SAMPLE) is not None:
        return False
    op, files = sample_operation(directory)
    try:
        create_operation(
            store_path,
            op,
            border=files["border"],
            sensors=files["sensors"],
            sectors=files.get("sectors"),
            dem=files.get("dem"),
            user="limes (first run)",
        )
    except ValidationError:
        if store.operation_record(store_path, SAMPLE) is None:
            raise
        return False  # created by another process meanwhile
    return True


def operations_for(store_path: Source, partner: str | None) -> list[str]:
    """The operations a partner takes part in (``None``: every operation), by name."""
    return [
        r["name"]
        for r in store.operation_records(store_path)
        if partner is None or partner in {p["id"] for p in r["partners"]}
    ]


def operation_stamp(store_path: Source, name: str) -> str | None:
    """A text that changes whenever the operation changes (a cache key); None if unknown.

    Covers its description, partners, the latest version of each layer and its DEM.
    """
    record = store.operation_record(store_path, name)
    if record is None:
        return None
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _dem_path(dem: tuple[str, bytes], dem_dir: Source | None) -> Path:
    """The stored DEM as a file (named by its content, so written once per content)."""
    name, data = dem
    folder = Path(dem_dir or tempfile.gettempdir()) / "limes-dem" / hashlib.sha256(data).hexdigest()
    path = folder / Path(name).name
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / f".{path.name}.{os.getpid()}.part"
        part.write_bytes(data)
        part.replace(path)  # atomic: a reader never sees half a file
    return path


def operation_scenario(
    store_path: Source,
    name: str,
    *,
    sensors_version: int | None = None,
    dem_dir: Source | None = None,
    sample_dir: Source | None = None,
) -> Scenario:
    """An operation of the store as the scenario the app analyses.

    ``sensors_version``: that version of its sensors (default the latest). ``dem_dir``: where
    its DEM is written for the analysis (default the system's temporary folder). The sample
    operation also carries the bundled detections and tracks of ``sample_dir``.
    """
    loaded = load_operation(store_path, name, sensors_version=sensors_version)
    op = loaded.operation
    detections, tracks, reports = None, None, {}
    if name == SAMPLE:
        files = sample_operation(sample_dir)[1]
        if "detections" in files:
            detections, reports["detections"] = read_detections(files["detections"])
        if "tracks" in files:  # drones and patrols, for coverage over time (docs/timeline.md)
            tracks, reports["tracks"] = read_tracks(files["tracks"])
    partners: dict[str, dict[str, Any]] = {
        p.id: {"name": p.name, **({"colour": list(p.colour)} if p.colour else {})}
        for p in op.partners
    }
    return Scenario(
        name=op.title or op.name,
        description=op.description,
        partners=partners,
        border=loaded.border,
        sensors=loaded.sensors,
        sectors=loaded.sectors,
        detections=detections,
        tracks=tracks,
        reports=reports,
        dem=None if loaded.dem is None else _dem_path(loaded.dem, dem_dir),
    )


def map_layouts(store_path: Source, *, hex_size_m: float) -> dict[str, HexLayout]:
    """The hexagons the Map page counts in, per operation of the store (by name).

    The page's layout is ``HexLayout(acrs, hex_size_m)`` with the analysis CRS of the
    operation's coverage (:func:`geo.mapview.map_window`), which its border alone chooses
    (:func:`geo.coverage.border.prepare_border`): the current border of each operation
    here. For :func:`geo.store.reindex` and :func:`geo.store.upgrade_store`, which make the
    map's bins of these layouts ahead of the page. An operation without a border layer, or
    with one the analysis refuses, has none (the page cannot open it either).
    """
    out: dict[str, HexLayout] = {}
    for record in store.operation_records(store_path):
        found = store.operation_layer(store_path, record["name"], "border")
        if found is None:
            continue
        try:
            acrs = prepare_border(found[0]).acrs
        except ValueError:  # ValidationError too: a border the page refuses as well
            continue
        out[str(record["name"])] = HexLayout(acrs, hex_size_m)
    return out
