"""Shared test fixtures (kept small: layer-specific fixtures live in their test modules)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pg_util
import pytest
from browser_util import CHROMIUM, CHROMIUM_ARGS, Server, streamlit_server

from geo.core import settings

#: Real-world files written by others (see its PROVENANCE.md); ../shared from the project.
REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


@pytest.fixture
def realdata() -> Path:
    """Directory of real-world test files; skips the test when it is absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"real-world test data not found at {REALDATA}")
    return REALDATA


@pytest.fixture(autouse=True)
def _isolated_accounts_and_store(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point the app at a users file and a store of the test's own (missing until created).

    Without this, a ``data/users.json`` or ``data/limes.gpkg`` in the working copy would
    switch the app out of demo mode or add rows under the tests. Servers started by tests
    inherit the environment.
    """
    home = tmp_path_factory.mktemp("limes-data")
    monkeypatch.setenv("LIMES_USERS_FILE", str(home / "users.json"))
    monkeypatch.setenv("LIMES_STORE", str(home / "limes.gpkg"))


@pytest.fixture(scope="module")
def scenario() -> Any:
    """The bundled sample scenario (read once per module; tests read it, never change it)."""
    from geo.core.settings import SAMPLE_DIR
    from geo.inputs.scenario import load_scenario

    return load_scenario(SAMPLE_DIR)


@pytest.fixture(autouse=True)
def _map_bins_for_every_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Map page counts every window of the tests' small stores from the bins.

    In use, a window of fewer than ``MAP_BINS_FROM_ROWS`` rows is read row by row (faster
    there); the tests' stores hold a few thousand rows, so without this no map test would
    go through the bins. ``test_map_small_windows`` sets the threshold itself.
    """
    monkeypatch.setattr(settings, "MAP_BINS_FROM_ROWS", 0)


# ---- the browser tests (test_browser*.py): one server and one Chromium per module ----------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The app on a free localhost port, for the module's tests; skipped without Chromium.

    The server has a store and a users file of its own (a module-scoped fixture starts before
    the per-test ones point ``LIMES_STORE`` elsewhere; without this it would use the working
    copy's ``data/``).
    """
    if not CHROMIUM.exists():
        pytest.skip(
            f"no browser: {CHROMIUM} not found (.ci/run installs Debian's chromium with apt-get)"
        )
    home = tmp_path_factory.mktemp("streamlit")
    log = home / "streamlit.log"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIMES_STORE", str(home / "limes.gpkg"))
        mp.setenv("LIMES_USERS_FILE", str(home / "users.json"))
        with streamlit_server(Path(__file__).resolve().parents[1] / "app.py", log=log) as url:
            yield Server(url, log)


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    """Debian's Chromium, headless with software WebGL (:data:`browser_util.CHROMIUM_ARGS`)."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed"
    )
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield b
        finally:
            b.close()


# ---- PostgreSQL + PostGIS (test_pg_*.py): one throwaway cluster per test session ------------


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pg_util.Cluster]:
    """A throwaway PostgreSQL cluster (:mod:`pg_util`); skipped only when it is not installed."""
    reason = pg_util.why_unavailable()
    if reason is not None:
        pytest.skip(reason)
    with pg_util.running_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_store(pg_cluster: pg_util.Cluster) -> str:
    """The URL of a new PostGIS database of the test's own, as Limes's (non-superuser) role."""
    return pg_cluster.create_database(f"limes_{len(pg_cluster.databases) + 1}")


@pytest.fixture(params=["geopackage", "postgis"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A new store of each back-end: a GeoPackage path, then a PostGIS URL (:func:`pg_store`)."""
    if request.param == "geopackage":
        return tmp_path / "store" / "limes.gpkg"
    return str(request.getfixturevalue("pg_store"))
