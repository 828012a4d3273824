"""CSV (comma, semicolon, tab or pipe separated text), read with Arrow.

The encoding (UTF-8, else Windows-1252), the delimiter and the header are guessed from the
first bytes (:func:`_sniff_csv`); every column is read as text (values are checked later,
vectorised); lines with the wrong number of fields are left out and reported; rows are
counted while streaming before the file is read (:func:`geo.inputs.guard.csv_rows_over_cap`).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyproj

from geo.core.errors import ValidationError, describe
from geo.inputs.guard import csv_rows_over_cap, too_many_rows
from geo.inputs.readers.raw import WGS84_BY_STANDARD, RawLayer, normalise_name, parse_crs
from geo.inputs.readers.tables import find_geometry_columns, parse_wkt

__all__ = ["CSV_NULLS", "read_csv"]


#: Text read as "no value" in CSV files ("NA" is deliberately absent: it is Namibia's code).
CSV_NULLS: list[str] = [
    "",
    "null",
    "NULL",
    "Null",
    "NaN",
    "nan",
    "None",
    "none",
    "N/A",
    "n/a",
    "#N/A",
]


def _sniff_csv(head: bytes, source: str) -> tuple[str, str, list[str]]:
    """Encoding, delimiter and header of a CSV from its first bytes."""
    if head.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    else:
        try:
            head[: max(len(head) - 4, 0)].decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "cp1252"
    text = head.decode(encoding, errors="replace")
    first = text.splitlines()[0] if text.splitlines() else ""
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    header = next(csv.reader(io.StringIO(first), delimiter=delimiter), [])
    if not [h for h in header if h.strip()]:
        raise ValidationError(
            describe(
                source,
                "the CSV has no header line",
                expected="column names on line 1",
                got=first[:80],
                fix="Put the column names on the first line",
            )
        )
    return encoding, delimiter, [h.strip().lstrip("\ufeff") for h in header]


def read_csv(path: Path, head: bytes, source: str) -> RawLayer:
    """A CSV file, its geometry from a WKT column or kept as lat/lon columns for the checks.

    ``head`` is the file's first bytes (:func:`geo.inputs.readers.files.read_head`).
    """
    encoding, delimiter, header = _sniff_csv(head, source)
    notes: list[str] = []
    norm = [normalise_name(h) for h in header]
    dupes = sorted({n for n in norm if norm.count(n) > 1})
    if dupes:
        raise ValidationError(
            describe(
                source,
                "column names repeat",
                field=dupes[0],
                expected="each column name once",
                got=header,
                fix="Rename or remove the repeated columns",
            )
        )
    wkt, lonlat, gnotes = find_geometry_columns(header, source)
    notes.extend(gnotes)
    if encoding == "cp1252":
        notes.append("the file is not UTF-8: read as Windows-1252 (Western European)")
    if delimiter != ",":
        notes.append(f"columns are separated by {delimiter!r}")
    if csv_rows_over_cap(path, delimiter):
        raise too_many_rows(source, None)
    try:
        table, skipped = _csv_table(path, source, header, encoding, delimiter)
    except _NotUtf8:
        encoding = "cp1252"
        notes.append("the file is not UTF-8: read as Windows-1252 (Western European)")
        table, skipped = _csv_table(path, source, header, encoding, delimiter)
    attrs = table.to_pandas()
    n_total = len(attrs) + len(skipped)
    src_row = np.arange(1, n_total + 1, dtype=np.int64)
    rejects: list[tuple[int, str | None, str]] = []
    if skipped:
        src_row = np.delete(src_row, [r - 1 for r, _ in skipped])
    blank = attrs.isna().all(axis=1).to_numpy() if len(attrs.columns) else np.zeros(0, bool)
    if blank.any():
        notes.append(f"skipped {int(blank.sum())} blank line(s)")
        attrs = attrs.loc[~blank].reset_index(drop=True)
        src_row = src_row[~blank]
    geometry: np.ndarray | None = None
    if wkt is not None:
        geometry, wkt_rejects, srid = parse_wkt(attrs[wkt])
        rejects.extend((i, wkt, why) for i, why in wkt_rejects)
        attrs = attrs.drop(columns=[wkt])
    raw = RawLayer(
        source=source,
        format="CSV",
        attrs=attrs,
        geometry=geometry,
        src_row=src_row,
        row_label="row",
        crs=pyproj.CRS.from_epsg(4326),
        crs_assumed=WGS84_BY_STANDARD["csv"],
        kind="csv",
        lonlat_cols=lonlat,
        geometry_field=wkt or "geometry",
        notes=notes,
        rejects=rejects,
    )
    if wkt is not None and srid is not None:
        raw.crs = parse_crs(f"EPSG:{srid}", source)
        raw.crs_assumed = None
        notes.append(f"CRS EPSG:{srid} taken from the SRID= prefix of the WKT")
    raw.dropped = [(row, None, why) for row, why in skipped]
    return raw


class _NotUtf8(Exception):
    """The CSV has bytes that are not UTF-8 beyond the part used to guess the encoding."""


def _csv_table(
    path: Path, source: str, header: list[str], encoding: str, delimiter: str
) -> tuple[pa.Table, list[tuple[int, str]]]:
    """Read a CSV with every column as text (values are checked later, vectorised).

    Large strings: what pandas' ``str`` columns hold, so the frame is made without a copy.
    """
    convert = pacsv.ConvertOptions(
        column_types={h: pa.large_string() for h in header},
        strings_can_be_null=True,
        null_values=CSV_NULLS,
        quoted_strings_can_be_null=True,
    )
    enc = "utf8" if encoding in ("utf-8", "utf-8-sig") else encoding

    def read(handler: object = None) -> pa.Table:
        parse = pacsv.ParseOptions(
            delimiter=delimiter, ignore_empty_lines=False, invalid_row_handler=handler
        )
        opts = pacsv.ReadOptions(encoding=enc, use_threads=handler is None)
        return pacsv.read_csv(path, read_options=opts, parse_options=parse, convert_options=convert)

    try:
        return read(), []
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) and enc == "utf8":
            raise _NotUtf8 from exc
        if "Expected" not in str(exc) or "columns" not in str(exc):
            raise ValidationError(
                describe(
                    source,
                    "could not be read as CSV",
                    got=" ".join(str(exc).split())[:200],
                    fix="Check the file is comma/semicolon separated text with one header line",
                )
            ) from exc
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise ValidationError(
            describe(
                source,
                "could not be read as CSV",
                got=" ".join(str(exc).split())[:200],
                fix="Save it as UTF-8 CSV with one header line",
            )
        ) from exc
    bad: list[tuple[int, str]] = []

    def handler(row: pacsv.InvalidRow) -> str:
        line = int(row.number) if row.number is not None else -1
        bad.append(
            (
                line - 1,
                f"expected {row.expected_columns} fields, got "
                f"{row.actual_columns}: {row.text[:60]!r}",
            )
        )
        return "skip"

    try:
        table = read(handler)
    except (pa.ArrowException, OSError) as exc:
        raise ValidationError(
            describe(
                source,
                "could not be read as CSV",
                got=" ".join(str(exc).split())[:200],
                fix="Check the file is delimited text with one header line",
            )
        ) from exc
    return table, bad
