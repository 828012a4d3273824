"""The tooltip script reaches the browser whole (its behaviour: ``test_browser_tooltips.py``)."""

from __future__ import annotations

import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from ui.deck_tooltip import SCRIPT, SCRIPT_ID

ROOT = Path(__file__).resolve().parents[1]


def test_the_script_survives_streamlits_html_sanitiser() -> None:
    # DOMPurify (SAFE_FOR_XML) removes a <script> whose text looks like markup: "<" then a
    # letter, "/" or "!". The script would then never run, silently.
    assert not re.search(r"<[/\w!]", SCRIPT), re.search(r".{0,30}<[/\w!].{0,30}", SCRIPT)


def test_the_app_sends_the_script_once_before_the_page() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    assert not at.exception
    ours = [h.proto for h in at.get("html") if SCRIPT_ID in h.proto.body]
    assert len(ours) == 1, f"{len(ours)} elements carry the tooltip script"
    assert SCRIPT in ours[0].body
    assert ours[0].unsafe_allow_javascript
