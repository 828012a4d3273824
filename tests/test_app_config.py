"""The Streamlit configuration in ``.streamlit/config.toml`` does what the app relies on.

Checked through Streamlit's own config loader and AppTest, not by reading the TOML alone: a
value Streamlit reads differently from how it looks (``showErrorDetails = false``) is the
point of these tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def app_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Streamlit's options as the project's ``.streamlit/config.toml`` sets them."""
    monkeypatch.chdir(ROOT)  # Streamlit reads ./.streamlit/config.toml
    config.get_config_options(force_reparse=True)
    yield
    config.get_config_options(force_reparse=True)


def test_an_uncaught_exception_shows_no_type_message_or_trace(app_config: None) -> None:
    # Streamlit 1.67: "false" is the legacy value of "stacktrace" (type and trace shown);
    # only "none" hides everything.
    assert config.get_option("client.showErrorDetails") == "none"
    at = AppTest.from_string("rows = {}\nrows['/srv/limes/secret.gpkg']\n").run()
    shown = at.exception[0].proto
    assert (shown.type, list(shown.stack_trace)) == ("", [])
    assert "secret" not in shown.message and "KeyError" not in shown.message
    assert shown.message.startswith("This app has encountered an error")
