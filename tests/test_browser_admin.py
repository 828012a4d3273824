"""The Admin page in a real browser: an administrator signs in, changes a user's role and sees
the change in the users table and the sign-in in the audit log, downloaded as CSV.

``streamlit run app.py`` is started on a free port with a users file and a store of the
test's own (``tests/conftest.py``) and driven with Playwright in Debian's Chromium, as a user
would: typing, picking options, clicking.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import pytest
from browser_util import streamlit_server, tail

from geo import access
from geo import store as geo_store

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (pip install playwright)"
)

ROOT = Path(__file__).resolve().parents[1]
VIEWPORT = {"width": 1600, "height": 1000}
PAGE_TIMEOUT_MS = 120_000
PASSWORD = "correct horse battery staple"
#: What someone typed as a user name at the sign-in form: a spreadsheet formula.
FORMULA = '=HYPERLINK("http://example.org","x")'
SHOTS = Path(os.environ.get("LIMES_SHOTS", "/tmp/shots-admin"))


def _settled(page: sync_api.Page) -> None:
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=PAGE_TIMEOUT_MS)
    assert page.get_by_test_id("stException").count() == 0


def _pick(
    page: sync_api.Page, widget: str, label: str, option: str, *, within: str | None = None
) -> None:
    """Open the select box or multiselect labelled ``label`` and click ``option``.

    ``within``: the text of the column that holds it (when another has the same label).
    """
    scope = page.get_by_test_id("stColumn").filter(has_text=within) if within else page
    box = scope.get_by_test_id(widget).filter(has=page.get_by_text(label, exact=True))
    box.locator("input").click()
    page.get_by_role("option", name=option, exact=True).click()
    if widget == "stMultiSelect":  # its list stays open for more picks: close it
        page.keyboard.press("Escape")


def _add_action(page: sync_api.Page, action: str, entries: int) -> None:
    """Add ``action`` to the audit log's filter and wait until ``entries`` rows are listed.

    A pick made while the page still reruns can be lost on a loaded machine: pick again.
    """
    shown = page.get_by_text(re.compile(rf"^{entries} of \d+ entries"))
    for attempt in range(3):
        _pick(page, "stMultiSelect", "Action", action)
        _settled(page)
        try:
            shown.wait_for(timeout=30_000)
            return
        except sync_api.TimeoutError:
            if attempt == 2:
                raise


def _sign_in(page: sync_api.Page, name: str, password: str) -> None:
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def _grid(table: sync_api.Locator) -> list[list[str]]:
    """The rows of a Streamlit table as the page has them.

    The table is drawn on a canvas (Glide Data Grid); the cells are also in the canvas's
    accessible table, which screen readers read: that is what this returns.
    """
    return table.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent.trim()))"
    )


def _users_row(page: sync_api.Page, name: str) -> list[str]:
    """The cells of ``name``'s row in the users table, once it is drawn ([] if it has none)."""
    table = page.get_by_test_id("stDataFrame").first
    table.locator("tbody tr").first.wait_for(state="attached", timeout=PAGE_TIMEOUT_MS)
    return next((r for r in _grid(table) if r and r[0] == name), [])


def test_admin_changes_a_role_and_sees_the_sign_in_in_the_audit_log(
    browser: sync_api.Browser, tmp_path: Path
) -> None:
    users = Path(os.environ["LIMES_USERS_FILE"])
    access.add_user(users, "root", partner="LTU", roles="admin", password=PASSWORD)
    access.add_user(users, "ana", partner="POL", roles="analyst", password=PASSWORD)
    SHOTS.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "streamlit.log"
    with streamlit_server(ROOT / "app.py", log=log) as url:
        page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
        try:
            page.goto(f"{url}/admin", timeout=PAGE_TIMEOUT_MS)
            page.get_by_label("User name").wait_for(timeout=PAGE_TIMEOUT_MS)
            _sign_in(page, FORMULA, "not the password")  # a failed sign-in, recorded too
            page.get_by_text("Wrong user name or password.").wait_for(timeout=PAGE_TIMEOUT_MS)
            _sign_in(page, "root", PASSWORD)
            page.get_by_role("heading", name="Users and roles").wait_for(timeout=PAGE_TIMEOUT_MS)
            _settled(page)
            nav = page.get_by_test_id("stSidebarNav")
            assert nav.get_by_role("link", name="Admin").count() == 1
            assert _users_row(page, "ana")[:3] == ["ana", "POL", "analyst"]

            # Give ana the briefer role too and save.
            edit = "Change a user's roles and partner"
            _pick(page, "stSelectbox", "User", "ana", within=edit)
            _settled(page)
            _pick(page, "stMultiSelect", "Roles", "briefer", within=edit)
            _settled(page)
            page.get_by_role("button", name="Save changes").click()
            page.get_by_text("ana: roles analyst → analyst, briefer.").wait_for(
                timeout=PAGE_TIMEOUT_MS
            )
            _settled(page)
            assert _users_row(page, "ana")[:3] == ["ana", "POL", "analyst, briefer"]
            assert access.load_users(users)["ana"].roles == {"analyst", "briefer"}
            page.screenshot(path=SHOTS / "browser-users.png", full_page=True)

            # The audit log: root's sign-in, the failed one, the role change; as CSV.
            page.get_by_role("tab", name="Audit log").click()
            _pick(page, "stMultiSelect", "Action", "signin")
            _settled(page)
            page.get_by_text(re.compile(r"^1 of \d+ entries")).wait_for(timeout=PAGE_TIMEOUT_MS)
            page.screenshot(path=SHOTS / "browser-audit.png", full_page=True)
            # the filtered table replaces the whole one a moment after the caption (loaded CI)
            for _ in range(30):
                shown = _grid(page.get_by_test_id("stDataFrame").last)
                if len(shown) == 1:
                    break
                page.wait_for_timeout(1000)
            assert [(r[1], r[2], r[3]) for r in shown] == [("root", "LTU", "signin")]
            # each pick reruns the page: wait for its count before the next (a pick made
            # while the page still reruns can be lost on a loaded machine)
            _add_action(page, "signin.failed", 2)
            _add_action(page, "user.roles", 3)
            with page.expect_download(timeout=PAGE_TIMEOUT_MS) as got:
                page.get_by_role("button", name="Download as CSV").click()
            text = Path(got.value.path()).read_text(encoding="utf-8")
        finally:
            page.close()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["action"] for r in rows] == ["user.roles", "signin", "signin.failed"]
    assert [r["user"] for r in rows] == ["root", "root", "'" + FORMULA]  # formula escaped
    assert rows[0]["target"] == "ana"
    assert rows[1]["partner"] == "LTU"
    stored = geo_store.audit_log(Path(os.environ["LIMES_STORE"]))
    assert stored["action"].tolist()[:3] == [r["action"] for r in rows]
    assert "Traceback" not in log.read_text(errors="replace"), tail(log)
