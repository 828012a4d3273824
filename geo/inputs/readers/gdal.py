"""GDAL (through pyogrio): only the drivers Limes reads, no network, bytes only.

Importing this module removes the GDAL vector drivers Limes does not use and GDAL's network
access (:func:`_restrict_gdal`); every GDAL read goes through its functions, so none can
happen before. :func:`list_layers`, :func:`open_vector` and :func:`feature_count` take a
file's bytes, never a path (GDAL would follow ``/vsicurl/``, a VRT, a zip path); GDAL's
warnings become report notes and its errors a :class:`ValidationError` naming the user's
file instead of the in-memory copy.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyogrio
import pyogrio.errors
import shapely.errors

from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.inputs.guard import too_many_rows

__all__ = ["GDAL_CONFIG", "feature_count", "list_layers", "open_vector"]


#: Configuration of the GDAL that reads uploads (pyogrio's; rasterio has its own copy for
#: DEMs): no URL "exists" for /vsicurl/ and the other network file systems.
GDAL_CONFIG: dict[str, str] = {
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".limes-network-is-disabled",
}


def _restrict_gdal() -> None:
    """Deregister every GDAL vector driver not in :data:`settings.GDAL_VECTOR_DRIVERS`.

    GDAL unloads the drivers named in ``GDAL_SKIP`` when drivers are registered. pyogrio
    registers them when it is imported, which may have happened before Limes was (geopandas,
    a test, the app), so the option is set in pyogrio's GDAL and registration run again:
    GDAL then deregisters the drivers named. Driver names with a space cannot be listed in
    ``GDAL_SKIP`` ("MapInfo File" stays; it only opens files named ``.tab``/``.mif``, and
    uploads reach GDAL as nameless in-memory bytes). Fails closed: if the drivers cannot be
    removed, importing this module raises.
    """
    keep = set(settings.GDAL_VECTOR_DRIVERS)
    skip = tuple(sorted(d for d in pyogrio.list_drivers() if d not in keep and " " not in d))
    options = dict(GDAL_CONFIG)
    if skip:
        options["GDAL_SKIP"] = " ".join(skip)
    pyogrio.set_gdal_config_options(options)
    register = getattr(pyogrio.core, "_register_drivers", None)
    if register is None:  # pragma: no cover - a pyogrio without it
        raise ImportError(
            f"pyogrio {pyogrio.__version__}: cannot deregister GDAL drivers, so "
            "Limes will not read files with it"
        )
    register()
    left = sorted(set(skip) & set(pyogrio.list_drivers()))
    if left:  # pragma: no cover - GDAL ignored GDAL_SKIP
        raise ImportError(f"GDAL drivers {', '.join(left)} could not be deregistered")


# On import, so before any read: every GDAL read goes through the functions below.
_restrict_gdal()


#: pyogrio's in-memory file names (``/vsimem/pyogrio_<hex>``, maybe in ``/vsizip/``).
_VSIMEM = re.compile(r"(?:/vsizip/)?/vsimem/pyogrio_[0-9a-f]+(?:\.zip)?(?:/[^\s'\":;,]*)?")

#: GDAL warnings that only concern the nameless in-memory copy, not the user's file.
_IN_MEMORY_WARNINGS = ("non conformant file extension",)


@contextmanager
def _gdal_call(source: str, what: str, notes: list[str]) -> Iterator[None]:
    """Run a GDAL read: its warnings become notes, its errors a :class:`ValidationError`."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except (
            pyogrio.errors.DataSourceError,
            pyogrio.errors.DataLayerError,
            pyogrio.errors.FieldError,
            pyogrio.errors.FeatureError,
            pyogrio.errors.GeometryError,
            pyogrio.errors.CRSError,
            shapely.errors.GEOSException,
            pa.ArrowException,
            OSError,
        ) as exc:
            detail = _clean_gdal_message(str(exc), source)
            raise ValidationError(
                describe(
                    source,
                    f"could not be read as {what}",
                    got=detail,
                    expected=f"a valid {what} file",
                    fix=f"Check that the file is a complete {what} file (open it in QGIS or "
                    "re-export it)",
                )
            ) from exc
    for w in caught:
        text = _clean_gdal_message(str(w.message), source)
        if any(s in text for s in _IN_MEMORY_WARNINGS):
            continue
        note = f"GDAL: {text}"
        if note not in notes:
            notes.append(note)


def _clean_gdal_message(text: str, source: str) -> str:
    """Replace GDAL's in-memory file names in a message by the user's file name."""
    text = _VSIMEM.sub(source, text)
    text = text.split("; It might help to specify the correct driver")[0]
    return " ".join(text.split())


def _gdal_bytes(data: bytes) -> bytes:
    """GDAL is only ever handed bytes (read and checked here), never a path it could follow."""
    if not isinstance(data, bytes):
        raise TypeError(f"GDAL reads bytes only, got {type(data).__name__}")
    return data


_VSIMEM_NAME = re.compile(r"pyogrio_[0-9a-f]{32}")


def list_layers(data: bytes, source: str, what: str, notes: list[str]) -> list[tuple[str, str]]:
    """Return ``(layer name, declared geometry type)`` of every layer GDAL sees, in order.

    A layer GDAL names after the file (GeoJSON, FlatGeobuf, a KML without folders) is named
    after the user's file here, not after the in-memory copy.
    """
    with _gdal_call(source, what, notes):
        layers = pyogrio.list_layers(_gdal_bytes(data))
    stem = Path(source).stem
    return [(_VSIMEM_NAME.sub(stem, str(name)), str(gtype)) for name, gtype in layers]


def open_vector(
    data: bytes,
    source: str,
    what: str,
    notes: list[str],
    *,
    layer: int | str | None = None,
    before: int = 0,
    open_options: Mapping[str, str] | None = None,
) -> tuple[dict[str, object], pa.Table]:
    """Read one layer (by position or name) through GDAL into Arrow.

    Geometry comes as WKB, date-times as ISO text. GDAL stops one feature past
    :data:`settings.MAX_ROWS_PER_FILE` (less the ``before`` features of the file already
    read), and the file is then refused. ``open_options`` are the driver's dataset open
    options (only those the file's driver knows: GDAL warns of others).
    """
    room = settings.MAX_ROWS_PER_FILE - before
    with _gdal_call(source, what, notes):
        meta, table = pyogrio.read_arrow(
            _gdal_bytes(data),
            layer=layer,
            datetime_as_string=True,
            max_features=max(room, 0) + 1,
            **dict(open_options or {}),
        )
    if table.num_rows > room:
        raise too_many_rows(source, None, label="feature")
    return meta, table


def feature_count(data: bytes, source: str, what: str, notes: list[str], *, layer: str) -> int:
    """Number of features in one layer (counted by GDAL)."""
    with _gdal_call(source, what, notes):
        info = pyogrio.read_info(_gdal_bytes(data), layer=layer, force_feature_count=True)
    return int(info.get("features") or 0)
