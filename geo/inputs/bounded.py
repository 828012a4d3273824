"""Read uploads in a child process with memory and time limits.

A file can cost far more to read than its size: a 64 KB GeoPackage whose layer is a
recursive SQL view yields rows without end, 300 KB of Parquet decode to 20 million rows.
The format checks (:mod:`geo.inputs.guard`) refuse the known cases before anything is decoded;
this module is the line behind them, for whatever they do not foresee. Every upload (the
Upload page, ``python -m geo ingest``) is read and checked by :mod:`geo.inputs.loader` in a child
process that

- may use at most :data:`geo.core.settings.READ_MEMORY_LIMIT_MB` of memory (``RLIMIT_AS``: an
  allocation past it fails in the child, never in the server);
- is killed (``SIGKILL``, which no code can ignore) when it has not answered within
  :data:`geo.core.settings.READ_TIME_LIMIT_S`; the kernel stops it too once it has used as many
  CPU seconds per core (``RLIMIT_CPU``), and it exits when the process that started it ends;
- waits for its turn: at most :data:`geo.core.settings.MAX_CONCURRENT_READS` readers run at
  once (several users uploading big files together would otherwise exhaust the server), and
  a file that waited :data:`geo.core.settings.READ_SLOT_WAIT_S` for one is refused;
- reads the file only: it never opens the store. The checked columns come back as an Arrow
  IPC file in a private temporary folder (written and read in one go, no pickling of rows),
  the load report pickled.

Either way the caller gets a :class:`~geo.core.errors.ValidationError` saying which limit the file
went past and how to fix it, and nothing is stored.

Children are forked by multiprocessing's *forkserver*: a single-threaded process started on
first use, which has imported :mod:`geo.inputs.loader` once, so a child starts in milliseconds and
nothing is ever forked from the server's threads. Streamlit installs the running page as
``__main__``; multiprocessing would run it again in every child, so these children are
started without the parent's main module (:func:`_without_main`).

Examples
--------
>>> from geo.core.settings import SAMPLE_DIR
>>> detections, report = read_detections(SAMPLE_DIR / "detections.csv")
>>> len(detections) == report.rows_accepted == 22000
True
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import resource
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from multiprocessing import spawn
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa

from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.inputs.loader import LoadReport, RowError
from geo.inputs.readers import no_gc

__all__ = ["read_detection_columns", "read_detections"]

_log = logging.getLogger(__name__)

#: Name of the reader processes (``limes-reader-<n>``), by which they are recognised.
_NAME = "limes-reader"
_COUNTER = itertools.count(1)
_SETUP = threading.Lock()

#: The reading turns: at most :data:`geo.core.settings.MAX_CONCURRENT_READS` readers at once.
_SLOTS = threading.BoundedSemaphore(settings.MAX_CONCURRENT_READS)

#: Arrow IPC file the child writes its columns to, in the parent's temporary folder.
_COLUMNS_FILE = "columns.arrow"


def read_detections(
    path: str | os.PathLike[str], *, source_name: str | None = None
) -> tuple[gpd.GeoDataFrame, LoadReport]:
    """:func:`geo.inputs.loader.read_detections` in a child process with memory and time limits.

    Parameters
    ----------
    path
        File to read (any format :func:`geo.inputs.loader.read_detections` reads).
    source_name
        Name for messages and format detection; defaults to ``path``'s basename.

    Returns
    -------
    detections : geopandas.GeoDataFrame
        Exactly as :func:`geo.inputs.loader.read_detections` returns it.
    report : LoadReport

    Raises
    ------
    ValidationError
        As :func:`geo.inputs.loader.read_detections`, or the reading went past
        :data:`geo.core.settings.READ_MEMORY_LIMIT_MB` or
        :data:`geo.core.settings.READ_TIME_LIMIT_S`.
    """
    columns, report = read_detection_columns(path, source_name=source_name)
    lon, lat = columns.pop("lon"), columns.pop("lat")
    frame = gpd.GeoDataFrame(columns, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    return frame, report


def read_detection_columns(
    path: str | os.PathLike[str], *, source_name: str | None = None
) -> tuple[dict[str, Any], LoadReport]:
    """:func:`geo.inputs.loader.read_detection_columns` in a memory- and time-limited subprocess.

    Parameters
    ----------
    path
        File to read.
    source_name
        Name for messages and format detection; defaults to ``path``'s basename.

    Returns
    -------
    columns : dict
        Exactly as :func:`geo.inputs.loader.read_detection_columns` returns them (numpy arrays
        writable, text as pandas ``str`` Series).
    report : LoadReport

    Raises
    ------
    ValidationError
        As :func:`geo.inputs.loader.read_detection_columns`, or the reading went past
        :data:`geo.core.settings.READ_MEMORY_LIMIT_MB` or
        :data:`geo.core.settings.READ_TIME_LIMIT_S`.
    """
    path = Path(path)
    source = Path(source_name).name if source_name else path.name
    started = time.perf_counter()
    with _turn(source), tempfile.TemporaryDirectory(prefix="limes-read-") as folder:
        outcome, payload, child_rss_mb = _run_child(path, source_name, Path(folder), source)
        seconds = time.perf_counter() - started
        _log.info(
            "read %s in a child process: %s after %.2f s, child peak RSS %.0f MB",
            source,
            outcome,
            seconds,
            child_rss_mb,
        )
        if outcome != "ok":
            raise payload
        columns = _load_columns(Path(folder) / _COLUMNS_FILE)
    return columns, payload


# --------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _turn(source: str) -> Iterator[None]:
    """Wait for a reading turn (:data:`_SLOTS`); past the wait the file is refused.

    Several users uploading big files at once would otherwise start as many readers, each
    allowed :data:`geo.core.settings.READ_MEMORY_LIMIT_MB`, and together exhaust the server.
    """
    if not _SLOTS.acquire(timeout=settings.READ_SLOT_WAIT_S):
        raise ValidationError(
            describe(
                source,
                f"not read: the server was busy reading other uploads for "
                f"{settings.READ_SLOT_WAIT_S:g} s (it reads at most "
                f"{settings.MAX_CONCURRENT_READS} at once)",
                fix="Nothing was stored; upload the file again in a few minutes",
            )
        )
    try:
        yield
    finally:
        _SLOTS.release()


class _Preparation(Protocol):
    """The signature of :func:`multiprocessing.spawn.get_preparation_data`."""

    def __call__(self, name: str) -> dict[str, Any]: ...


def _without_main(get: _Preparation) -> _Preparation:
    """Wrap :func:`multiprocessing.spawn.get_preparation_data`: no main module for readers.

    A spawned or forkserver child first imports the parent's ``__main__`` again. Under
    Streamlit that is the page being run (Streamlit installs it as ``__main__``), which the
    child would run whole. Reader processes (named ``limes-reader-<n>``) need nothing from
    ``__main__``: their target lives in this module. Other processes are left as they are.
    """

    @functools.wraps(get)
    def preparation_data(name: str) -> dict[str, Any]:
        data = get(name)
        if str(name).startswith(_NAME):
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    preparation_data.limes_without_main = True  # type: ignore[attr-defined]
    return preparation_data


def _context() -> ForkServerContext:
    """The forkserver context, set up once.

    Readers without ``__main__``, geo.inputs.loader preloaded.
    """
    context = multiprocessing.get_context("forkserver")
    assert isinstance(context, ForkServerContext)
    with _SETUP:
        if not getattr(spawn.get_preparation_data, "limes_without_main", False):
            spawn.get_preparation_data = _without_main(spawn.get_preparation_data)
            context.set_forkserver_preload(["geo.inputs.loader"])
    return context


def _settings() -> dict[str, Any]:
    """The settings as they are now (a test or the app may have changed some)."""
    return {name: value for name, value in vars(settings).items() if name.isupper()}


def _run_child(
    path: Path, source_name: str | None, folder: Path, source: str
) -> tuple[str, Any, float]:
    """Run :func:`_child`; return ``(outcome, report or exception, child peak RSS MB)``."""
    context = _context()
    limit_s = float(settings.READ_TIME_LIMIT_S)
    receive, send = context.Pipe(duplex=False)
    process = context.Process(
        target=_child,
        name=f"{_NAME}-{next(_COUNTER)}",
        daemon=True,
        args=(send, str(path), source_name, str(folder), _settings()),
    )
    try:
        process.start()
        send.close()  # the child holds the only writer: its end means end of file here
        if not receive.poll(limit_s):
            rss_mb = _peak_rss_mb(process.pid)
            _kill(process)
            return "time limit", _time_refusal(source, limit_s), rss_mb
        try:
            reply = receive.recv()
        except EOFError:  # died without a word: killed by the kernel or crashed
            process.join(5)
            return "died", _died_refusal(source, process.exitcode), 0.0
    finally:
        _kill(process)
        receive.close()
        send.close()
    outcome, payload, rss_mb = reply
    if outcome == "ok":
        return outcome, _unpacked(*payload), rss_mb
    if outcome == "error":
        exc, text = payload
        exc.__cause__ = _ChildTraceback(text)
        return outcome, exc, rss_mb
    if outcome == "memory":
        return outcome, _memory_refusal(source), rss_mb
    return outcome, payload, rss_mb


def _kill(process: multiprocessing.process.BaseProcess) -> None:
    """Make sure the child is gone: SIGKILL if it still runs, then reap it."""
    if process.pid is None:
        return
    if process.exitcode is None:
        process.join(0.5)
    if process.exitcode is None:
        process.kill()
        process.join()


def _peak_rss_mb(pid: int | None) -> float:
    """The peak resident memory of a running process (MB), from ``/proc``; 0 if unknown."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _time_refusal(source: str, limit_s: float) -> ValidationError:
    return ValidationError(
        describe(
            source,
            f"reading the file took longer than the time limit ({limit_s:g} s) and was stopped",
            expected=f"a file Limes can read within {limit_s:g} s",
            got=f"still reading after {limit_s:g} s",
            fix="Split it into smaller files (e.g. one per day or per partner), or export it "
            "again as CSV or a GeoPackage of plain tables",
        )
    )


def _memory_refusal(source: str) -> ValidationError:
    limit = settings.READ_MEMORY_LIMIT_MB
    return ValidationError(
        describe(
            source,
            f"reading the file needs more memory than the limit ({limit:,} MB) and was stopped",
            expected=f"a file Limes can read within {limit:,} MB",
            got=f"more than {limit:,} MB needed",
            fix="Split it into smaller files (e.g. one per day or per partner)",
        )
    )


def _died_refusal(source: str, exitcode: int | None) -> ValidationError:
    how = f"signal {-exitcode}" if exitcode is not None and exitcode < 0 else f"exit {exitcode}"
    limit = settings.READ_MEMORY_LIMIT_MB
    return ValidationError(
        describe(
            source,
            "the reader stopped while reading the file (it went past the memory limit of "
            f"{limit:,} MB or the file crashed it)",
            expected="a file Limes can read",
            got=f"the reader ended with {how}",
            fix="Split it into smaller files, or export it again (e.g. as CSV or a GeoPackage)",
        )
    )


class _ChildTraceback(Exception):
    """The traceback of an unexpected error in the reader process (shown as the cause)."""

    def __str__(self) -> str:
        return "\n" + str(self.args[0])


def _unpacked(report: LoadReport, rejected: tuple[list[Any], ...]) -> LoadReport:
    """The report :func:`_packed` sent, its rejected rows made :class:`RowError` again."""
    with no_gc():  # a million objects: the collector would scan them again and again
        report.rejected = list(map(RowError, *rejected))
    return report


def _load_columns(file: Path) -> dict[str, Any]:
    """The columns the child wrote.

    As :func:`geo.inputs.loader.read_detection_columns` returns them.
    """
    with pa.input_stream(str(file)) as f:  # one read, not memory-mapped: the folder goes next
        table = pa.ipc.open_file(pa.BufferReader(f.read_buffer())).read_all()
    kinds = json.loads((table.schema.metadata or {})[b"limes"])
    columns: dict[str, Any] = {}
    for name in table.column_names:
        kind, series_name = kinds[name]
        column = table.column(name)
        if kind == "series":
            series = column.to_pandas()
            series.name = series_name
            columns[name] = series
        else:
            columns[name] = column.to_numpy().copy()  # writable, as read in process
    return columns


# --------------------------------------------------------------------------------------
# Child side
# --------------------------------------------------------------------------------------


def _child(
    send: multiprocessing.connection.Connection,
    path: str,
    source_name: str | None,
    folder: str,
    values: dict[str, Any],
) -> None:
    """Read and check one file under the limits; write the columns, send the outcome."""
    for name, value in values.items():
        setattr(settings, name, value)
    try:
        _exit_with_parent()
        _limit_self(float(settings.READ_TIME_LIMIT_S), int(settings.READ_MEMORY_LIMIT_MB))
        from geo.inputs.loader import read_detection_columns

        columns, report = read_detection_columns(path, source_name=source_name)
        _save_columns(columns, Path(folder) / _COLUMNS_FILE)
        del columns
        reply: tuple[str, Any] = ("ok", _packed(report))
    except MemoryError:
        reply = ("memory", None)
    except ValidationError as exc:
        reply = ("memory", None) if _out_of_memory(exc) else ("refused", exc)
    except Exception as exc:  # a bug, not the file: the parent raises it with this traceback
        text = traceback.format_exc()
        try:
            _pickles(exc)
        except Exception:  # e.g. an exception of a C library that cannot be pickled
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        reply = ("error", (exc, text))
    send.send((*reply, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    send.close()


def _packed(report: LoadReport) -> tuple[LoadReport, tuple[list[Any], ...]]:
    """The report without its rejected rows, and those as three lists (row, field, reason).

    A file may reject every one of its rows: a million :class:`RowError` objects pickle and
    unpickle in about 4 s, their three lists in 0.6.
    """
    errors = report.rejected
    rejected = ([e.row for e in errors], [e.field for e in errors], [e.reason for e in errors])
    return dataclasses.replace(report, rejected=[]), rejected


def _pickles(obj: object) -> None:
    import pickle

    pickle.loads(pickle.dumps(obj))


def _limit_self(time_limit_s: float, memory_mb: int) -> None:
    """Cap this process's address space and CPU time (what it gets past them, it never gets).

    A limit already lower (the server run under ``ulimit -v``, say) stays: a process may
    lower its limits, never raise them.
    """
    memory = _within_hard(resource.RLIMIT_AS, memory_mb * 1024 * 1024)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu_s = _within_hard(resource.RLIMIT_CPU, math.ceil(time_limit_s * (os.cpu_count() or 1)) + 1)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, _within_hard(resource.RLIMIT_CPU, cpu_s + 1)))


def _within_hard(which: int, wanted: int) -> int:
    """``wanted``, or the hard limit already set when that is lower."""
    soft, hard = resource.getrlimit(which)
    limits = [v for v in (wanted, soft, hard) if v != resource.RLIM_INFINITY]
    return min(limits)


def _exit_with_parent() -> None:
    """End this process as soon as its parent has ended (a thread waiting on its sentinel)."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="limes-reader-watch", daemon=True).start()


def _out_of_memory(exc: BaseException) -> bool:
    """Whether an allocation failure is behind ``exc`` (e.g. Arrow's, worded by a reader)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, MemoryError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _save_columns(columns: dict[str, Any], file: Path) -> None:
    """Write the columns as one Arrow IPC file (Series and arrays told apart in metadata)."""
    arrays: dict[str, pa.Array | pa.ChunkedArray] = {}
    kinds: dict[str, tuple[str, Any]] = {}
    for name, values in columns.items():
        if isinstance(values, pd.Series):
            arrays[name] = pa.array(values)
            label = values.name if values.name is None else str(values.name)
            kinds[name] = ("series", label)
        else:
            arrays[name] = pa.array(np.asarray(values))
            kinds[name] = ("array", None)
    table = pa.table(arrays).replace_schema_metadata({"limes": json.dumps(kinds)})
    with pa.OSFile(str(file), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
