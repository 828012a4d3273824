"""Shared test fixtures (kept small: layer-specific fixtures live in their test modules)."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Real-world files written by others (see its PROVENANCE.md); ../shared from the project.
REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


@pytest.fixture
def realdata() -> Path:
    """Directory of real-world test files; skips the test when it is absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"real-world test data not found at {REALDATA}")
    return REALDATA


@pytest.fixture(autouse=True)
def _isolated_accounts_and_store(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the app at a users file and a store of the test's own (missing until created).

    Without this, a ``data/users.json`` or ``data/limes.gpkg`` in the working copy would
    switch the app out of demo mode or add rows under the tests. Servers started by tests
    inherit the environment.
    """
    home = tmp_path_factory.mktemp("limes-data")
    monkeypatch.setenv("LIMES_USERS_FILE", str(home / "users.json"))
    monkeypatch.setenv("LIMES_STORE", str(home / "limes.gpkg"))
