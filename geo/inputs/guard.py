"""What one file may make the reader do: its rows, what it decodes to, what it runs.

Private to :mod:`geo.inputs.readers`. A few kilobytes can stand for far more than their size:
a Parquet column of 20 million dictionary-encoded values, a GeoPackage layer that is a
recursive SQL view producing rows without end, a view or computed column returning
strings of hundreds of MB. The checks here look at each format's own figures *before* its
rows are decoded, and refuse the file as a whole with a message saying which limit, what the
file holds and how to fix it:

- rows: at most :data:`geo.core.settings.MAX_ROWS_PER_FILE` per file (Parquet metadata,
  ``COUNT(*)`` of GeoPackage tables, CSV lines counted while streaming; GDAL formats stop
  reading one feature past the cap);
- decoded bytes: at most :data:`geo.core.settings.MAX_DECODED_BYTES` (Parquet: from the
  metadata, then from the dictionaries' value lengths before any value is expanded);
- GeoPackage: only plain tables, read with the stdlib :mod:`sqlite3` from ``sqlite_master``
  (read-only, immutable) before GDAL opens the file: no view, no virtual table but the
  spatial index, no computed column, no trigger but the GeoPackage standard's.

These are the first line; :mod:`geo.inputs.bounded` (a child process with memory and time limits)
is the second, for whatever they do not foresee.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from geo.core import settings
from geo.core.errors import ValidationError, describe

__all__ = [
    "check_geopackage",
    "check_rows",
    "csv_rows_over_cap",
    "read_parquet_table",
    "too_many_rows",
]

_SPLIT = "Split it into files of at most {cap:,} {label}s each (e.g. one per day or per partner)"


def _mb(n_bytes: float) -> str:
    return f"{n_bytes / 1024 / 1024:,.1f} MB"


def too_many_rows(
    source: str, count: int | None, *, label: str = "row", where: str = ""
) -> ValidationError:
    """The refusal of a file holding more than :data:`settings.MAX_ROWS_PER_FILE` rows.

    Parameters
    ----------
    source
        File name for the message.
    count
        Rows the file holds, ``None`` if only known to be more than the cap.
    label
        ``"row"`` or ``"feature"``.
    where
        Where they are, e.g. ``" in table 'detections'"``.
    """
    cap = settings.MAX_ROWS_PER_FILE
    got = f"{count:,} {label}s" if count is not None else f"more than {cap:,} {label}s"
    return ValidationError(
        describe(
            source,
            f"the file holds too many {label}s{where}",
            expected=f"at most {cap:,} {label}s per file",
            got=got,
            fix=_SPLIT.format(cap=cap, label=label) + " and upload them one by one",
        )
    )


def check_rows(source: str, count: int, *, label: str = "row", where: str = "") -> None:
    """Refuse ``count`` rows when more than :data:`settings.MAX_ROWS_PER_FILE`."""
    if count > settings.MAX_ROWS_PER_FILE:
        raise too_many_rows(source, count, label=label, where=where)


def _too_much_decoded(source: str, n_bytes: int, how: str) -> ValidationError:
    cap = settings.MAX_DECODED_BYTES
    return ValidationError(
        describe(
            source,
            f"the file would decode to more than the size limit ({how})",
            expected=f"at most {_mb(cap)} of values",
            got=f"{_mb(n_bytes)} of values",
            fix="Split the data into several smaller files",
        )
    )


# --------------------------------------------------------------------------------------
# CSV: lines counted before the table is built
# --------------------------------------------------------------------------------------


def _line_bound(path: Path) -> int:
    """An upper bound of a text file's lines (LF, CR or CRLF ends; quoted ones included)."""
    lines = 1
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            lines += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
    return lines


def _csv_batches(path: Path, delimiter: str, bad: list[int]) -> Iterator[pa.RecordBatch]:
    """The CSV's rows in batches of its first column as bytes (only counted: any encoding)."""

    def skip(row: pacsv.InvalidRow) -> str:
        bad[0] += 1
        return "skip"

    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(
            skip_rows=1, autogenerate_column_names=True, use_threads=False
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, ignore_empty_lines=False, invalid_row_handler=skip
        ),
        convert_options=pacsv.ConvertOptions(
            include_columns=["f0"], column_types={"f0": pa.large_binary()}
        ),
    )
    yield from reader


def csv_rows_over_cap(path: Path, delimiter: str) -> bool:
    """Whether a CSV holds more than :data:`settings.MAX_ROWS_PER_FILE` data lines.

    Counting the line ends of the file's bytes answers almost always ("no") in a fraction of
    the read. Only when that bound is over the cap (quoted fields may hold line breaks) are
    the rows counted by parsing, as a stream that stops one row past the cap, never holding
    more than a block of the file.
    """
    cap = settings.MAX_ROWS_PER_FILE
    if _line_bound(path) - 1 <= cap:  # the header is a line too
        return False
    rows, bad = 0, [0]
    try:
        for batch in _csv_batches(path, delimiter, bad):
            rows += batch.num_rows
            if rows + bad[0] > cap:
                return True
    except (pa.ArrowException, OSError):
        return False  # unreadable: the read that follows says why
    return False


# --------------------------------------------------------------------------------------
# Parquet: rows and decoded bytes from the metadata, then from the dictionaries
# --------------------------------------------------------------------------------------

#: Bytes one value of a Parquet physical type takes once decoded (Arrow's width).
_WIDTH = {"BOOLEAN": 1, "INT32": 4, "INT64": 8, "INT96": 8, "FLOAT": 4, "DOUBLE": 8}


def _decoded_estimate(meta: pq.FileMetaData) -> int:
    """Bytes the values take decoded: fixed-width exactly, byte arrays by their pages.

    Pages of byte arrays hold their values whole (plain) or as indices into a dictionary;
    the dictionaries' expansion is counted later, by :func:`_dictionary_bytes`.
    """
    total = 0
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        for j in range(group.num_columns):
            chunk = group.column(j)
            width = _WIDTH.get(chunk.physical_type)
            if chunk.physical_type == "FIXED_LEN_BYTE_ARRAY":
                width = max(int(meta.schema.column(j).length or 0), 1)
            if width is None:  # BYTE_ARRAY
                total += int(chunk.total_uncompressed_size)
            else:
                total += int(chunk.num_values) * width
    return total


def _dictionary_columns(meta: pq.FileMetaData, schema: pa.Schema) -> list[str]:
    """Top-level byte-array columns stored with a dictionary (read as such, not expanded)."""
    names = []
    for j in range(meta.num_columns):
        column = meta.schema.column(j)
        name = column.path
        if column.physical_type != "BYTE_ARRAY" or "." in name:
            continue
        if schema.get_field_index(name) < 0 or pa.types.is_dictionary(schema.field(name).type):
            continue
        if any(meta.row_group(i).column(j).has_dictionary_page for i in range(meta.num_row_groups)):
            names.append(name)
    return names


def _is_text(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )


def _dictionary_bytes(column: pa.ChunkedArray) -> int:
    """Bytes a dictionary-encoded text/binary column takes once expanded."""
    total = 0
    for chunk in column.chunks:
        lengths = pc.binary_length(chunk.dictionary).take(chunk.indices)
        total += int(pc.sum(lengths).as_py() or 0)
    return total


def read_parquet_table(path: Path, source: str) -> pa.Table:
    """Read a Parquet file as :func:`pyarrow.parquet.read_table` does, within the caps.

    Refused before any page is read: more rows than :data:`settings.MAX_ROWS_PER_FILE`
    (metadata ``num_rows``), or values that would decode past
    :data:`settings.MAX_DECODED_BYTES` (fixed-width columns: rows x width; text and
    binary: their uncompressed pages). Text and binary columns stored with a dictionary are
    then read as dictionaries (as are those Arrow's schema in the file declares dictionaries)
    and refused if their values would expand past the cap, before they are expanded.

    Raises
    ------
    ValidationError
        A cap is exceeded. Arrow and OS errors propagate (the caller words them).
    """
    meta = pq.read_metadata(path)
    check_rows(source, meta.num_rows)
    estimate = _decoded_estimate(meta)
    if estimate > settings.MAX_DECODED_BYTES:
        raise _too_much_decoded(source, estimate, "from its metadata")
    schema = pq.read_schema(path)
    encoded = _dictionary_columns(meta, schema)
    table = pq.ParquetFile(path, read_dictionary=encoded).read()
    texts = [
        f.name
        for f in table.schema
        if pa.types.is_dictionary(f.type) and (_is_text(f.type.value_type))
    ]  # also those Arrow's schema keeps as dictionaries
    expanded = estimate + sum(_dictionary_bytes(table.column(name)) for name in texts)
    if expanded > settings.MAX_DECODED_BYTES:
        raise _too_much_decoded(source, expanded, "repeated dictionary values")
    for name in encoded:
        i = table.schema.get_field_index(name)
        table = table.set_column(
            i, schema.field(name), table.column(i).cast(schema.field(name).type)
        )
    return table


# --------------------------------------------------------------------------------------
# GeoPackage: plain tables only, checked with sqlite3 before GDAL opens the file
# --------------------------------------------------------------------------------------

_GPKG_FIX = (
    "Save the layer as a plain table in a new GeoPackage (QGIS: Export > Save "
    "Features As...; or ogr2ogr -f GPKG new.gpkg file.gpkg) and upload that"
)
_VIRTUAL = re.compile(r"^\s*CREATE\s+VIRTUAL\s+TABLE\b", re.I)
_RTREE = re.compile(r"^\s*CREATE\s+VIRTUAL\s+TABLE\s+.*\bUSING\s+rtree\s*\(", re.I | re.S)
_RTREE_TRIGGERS = ("insert", *(f"update{i}" for i in range(1, 8)), "delete")


def _refused(source: str, problem: str, got: str) -> ValidationError:
    return ValidationError(
        describe(
            source,
            problem,
            expected="a GeoPackage whose layers are plain tables of features",
            got=got,
            fix=_GPKG_FIX,
        )
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _standard_triggers(conn: sqlite3.Connection, tables: set[str]) -> set[tuple[str, str]]:
    """(trigger, table) pairs GDAL and QGIS write into every GeoPackage.

    The spatial index's (``rtree_<table>_<geometry>_insert``, ``..._update1-7``,
    ``..._delete``) and GDAL's feature count's (``trigger_insert_feature_count_<table>``).
    The GeoPackage standard's own on its ``gpkg_*`` tables are allowed separately.
    """
    allowed: set[tuple[str, str]] = set()
    for table in tables:
        allowed |= {(f"trigger_{op}_feature_count_{table}", table) for op in ("insert", "delete")}
    if "gpkg_geometry_columns" in tables:
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM gpkg_geometry_columns"
        ):
            allowed |= {(f"rtree_{table}_{column}_{op}", str(table)) for op in _RTREE_TRIGGERS}
    return allowed


def check_geopackage(path: Path, source: str) -> None:
    """Refuse a GeoPackage that is more than plain tables, or whose layers are too long.

    Read with the stdlib :mod:`sqlite3` (read-only, immutable: nothing is written, no
    journal is looked for) from ``sqlite_master``, so nothing the file defines is run:
    counting or reading a view runs its query, which may never end. Refused:

    - any view (a stored query: rows without end, strings of any size);
    - a virtual table other than a spatial index (``USING rtree``);
    - a computed column (``GENERATED ALWAYS AS``): evaluated on every read;
    - a trigger other than those of the spatial index, the feature count and the GeoPackage
      standard's ``gpkg_*`` tables (triggers only run on writes, which Limes never makes, so
      this is defence in depth);
    - a layer (``gpkg_contents``) with more rows than :data:`settings.MAX_ROWS_PER_FILE`
      (``COUNT(*)`` of the plain table: the file's ``gpkg_ogr_contents`` may lie).

    Raises
    ------
    ValidationError
        As above, or the file is no SQLite database SQLite can read.
    """
    uri = Path(path).resolve().as_uri() + "?mode=ro&immutable=1"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            _check_schema(conn, source)
    except sqlite3.Error as exc:
        raise ValidationError(
            describe(
                source,
                "could not be read as GPKG",
                got=" ".join(str(exc).split())[:160],
                expected="a valid GeoPackage (SQLite) file",
                fix="Check that the file is a complete GeoPackage (open it in QGIS or re-export "
                "it)",
            )
        ) from exc


def _check_schema(conn: sqlite3.Connection, source: str) -> None:
    entries = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    views = [str(name) for kind, name, _, _ in entries if kind == "view"]
    if views:
        more = f" (and {len(views) - 1} more)" if len(views) > 1 else ""
        raise _refused(
            source,
            f"the GeoPackage holds the view {views[0]!r}{more}: a stored "
            "SQL query, which Limes never runs (a query can return rows without end "
            "or values of any size)",
            f"view {views[0]!r}",
        )
    tables = {str(name) for kind, name, _, _ in entries if kind == "table"}
    virtual = {
        str(name)
        for kind, name, _, sql in entries
        if kind == "table" and _VIRTUAL.match(str(sql or ""))
    }
    for name in sorted(virtual):
        sql = next(str(s) for _, n, _, s in entries if n == name)
        if not (name.startswith("rtree_") and _RTREE.match(sql)):
            raise _refused(
                source,
                f"the GeoPackage holds the virtual table {name!r}: "
                "computed by an SQLite module, not stored rows, which Limes never "
                "reads",
                f"virtual table {name!r}",
            )
    for table in sorted(tables - virtual):
        if table.startswith("sqlite_"):
            continue
        for column, hidden in conn.execute(
            "SELECT name, hidden FROM pragma_table_xinfo(?)", (table,)
        ):
            if hidden in (2, 3):
                raise _refused(
                    source,
                    f"the GeoPackage table {table!r} has the computed column "
                    f"{column!r} (GENERATED ALWAYS AS ...), which Limes never "
                    "evaluates",
                    f"computed column {column!r}",
                )
    allowed = _standard_triggers(conn, tables)
    for kind, name, table, _ in entries:
        if kind != "trigger":
            continue
        if (str(name), str(table)) in allowed or (
            str(name).startswith("gpkg_") and str(table).startswith("gpkg_")
        ):
            continue
        raise _refused(
            source,
            f"the GeoPackage holds the trigger {name!r} on {table!r}: SQL "
            "that runs when the file changes, which Limes does not accept (only the "
            "spatial index's and feature count's are)",
            f"trigger {name!r}",
        )
    if "gpkg_contents" not in tables:
        return  # GDAL refuses it with its own message
    by_name = {t.lower(): t for t in tables - virtual}
    layers = [
        str(t)
        for (t,) in conn.execute(
            "SELECT table_name FROM gpkg_contents WHERE data_type IN ('features', 'attributes')"
        )
    ]
    for layer in layers:
        stored = by_name.get(layer.lower())
        if stored is not None:  # else GDAL refuses the layer itself
            (count,) = conn.execute(f"SELECT COUNT(*) FROM {_quote(stored)}").fetchone()
            check_rows(source, int(count), label="feature", where=f" in layer {layer!r}")
