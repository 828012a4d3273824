"""ui.admin_actions: what the Admin page does to the users file and the operations' partners.

Checked against the users file as geo.access reads it back, and against the store's record.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from geo import access
from geo.core.errors import ValidationError
from geo.core.settings import SAMPLE_DIR
from geo.operations import Operation, Partner, create_operation, load_operation
from layers.style import GAP, PARTNER_PALETTE
from ui import admin_actions as actions

PASSWORD = "correct horse battery staple"


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "users.json"
    access.add_user(path, "root", partner="LTU", roles="admin", password=PASSWORD)
    access.add_user(path, "ana", partner="POL", roles="analyst", password=PASSWORD)
    access.add_user(path, "bob@example.org", partner="LVA", roles="commander", oidc=True)
    return path


def test_user_table_lists_everyone_without_secrets(users: Path) -> None:
    table = actions.user_table(access.load_users(users))
    assert table["name"].tolist() == ["ana", "bob@example.org", "root"]
    assert table["roles"].tolist() == ["analyst", "commander", "admin"]
    assert table["sign_in"].tolist() == ["password", "OIDC (single sign-on)", "password"]
    assert "scrypt" not in table.to_csv()


def test_change_roles_and_partner_keeps_the_password(users: Path) -> None:
    before = access.load_users(users)["ana"]
    said = actions.change_account(
        users, "ana", partner="LVA", roles=["briefer", "analyst"], actor="root"
    )
    assert said == "roles analyst → analyst, briefer; partner POL → LVA"
    after = access.load_users(users)["ana"]
    assert (after.partner, after.roles) == ("LVA", frozenset({"analyst", "briefer"}))
    assert after.stamp == before.stamp  # same password hash: her sessions stay
    assert access.verify(users, "ana", PASSWORD) is not None
    # OIDC users stay OIDC users.
    actions.change_account(users, "bob@example.org", partner="LVA", roles=["briefer"], actor="root")
    assert access.load_users(users)["bob@example.org"].oidc


def test_no_change_writes_nothing(users: Path) -> None:
    mtime = users.stat().st_mtime_ns
    assert (
        actions.change_account(users, "ana", partner="POL", roles=["analyst"], actor="root") is None
    )
    assert users.stat().st_mtime_ns == mtime


@pytest.mark.parametrize(
    ("name", "partner", "roles", "match"),
    [
        ("root", "LTU", ["analyst"], "cannot take away your own admin role"),
        ("ana", "POL", [], "no role given"),
        ("ana", "POL", ["pilot"], "unknown role 'pilot'"),
        ("ana", "ALL", ["analyst"], "expected a partner code"),
        ("ana", "", ["analyst"], "expected a partner code"),
        ("nobody", "POL", ["analyst"], "no such user"),
    ],
)
def test_refused_changes_leave_the_file_alone(users: Path, name, partner, roles, match) -> None:
    before = users.read_bytes()
    with pytest.raises(ValidationError, match=match):
        actions.change_account(users, name, partner=partner, roles=roles, actor="root")
    assert users.read_bytes() == before


def test_an_admin_may_change_their_own_partner_and_other_roles(users: Path) -> None:
    actions.change_account(users, "root", partner="POL", roles=["admin", "planner"], actor="root")
    assert access.load_users(users)["root"].roles == {"admin", "planner"}


def test_add_a_password_user_and_an_oidc_user(users: Path) -> None:
    user = actions.add_account(
        users,
        " carl ",
        partner="LTU",
        roles=["commander"],
        password=PASSWORD,
        repeat=PASSWORD,
        actor="root",
    )
    assert user.name == "carl"
    assert access.verify(users, "carl", PASSWORD) is not None
    sso = actions.add_account(
        users, "Dana@Example.org", partner="POL", roles=["analyst"], oidc=True, actor="root"
    )
    assert sso.name == "dana@example.org"
    assert access.load_users(users)["dana@example.org"].oidc


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"name": "eve", "password": PASSWORD, "repeat": PASSWORD + "!"},
            "the two passwords differ",
        ),
        ({"name": "eve", "password": "short", "repeat": "short"}, "at least 12"),
        ({"name": "ana", "password": PASSWORD, "repeat": PASSWORD}, "exists already"),
        ({"name": "bob@example.org", "oidc": True}, "exists already"),
        (
            {"name": "eve@example.org", "oidc": True, "password": PASSWORD},
            "OIDC user has no password",
        ),
        ({"name": "eve", "oidc": True}, "e-mail address"),
        ({"name": "e ve", "password": PASSWORD, "repeat": PASSWORD}, "user name"),
    ],
)
def test_refused_additions_leave_the_file_alone(users: Path, kwargs, match) -> None:
    before = users.read_bytes()
    with pytest.raises(ValidationError, match=match):
        actions.add_account(users, partner="LTU", roles=["commander"], actor="root", **kwargs)
    assert users.read_bytes() == before


def test_remove_a_user_but_never_yourself(users: Path) -> None:
    actions.remove_account(users, "ana", actor="root")
    assert set(access.load_users(users)) == {"root", "bob@example.org"}
    with pytest.raises(ValidationError, match="cannot remove yourself"):
        actions.remove_account(users, "root", actor="root")
    with pytest.raises(ValidationError, match="no user 'ana'"):
        actions.remove_account(users, "ana", actor="root")
    assert set(access.load_users(users)) == {"root", "bob@example.org"}


def test_known_partners_come_from_users_and_operations(users: Path) -> None:
    ops = [{"partners": [{"id": "EU"}, {"id": "LTU"}]}, {"partners": []}]
    assert actions.known_partners(access.load_users(users), ops) == ["EU", "LTU", "LVA", "POL"]


def test_partner_colours_too_close_to_a_status_colour_are_refused(tmp_path: Path) -> None:
    store = tmp_path / "s.gpkg"
    partners = (
        Partner("LTU", "Lithuania"),
        Partner("POL", "Poland"),
        Partner("LVA", "Latvia"),
        Partner("EU", "EU"),
    )
    create_operation(
        store,
        Operation("baltic", partners=partners),
        border=SAMPLE_DIR / "border.geojson",
        sensors=SAMPLE_DIR / "sensors.csv",
    )
    crimson = tuple(GAP[:3])
    wanted = [Partner("LTU", "Lithuania", crimson), *partners[1:]]
    assert set(actions.colour_clashes(wanted)) == {"LTU"}
    with pytest.raises(
        ValidationError,
        match=r"partner LTU: colour #b40014 is too close to the status colour gap.*Nothing was stored",
    ):
        actions.save_partners(store, "baltic", wanted, actor="root")
    assert load_operation(store, "baltic").operation.partners == partners
    fine = [Partner("LTU", "Lietuva", PARTNER_PALETTE[1]), *partners[1:]]
    assert actions.colour_clashes(fine) == {}
    changed = actions.save_partners(store, "baltic", fine, actor="root")
    assert changed == [{"id": "LTU", "name": ["Lithuania", "Lietuva"], "colour": [None, "#ff7300"]}]
    assert load_operation(store, "baltic").operation.partners[0] == fine[0]
