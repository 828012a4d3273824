"""ui.admin_actions: what the Admin page does to the users file and the operations' partners.

Checked against the users file as geo.access reads it back, and against the store's record.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from geo import access
from geo import store as geo_store
from geo.access import Viewer
from geo.core.errors import ValidationError
from geo.core.settings import SAMPLE_DIR
from geo.operations import Operation, Partner, create_operation, load_operation
from layers.style import GAP, PARTNER_PALETTE
from ui import admin_actions as actions

PASSWORD = "correct horse battery staple"
ROOT = Viewer("root", "LTU", frozenset({"admin"}))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """The store the audit rows go to (created by the first of them)."""
    return tmp_path / "s.gpkg"


def _log(path: Path) -> list[tuple]:
    """The audit log's events (not uploads or operations), oldest first."""
    log = geo_store.audit_log(path)
    log = log[log["action"].str.startswith(("user.", "operation.partners"))]
    return [
        (
            r.user,
            r.partner,
            r.action,
            None if pd.isna(r.operation) else r.operation,
            r.target,
            json.loads(r.detail),
        )
        for r in log.iloc[::-1].itertuples()
    ]


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


def test_change_roles_and_partner_keeps_the_password(users: Path, store: Path) -> None:
    before = access.load_users(users)["ana"]
    said = actions.change_account(
        users, "ana", partner="LVA", roles=["briefer", "analyst"], actor=ROOT, store_path=store
    )
    assert said == "roles analyst → analyst, briefer; partner POL → LVA"
    after = access.load_users(users)["ana"]
    assert (after.partner, after.roles) == ("LVA", frozenset({"analyst", "briefer"}))
    assert after.stamp == before.stamp  # same password hash: her sessions stay
    assert access.verify(users, "ana", PASSWORD) is not None
    # OIDC users stay OIDC users.
    actions.change_account(
        users, "bob@example.org", partner="LVA", roles=["briefer"], actor=ROOT, store_path=store
    )
    assert access.load_users(users)["bob@example.org"].oidc
    assert _log(store) == [
        (
            "root",
            "LTU",
            "user.roles",
            None,
            "ana",
            {"roles": [["analyst"], ["analyst", "briefer"]], "partner": ["POL", "LVA"]},
        ),
        (
            "root",
            "LTU",
            "user.roles",
            None,
            "bob@example.org",
            {"roles": [["commander"], ["briefer"]], "partner": ["LVA", "LVA"]},
        ),
    ]


def test_no_change_writes_nothing(users: Path, store: Path) -> None:
    mtime = users.stat().st_mtime_ns
    assert (
        actions.change_account(
            users, "ana", partner="POL", roles=["analyst"], actor=ROOT, store_path=store
        )
        is None
    )
    assert users.stat().st_mtime_ns == mtime
    assert not store.exists()  # nothing audited either


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
def test_refused_changes_leave_the_file_alone(
    users: Path, store: Path, name, partner, roles, match
) -> None:
    before = users.read_bytes()
    with pytest.raises(ValidationError, match=match):
        actions.change_account(
            users, name, partner=partner, roles=roles, actor=ROOT, store_path=store
        )
    assert users.read_bytes() == before
    assert not store.exists()


def test_an_admin_may_change_their_own_partner_and_other_roles(users: Path, store: Path) -> None:
    actions.change_account(
        users, "root", partner="POL", roles=["admin", "planner"], actor=ROOT, store_path=store
    )
    assert access.load_users(users)["root"].roles == {"admin", "planner"}


def test_add_a_password_user_and_an_oidc_user(users: Path, store: Path) -> None:
    user = actions.add_account(
        users,
        " carl ",
        partner="LTU",
        roles=["commander"],
        password=PASSWORD,
        repeat=PASSWORD,
        actor=ROOT,
        store_path=store,
    )
    assert user.name == "carl"
    assert access.verify(users, "carl", PASSWORD) is not None
    sso = actions.add_account(
        users,
        "Dana@Example.org",
        partner="POL",
        roles=["analyst"],
        oidc=True,
        actor=ROOT,
        store_path=store,
    )
    assert sso.name == "dana@example.org"
    assert access.load_users(users)["dana@example.org"].oidc
    assert _log(store) == [
        (
            "root",
            "LTU",
            "user.add",
            None,
            "carl",
            {"partner": "LTU", "roles": ["commander"], "sign_in": "password"},
        ),
        (
            "root",
            "LTU",
            "user.add",
            None,
            "dana@example.org",
            {"partner": "POL", "roles": ["analyst"], "sign_in": "oidc"},
        ),
    ]


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
def test_refused_additions_leave_the_file_alone(users: Path, store: Path, kwargs, match) -> None:
    before = users.read_bytes()
    with pytest.raises(ValidationError, match=match):
        actions.add_account(
            users, partner="LTU", roles=["commander"], actor=ROOT, store_path=store, **kwargs
        )
    assert users.read_bytes() == before
    assert not store.exists()


def test_remove_a_user_but_never_yourself(users: Path, store: Path) -> None:
    actions.remove_account(users, "ana", actor=ROOT, store_path=store)
    assert set(access.load_users(users)) == {"root", "bob@example.org"}
    with pytest.raises(ValidationError, match="cannot remove yourself"):
        actions.remove_account(users, "root", actor=ROOT, store_path=store)
    with pytest.raises(ValidationError, match="no user 'ana'"):
        actions.remove_account(users, "ana", actor=ROOT, store_path=store)
    assert set(access.load_users(users)) == {"root", "bob@example.org"}
    assert _log(store) == [
        ("root", "LTU", "user.remove", None, "ana", {"partner": "POL", "roles": ["analyst"]})
    ]


def test_only_an_administrator_changes_anything(users: Path, store: Path) -> None:
    ana = Viewer("ana", "POL", frozenset({"analyst", "planner"}))
    before = users.read_bytes()
    with pytest.raises(ValidationError, match="only an administrator may change users"):
        actions.change_account(
            users, "ana", partner="POL", roles=["admin"], actor=ana, store_path=store
        )
    with pytest.raises(ValidationError, match="only an administrator"):
        actions.remove_account(users, "root", actor=ana, store_path=store)
    with pytest.raises(ValidationError, match="only an administrator"):
        actions.add_account(
            users,
            "eve",
            partner="POL",
            roles=["admin"],
            actor=ana,
            store_path=store,
            password=PASSWORD,
            repeat=PASSWORD,
        )
    with pytest.raises(ValidationError, match="only an administrator"):
        actions.save_partners(store, "baltic", [], actor=ana)
    assert users.read_bytes() == before
    assert not store.exists()


def test_known_partners_come_from_users_and_operations(users: Path) -> None:
    ops = [{"partners": [{"id": "EU"}, {"id": "LTU"}]}, {"partners": []}]
    assert actions.known_partners(access.load_users(users), ops) == ["EU", "LTU", "LVA", "POL"]


def test_partner_colours_too_close_to_a_status_colour_are_refused(store: Path) -> None:
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
        actions.save_partners(store, "baltic", wanted, actor=ROOT)
    assert load_operation(store, "baltic").operation.partners == partners
    fine = [Partner("LTU", "Lietuva", PARTNER_PALETTE[1]), *partners[1:]]
    assert actions.colour_clashes(fine) == {}
    assert _log(store) == []
    changed = actions.save_partners(store, "baltic", fine, actor=ROOT)
    assert changed == [{"id": "LTU", "name": ["Lithuania", "Lietuva"], "colour": [None, "#ff7300"]}]
    assert load_operation(store, "baltic").operation.partners[0] == fine[0]
    assert _log(store) == [
        ("root", "LTU", "operation.partners", "baltic", "baltic", {"changed": changed})
    ]


def test_a_store_that_refuses_the_audit_row_is_reported(users: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gpkg"
    broken.write_text("not a GeoPackage", encoding="utf-8")
    with pytest.raises(
        actions.NotAudited, match=r"user.roles ana: done, but the audit log could not"
    ):
        actions.change_account(
            users, "ana", partner="POL", roles=["briefer"], actor=ROOT, store_path=broken
        )
    assert access.load_users(users)["ana"].roles == {"briefer"}  # the change itself was made
    assert broken.read_text(encoding="utf-8") == "not a GeoPackage"
