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
