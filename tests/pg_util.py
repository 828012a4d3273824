"""A throwaway PostgreSQL + PostGIS cluster for the tests (Debian's ``postgresql`` packages).

``initdb`` refuses to run as root: as root the cluster is made and run by the ``postgres``
user (``runuser``) in a temporary directory it owns; as anyone else, by that user. The server
listens on 127.0.0.1 on a free port (never 5432) and on a unix socket in that directory, with
``trust`` authentication (nothing but this machine reaches it, and it lives for one test
session). The superuser creates each database and its PostGIS extension; Limes connects as a
NON-superuser role that owns the database (superusers bypass row-level security).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from geo.inputs.loader import LoadReport

#: Where Debian installs the server's programs (the newest version is used).
PG_ROOT = Path("/usr/lib/postgresql")

#: The role Limes connects as in the tests: owns its databases, not a superuser.
APP_ROLE = "limes_app"


#: Server settings for bulk uploads (see docs/store.md, "PostGIS"): room for a million-row
#: upload's WAL between checkpoints, compressed full-page images (index builds write whole
#: pages), and shared buffers that hold the indexes being built.
_SETTINGS = (
    "-c shared_buffers=512MB -c max_wal_size=4GB -c wal_compression=lz4 -c checkpoint_timeout=15min"
)


def pg_bin() -> Path | None:
    """The newest installed server's ``bin`` folder with ``initdb``, or None."""
    found = sorted(
        (p for p in PG_ROOT.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


def why_unavailable() -> str | None:
    """Why no cluster can be started here (None: it can)."""
    bindir = pg_bin()
    if bindir is None:
        return (
            f"PostgreSQL is not installed ({PG_ROOT}/*/bin/initdb not found; .ci/run installs it)"
        )
    major = bindir.parent.name
    control = Path(f"/usr/share/postgresql/{major}/extension/postgis.control")
    if not control.exists():
        return f"PostGIS is not installed ({control} not found; .ci/run installs postgis)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run initdb as"
    return None


def free_port() -> int:
    """A free TCP port on 127.0.0.1 other than 5432."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port != 5432:
            return port


@dataclass
class Cluster:
    """A running throwaway cluster."""

    bindir: Path
    directory: Path
    port: int
    databases: list[str] = field(default_factory=list)
    #: The data directory when it is kept (:func:`kept_cluster`); else ``directory/data``,
    #: removed with the cluster.
    kept_data: Path | None = None

    @property
    def data(self) -> Path:
        """The cluster's data directory."""
        return self.kept_data if self.kept_data is not None else self.directory / "data"

    def _as_owner(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*prefix, *cmd],
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    def psql(self, sql: str, *, database: str = "postgres", check: bool = True) -> str:
        """Run SQL as the superuser; returns what psql prints (unaligned, tuples only)."""
        done = self._as_owner(
            str(self.bindir / "psql"),
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.directory),
            "-p",
            str(self.port),
            "-d",
            database,
            "-c",
            sql,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    def url(self, database: str, role: str = APP_ROLE) -> str:
        """The URL Limes connects with (TCP on 127.0.0.1)."""
        return f"postgresql://{role}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, *, postgis: bool = True, owner: str = APP_ROLE) -> str:
        """A new database owned by ``owner`` (the superuser adds PostGIS); returns its URL."""
        self.psql(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        if postgis:
            self.psql("CREATE EXTENSION postgis", database=name)
        self.databases.append(name)
        return self.url(name, owner)

    def postmaster_pid(self) -> int | None:
        """The server's process id (the first line of ``postmaster.pid``), None if stopped."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory (a kept data directory stays)."""
        self._as_owner(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop",
            check=False,
        )  # fmt: skip
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def running_cluster(*, durable: bool = False) -> Iterator[Cluster]:
    """Start a cluster (see the module's docstring), yield it, stop and remove it.

    ``durable``: keep PostgreSQL's ``fsync`` (the benchmark); the tests run without it.
    """
    reason = why_unavailable()
    if reason is not None:
        raise RuntimeError(reason)
    cluster = _new_cluster()
    try:
        _initdb(cluster, cluster.data)
        _start(cluster, durable=durable)
        cluster.psql(f'CREATE ROLE "{APP_ROLE}" LOGIN NOSUPERUSER NOBYPASSRLS')
        yield cluster
    finally:
        cluster.stop()


@contextlib.contextmanager
def kept_cluster(data: Path) -> Iterator[tuple[Cluster, bool]]:
    """A cluster whose data directory ``data`` is kept between runs (benchmarks' big stores).

    Made (``initdb`` as above, the app's role created) when ``data`` holds no cluster yet,
    else started as it is; on a free port with ``fsync`` on, stopped on leaving (also on an
    error), the data kept. Yields the cluster and whether it was made now.
    """
    reason = why_unavailable()
    if reason is not None:
        raise RuntimeError(reason)
    data = Path(data).resolve()
    made = not (data / "PG_VERSION").exists()
    cluster = _new_cluster(data)
    try:
        if made:
            data.mkdir(parents=True, exist_ok=True)
            data.chmod(0o700)
            _owned_by_postgres(data)
            _initdb(cluster, data)
        _start(cluster, durable=True)
        if made:
            cluster.psql(f'CREATE ROLE "{APP_ROLE}" LOGIN NOSUPERUSER NOBYPASSRLS')
        yield cluster, made
    finally:
        cluster.stop()


def _owned_by_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(path, user.pw_uid, user.pw_gid)


def _new_cluster(kept_data: Path | None = None) -> Cluster:
    """A cluster (not started) with a new temporary directory for its socket and log."""
    bindir = pg_bin()
    assert bindir is not None
    directory = Path(tempfile.mkdtemp(prefix="limes-pg-"))
    _owned_by_postgres(directory)
    return Cluster(bindir, directory, free_port(), kept_data=kept_data)


def _initdb(cluster: Cluster, data: Path) -> None:
    cluster._as_owner(
        str(cluster.bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
        "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
    )  # fmt: skip


def _start(cluster: Cluster, *, durable: bool) -> None:
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={cluster.port} "
        f"-c unix_socket_directories={cluster.directory} -c max_connections=50 {_SETTINGS}"
        + ("" if durable else " -c fsync=off")
    )
    cluster._as_owner(
        str(cluster.bindir / "pg_ctl"), "-D", str(cluster.data), "-l",
        str(cluster.directory / "server.log"), "-o", options, "-w", "-t", "60", "start",
    )  # fmt: skip


def csv_report(n: int) -> LoadReport:
    """The load report of ``n`` detections read from a CSV file, all accepted."""
    return LoadReport(
        source="t.csv",
        layer="detections",
        format="CSV",
        source_crs="EPSG:4326",
        rows_read=n,
        rows_accepted=n,
    )
