"""The Admin page with AppTest: who gets it, and what its changes do to the users file and the store.

The app reads the users file and the store ``tests/conftest.py`` points ``LIMES_USERS_FILE``
and ``LIMES_STORE`` at. A session is signed in as the sign-in form leaves it (the user's name
and password stamp in the session state); the form itself is tested in ``test_auth.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from geo import access
from geo import store as geo_store
from geo.core.settings import SAMPLE_DIR
from geo.operations import Operation, Partner, create_operation, load_operation
from layers.style import GAP
from ui.admin import DEMO_USERS

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery staple"
PAGE = "app_pages/admin.py"


@pytest.fixture
def users() -> Path:
    path = Path(os.environ["LIMES_USERS_FILE"])
    access.add_user(path, "root", partner="LTU", roles="admin", password=PASSWORD)
    access.add_user(path, "ana", partner="POL", roles="analyst,commander", password=PASSWORD)
    return path


def _signed_in(name: str) -> AppTest:
    """The app as ``name`` sees it once signed in, on the Admin page."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    user = access.load_users(os.environ["LIMES_USERS_FILE"])[name]
    at.session_state["_limes_user"] = user.name
    at.session_state["_limes_stamp"] = user.stamp
    return at


def _table(at: AppTest):
    """The users table (the first tab's table)."""
    return at.tabs[0].dataframe[0].value


def test_an_admin_gets_the_page_and_a_non_admin_does_not(users: Path) -> None:
    at = _signed_in("root").switch_page(PAGE).run()
    assert not at.exception
    assert at.title[0].value == "Admin"
    assert _table(at)["name"].tolist() == ["ana", "root"]
    other = _signed_in("ana").run()
    assert not other.exception
    # Not registered in ana's navigation at all: her pages are the Map, Upload and Plan only.
    known = r"Known pages: \['[^']*/map\.py', '[^']*/upload\.py', '[^']*/plan\.py'\]\."
    with pytest.raises(ValueError, match=known):
        other.switch_page(PAGE)


def test_editing_roles_changes_the_users_file(users: Path) -> None:
    at = _signed_in("root").switch_page(PAGE).run()
    at.selectbox(key="admin_edit_user").set_value("ana").run()
    at.multiselect(key="admin_roles__ana").set_value(["commander", "briefer"])
    at.selectbox(key="admin_partner__ana").set_value("LTU")
    at.button(key="admin_save_user").click().run()
    assert not at.exception
    assert at.success[0].value == (
        "ana: roles analyst, commander → commander, briefer; partner POL → LTU."
    )
    ana = access.load_users(users)["ana"]
    assert (ana.partner, ana.roles) == ("LTU", frozenset({"commander", "briefer"}))
    row = _table(at).set_index("name").loc["ana"]
    assert (row["partner"], row["roles"]) == ("LTU", "commander, briefer")
    # Her next rerun has the new roles: the Export page is hers now, the Upload page is not.
    hers = _signed_in("ana").run()
    hers.switch_page("app_pages/export.py")
    with pytest.raises(ValueError, match="Known pages"):
        hers.switch_page("app_pages/upload.py")


def test_an_admin_cannot_drop_their_own_admin_role(users: Path) -> None:
    before = users.read_bytes()
    at = _signed_in("root").switch_page(PAGE).run()
    at.selectbox(key="admin_edit_user").set_value("root").run()
    at.multiselect(key="admin_roles__root").set_value(["analyst"])
    at.button(key="admin_save_user").click().run()
    assert not at.exception
    assert "cannot take away your own admin role" in at.error[0].value
    assert users.read_bytes() == before


def test_add_and_remove_a_user(users: Path) -> None:
    at = _signed_in("root").switch_page(PAGE).run()
    at.text_input(key="admin_new_name").input("carl")
    at.selectbox(key="admin_new_partner").set_value("LTU")
    at.multiselect(key="admin_new_roles").set_value(["briefer"])
    at.text_input(key="admin_new_password").input(PASSWORD)
    at.text_input(key="admin_new_repeat").input(PASSWORD + "x")
    at.button(key="admin_add_user").click().run()
    assert "the two passwords differ" in at.error[0].value
    assert "carl" not in access.load_users(users)
    assert at.text_input(key="admin_new_password").value == ""  # never kept after a try
    at.text_input(key="admin_new_password").input(PASSWORD)
    at.text_input(key="admin_new_repeat").input(PASSWORD)
    at.button(key="admin_add_user").click().run()
    assert not at.exception
    assert at.success[0].value == "Added carl (LTU)."
    assert access.verify(users, "carl", PASSWORD) is not None
    assert "carl" in _table(at)["name"].tolist()
    # Remove: yourself is not offered; the button waits for the confirmation.
    assert "root" not in at.selectbox(key="admin_remove_user").options
    at.selectbox(key="admin_remove_user").set_value("carl").run()
    assert at.button(key="admin_remove").disabled
    at.checkbox(key="admin_remove_sure").check().run()
    at.button(key="admin_remove").click().run()
    assert at.success[0].value == "Removed carl."
    assert set(access.load_users(users)) == {"root", "ana"}
    assert _table(at)["name"].tolist() == ["ana", "root"]


def test_demo_mode_says_how_users_are_created() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.switch_page(PAGE).run()
    assert not at.exception
    path = os.environ["LIMES_USERS_FILE"]
    assert DEMO_USERS.format(path=path) in [i.value for i in at.info]
    assert "python -m geo users add NAME --partner P --roles admin" in DEMO_USERS
    assert not at.dataframe  # no users table, no operations


def test_partner_colours_are_checked_against_the_status_colours(users: Path) -> None:
    store = Path(os.environ["LIMES_STORE"])
    partners = (
        Partner("LTU", "Lithuania", (85, 135, 255)),
        Partner("POL", "Poland"),
        Partner("LVA", "Latvia"),
        Partner("EU", "Frontex"),
    )
    create_operation(
        store,
        Operation("baltic", partners=partners),
        border=SAMPLE_DIR / "border.geojson",
        sensors=SAMPLE_DIR / "sensors.csv",
    )
    at = _signed_in("root").switch_page(PAGE).run()
    assert at.selectbox(key="admin_operation").value == "baltic"
    swatches = at.tabs[1].dataframe[0].value
    assert swatches["id"].tolist() == ["LTU", "POL", "LVA", "EU"]
    assert swatches["colour"].iloc[0] == "#5587ff"
    # The gap crimson for POL: a warning names the status colour; saving is refused.
    at.toggle(key="admin_pown__baltic__POL").set_value(True).run()
    at.color_picker(key="admin_pcolour__baltic__POL").pick("#b40014").run()
    warning = at.warning[0].value
    assert "POL" in warning
    assert "status colour gap, the gap line (uncovered border)" in warning
    assert at.button(key="admin_save_partners").disabled
    assert load_operation(store, "baltic").operation.partners == partners
    # An orange and a new name: saved.
    at.color_picker(key="admin_pcolour__baltic__POL").pick("#ff7300").run()
    at.text_input(key="admin_pname__baltic__POL").input("Polska").run()
    assert not at.warning
    at.button(key="admin_save_partners").click().run()
    assert not at.exception
    assert at.success[0].value == "Saved: POL."
    assert load_operation(store, "baltic").operation.partners[1] == Partner(
        "POL", "Polska", (255, 115, 0)
    )
    assert tuple(GAP[:3]) == (180, 0, 20)  # the colour refused above is the gap line's


def test_changes_show_in_the_audit_log_filtered(users: Path) -> None:
    store = Path(os.environ["LIMES_STORE"])
    geo_store.record_event(store, "signin", user="ana", partner="POL")
    at = _signed_in("root").switch_page(PAGE).run()
    at.selectbox(key="admin_edit_user").set_value("ana").run()
    at.multiselect(key="admin_roles__ana").set_value(["analyst", "briefer"])
    at.button(key="admin_save_user").click().run()
    assert not at.exception
    log = at.tabs[2].dataframe[0].value
    assert log["action"].tolist()[:2] == ["user.roles", "signin"]  # newest first
    first = log.iloc[0]
    assert (first["user"], first["partner"], first["target"]) == ("root", "LTU", "ana")
    assert json.loads(first["detail"])["roles"] == [
        ["analyst", "commander"],
        ["analyst", "briefer"],
    ]
    # Filtered by user: only ana's sign-in.
    at.multiselect(key="admin_log_user").set_value(["ana"]).run()
    log = at.tabs[2].dataframe[0].value
    assert log["action"].tolist() == ["signin"]
    assert f"1 of {len(geo_store.audit_log(store)):,} entries" in at.tabs[2].caption[0].value
    # Filtered by an action nobody did with that user: nothing, and nothing to download.
    at.multiselect(key="admin_log_action").set_value(["user.roles"]).run()
    assert at.tabs[2].dataframe[0].value.empty
    assert at.get("download_button")[0].proto.disabled
