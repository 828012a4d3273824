"""The Streamlit configuration in ``.streamlit/config.toml`` does what the app relies on.

Checked through Streamlit's own config loader and AppTest, not by reading the TOML alone: a
value Streamlit reads differently from how it looks (``showErrorDetails = false``) is the
point of these tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit import config
from streamlit.proto.NewSession_pb2 import Config as NewSessionConfig
from streamlit.runtime.app_session import _populate_config_msg
from streamlit.testing.v1 import AppTest

from geo import store

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
    assert "secret" not in shown.message
    assert "KeyError" not in shown.message
    assert shown.message.startswith("This app has encountered an error")


# ---- tables: no "Download as CSV" built in the browser ---------------------------------------

#: A released row whose fields a spreadsheet would run, inside sector LTU-3 of the sample.
RELEASED_CSV = (
    "detection_id,time,lat,lon,source,class\n"
    'V1,2026-11-03T10:00:00Z,54.6012,25.7701,"=HYPERLINK(""http://x"",""y"")",person\n'
)
PASSWORD = "correct horse battery staple"


def _session_config() -> NewSessionConfig:
    """The config part of the NewSession message Streamlit sends each browser session."""
    msg = NewSessionConfig()
    _populate_config_msg(msg)
    return msg


def test_tables_showing_released_rows_have_no_toolbar_download(
    app_config: None, tmp_path: Path
) -> None:
    # st.dataframe has no per-table switch in Streamlit 1.67: the session's
    # disable_data_export hides the toolbar's "Download as CSV" (and copy) of every table.
    assert _session_config().disable_data_export is True

    csv = tmp_path / "lva.csv"
    csv.write_text(RELEASED_CSV)
    store.ingest_file(Path(os.environ["LIMES_STORE"]), csv, partner="LVA", releasable_to="ALL")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "geo",
            "users",
            "add",
            "cora",
            "--partner",
            "LTU",
            "--roles",
            "commander",
            "--password-stdin",
            "--users-file",
            os.environ["LIMES_USERS_FILE"],
        ],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    at.text_input(key="signin_name").input("cora")
    at.text_input(key="signin_password").input(PASSWORD)
    at.button(key="signin_submit").click().run()
    at.session_state["_pick"] = {"sectors": [{"sector_id": "LTU-3"}]}  # a click on the sector
    at.run()
    assert not at.exception
    tables = [d.value for d in at.dataframe if "detection_id" in d.value.columns]
    released = [t[t["detection_id"] == "V1"] for t in tables]
    assert any(
        len(r) and r["owner"].iloc[0] == "LVA" and r["source"].iloc[0].startswith("=")
        for r in released
    ), "the sector's table should show LVA's released row"
    # The session this page ran in has the table export off.
    assert config.get_option("client.disableDataExport") is True
    assert _session_config().disable_data_export is True
