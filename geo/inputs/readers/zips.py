"""Zip archives (zipped Shapefiles, KMZ): checked before any entry is decompressed.

Zip bombs, too many entries, entries with absolute or ``..`` paths, symbolic links and
encrypted entries are refused from the archive's directory alone; an entry is never read
past its declared size.
"""

from __future__ import annotations

import io
import re
import stat
import struct
import zipfile
import zlib
from pathlib import Path

from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.inputs.readers.files import mb

__all__ = ["open_zip", "read_zip_entry"]


def _zip_directory(data: bytes, source: str) -> tuple[int, int]:
    """Entries and central directory size (bytes) from a zip's end records (zip64 too)."""
    tail_start = max(0, len(data) - (65_535 + 22))
    at = data.rfind(b"PK\x05\x06", tail_start)
    if at < 0 or at + 22 > len(data):
        raise _not_a_zip(source, "no zip end of central directory record")
    entries, cd_size = struct.unpack_from("<HL", data, at + 10)
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF:
        loc = at - 20
        if loc < 0 or data[loc : loc + 4] != b"PK\x06\x07":
            raise _not_a_zip(source, "damaged zip64 end records")
        (offset,) = struct.unpack_from("<Q", data, loc + 8)
        if offset + 56 > len(data) or data[offset : offset + 4] != b"PK\x06\x06":
            raise _not_a_zip(source, "damaged zip64 end records")
        entries, cd_size = struct.unpack_from("<QQ", data, offset + 32)
    return int(entries), int(cd_size)


def _not_a_zip(source: str, detail: str) -> ValidationError:
    return ValidationError(
        describe(
            source,
            "is not a readable zip archive",
            got=detail,
            expected="a zip file",
            fix="Zip the files again, or upload them unzipped",
        )
    )


def _unsafe_entry(info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry may not be read (path escaping the archive, link), else ``None``."""
    name = info.filename.replace("\\", "/")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in name.split("/"):
        return "a '..' path (it points outside the archive)"
    if "\x00" in name:
        return "a NUL character in its name"
    return None


def open_zip(data: bytes, source: str, label: str) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """Open a zip held in memory after checking it; return it and its file entries.

    Refused before any entry is decompressed: more than :data:`settings.MAX_ZIP_ENTRIES`
    entries, an entry with an absolute path, a ``..`` component or a symbolic link, an
    encrypted entry, entries that would expand past :data:`settings.MAX_UNZIPPED_BYTES` in
    total, or past :data:`settings.MAX_ZIP_RATIO` times their compressed size (once above
    :data:`settings.ZIP_RATIO_FLOOR_BYTES`). Directories and macOS metadata are left out of
    the entries returned. Entries are read with :func:`read_zip_entry`, which never returns
    more than an entry's declared size.
    """
    entries, cd_size = _zip_directory(data, source)
    if entries > settings.MAX_ZIP_ENTRIES or cd_size > settings.MAX_ZIP_ENTRIES * 1024:
        raise ValidationError(
            describe(
                source,
                f"the {label} holds too many entries",
                expected=f"at most {settings.MAX_ZIP_ENTRIES:,} files",
                got=f"{entries:,} entries",
                fix="Zip only the files of the layer",
            )
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        ValueError,
        OSError,
        EOFError,
        struct.error,
    ) as exc:
        raise _not_a_zip(source, str(exc)) from exc
    for info in infos:
        _check_entry(info, source, label)
    _check_expansion(infos, source, label)
    files = [
        i
        for i in infos
        if not i.is_dir()
        and not i.filename.startswith("__MACOSX/")
        and not Path(i.filename).name.startswith("._")
    ]
    return zf, files


def _check_entry(info: zipfile.ZipInfo, source: str, label: str) -> None:
    """Refuse an entry Limes never reads: unsafe (:func:`_unsafe_entry`) or encrypted."""
    why = _unsafe_entry(info)
    if why is not None:
        raise ValidationError(
            describe(
                source,
                f"the {label} entry {info.filename!r} is {why}, which Limes never reads",
                expected="plain files inside the archive",
                got=info.filename,
                fix="Zip the files again from their folder, without links",
            )
        )
    if info.flag_bits & 0x1:
        raise ValidationError(
            describe(
                source,
                f"the {label} entry {info.filename!r} is encrypted",
                expected="an archive without a password",
                got="an encrypted entry",
                fix="Zip the files again without a password",
            )
        )


def _check_expansion(infos: list[zipfile.ZipInfo], source: str, label: str) -> None:
    """Refuse entries that would expand past the size limit, or too many times (a zip bomb)."""
    expanded = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if expanded > settings.MAX_UNZIPPED_BYTES:
        raise ValidationError(
            describe(
                source,
                f"the {label} would expand past the size limit",
                expected=f"at most {mb(settings.MAX_UNZIPPED_BYTES)} unzipped",
                got=f"{mb(expanded)} unzipped",
                fix="Upload a smaller archive, or split the data into several files",
            )
        )
    ratio = expanded / max(packed, 1)
    if expanded > settings.ZIP_RATIO_FLOOR_BYTES and ratio > settings.MAX_ZIP_RATIO:
        raise ValidationError(
            describe(
                source,
                f"the {label} expands {ratio:,.0f} times (a zip bomb?)",
                expected=f"at most {settings.MAX_ZIP_RATIO:g} times its compressed size",
                got=f"{mb(packed)} compressed, {mb(expanded)} unzipped",
                fix="Upload the data unzipped, or zip only the files of the layer",
            )
        )


def read_zip_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: str) -> bytes:
    """Decompress one entry checked by :func:`open_zip` (never more than its declared size)."""
    try:
        with zf.open(info) as f:
            data = f.read(info.file_size + 1)
    except (
        zipfile.BadZipFile,
        zlib.error,
        RuntimeError,
        NotImplementedError,
        EOFError,
        OSError,
        ValueError,
    ) as exc:
        raise ValidationError(
            describe(
                source,
                f"the zip entry {info.filename!r} could not be read",
                got=" ".join(str(exc).split())[:160],
                fix="Zip the files again",
            )
        ) from exc
    if len(data) > info.file_size:  # pragma: no cover - zipfile stops at the declared size
        raise _not_a_zip(source, f"{info.filename!r} is longer than declared")
    return data
