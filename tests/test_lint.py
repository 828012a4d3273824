"""The production code passes the project's ruff rules (pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean_on_production_code():
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--output-format", "concise", "geo", "layers", "cli", "ui", "app.py", "app_pages", "tests", "bench", "sample_data"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_geo_and_layers_never_import_streamlit():
    offenders = [
        str(p.relative_to(ROOT))
        for d in ("geo", "layers")
        for p in (ROOT / d).rglob("*.py")
        if any(line.lstrip().startswith(("import streamlit", "from streamlit")) for line in p.read_text().splitlines())
    ]
    assert offenders == []
