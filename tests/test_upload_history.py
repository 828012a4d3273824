"""The Upload page's history: retract an upload, or change who may see it (issue 16).

The user's steps with AppTest: upload a file on the Upload page, choose it in the history,
retract it (after ticking the confirmation) or give it another marking; then look at the
Map page of a partner. The truths compared with come from outside the page: the store's own
reads (:func:`geo.store.visible_detections`, :func:`geo.store.uploads`) and its audit log
(:func:`geo.store.audit_log`), and the map's count before the upload.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from test_upload_page import CSV, map_detection_count

from geo import store
from geo.access import add_user
from geo.operations import SAMPLE

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery staple"


def _app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240).run()
    assert not at.exception
    return at


def _map_count(at: AppTest, partner: str) -> int:
    at.switch_page("app_pages/map.py").run()
    at.selectbox(key="partner").set_value(partner).run()
    assert not at.exception
    return map_detection_count(at)


def _upload(at: AppTest, *, as_partner: str | None, marking: str = "Our partner only") -> int:
    """Upload :data:`CSV` on the Upload page (3 good rows); return the new upload's id."""
    at.switch_page("app_pages/upload.py").run()
    if as_partner is not None:
        at.selectbox(key="upload_partner").set_value(as_partner).run()
    at.file_uploader[0].set_value(("patrol.csv", CSV, "text/csv")).run()
    at.radio(key="upload_release").set_value(marking).run()
    at.button(key="upload_confirm").click().run()
    assert not at.exception
    assert any("Upload finished" in s.value for s in at.success)
    return int(store.uploads(_store(), store.owners(_store()))["upload_id"].max())


def _store() -> Path:
    return Path(os.environ["LIMES_STORE"])


def _history_ids(at: AppTest) -> list[int]:
    """The uploads the page offers to change (none: no selectbox)."""
    boxes = [s for s in at.selectbox if s.key == "history_upload"]
    return [int(o.split(" · ")[0]) for o in boxes[0].options] if boxes else []


def _table(at: AppTest) -> list[dict[str, object]]:
    """The history table's rows as the page shows them."""
    frame = at.dataframe[-1].value
    return frame.to_dict("records")


def _retract(at: AppTest, upload_id: int) -> None:
    at.selectbox(key="history_upload").set_value(upload_id).run()
    assert _button(at, "_retract").disabled  # not before the confirmation is ticked
    next(c for c in at.checkbox if c.key.endswith("_retract_ok")).check().run()
    _button(at, "_retract").click().run()
    assert not at.exception


def _button(at: AppTest, suffix: str) -> object:
    return next(b for b in at.button if b.key.startswith("history_") and b.key.endswith(suffix))


def _choose_marking(at: AppTest, upload_id: int, choice: str, to: list[str] | None) -> None:
    at.selectbox(key="history_upload").set_value(upload_id).run()
    radio = next(r for r in at.radio if r.key.startswith("history_"))
    radio.set_value(choice).run()
    if to is not None:
        next(m for m in at.multiselect if m.key.startswith("history_")).set_value(to).run()


def _remark(at: AppTest, upload_id: int, choice: str, to: list[str] | None = None) -> None:
    _choose_marking(at, upload_id, choice, to)
    _button(at, "_mark").click().run()
    assert not at.exception


def _actions(upload_id: int) -> list[tuple[str, str]]:
    """The audit log's (action, user) entries about the upload, oldest first."""
    log = store.audit_log(_store())
    mine = log[log["target"] == str(upload_id)]
    return [
        (a, "" if pd.isna(u) else u) for a, u in zip(mine["action"], mine["user"], strict=True)
    ][::-1]


def test_demo_retract_takes_the_rows_off_the_map_and_the_audit_keeps_both() -> None:
    at = _app()
    before = _map_count(at, "LVA")
    assert len(store.visible_detections(_store(), "LVA")) == 0
    upload_id = _upload(at, as_partner="LVA")
    served = store.visible_detections(_store(), "LVA", operation=SAMPLE)
    assert sorted(served["detection_id"]) == ["U1", "U2", "U3"]
    assert _map_count(at, "LVA") == before + len(served)

    at.switch_page("app_pages/upload.py").run()
    assert any("Local demo mode" in c.value and "local demo" in c.value for c in at.caption)
    assert _history_ids(at) == [upload_id]
    # the choice names the upload's time as the table does: in the operation's time zone
    (table_row,) = _table(at)
    (when_col,) = [k for k in table_row if k.startswith("When (")]
    zone = when_col[len("When (") : -1]
    (label,) = next(s for s in at.selectbox if s.key == "history_upload").options
    assert label.endswith(f" · {table_row[when_col]} {zone}")
    assert table_row["Who"] == "local demo"  # the demo viewer's uploads say who, as retractions do
    _retract(at, upload_id)
    assert any(f"Upload {upload_id} (patrol.csv) retracted" in s.value for s in at.success)
    assert not at.error
    # the table still lists it, marked retracted; nothing is left to change
    (row,) = _table(at)
    assert row["Upload"] == upload_id
    assert row["Retracted"].startswith("retracted ")
    assert row["Retracted"].endswith("by local demo")
    assert _history_ids(at) == []

    assert len(store.visible_detections(_store(), "LVA")) == 0
    assert _map_count(at, "LVA") == before
    assert _actions(upload_id) == [("upload", "local demo"), ("upload.retract", "local demo")]
    retraction = store.audit_log(_store()).iloc[0]
    assert json.loads(retraction["detail"])["rows"] == 3


def test_demo_re_marking_to_all_puts_the_rows_on_another_partner_s_map() -> None:
    at = _app()
    before_pol = _map_count(at, "POL")
    upload_id = _upload(at, as_partner="LTU")  # our partner only
    assert len(store.visible_detections(_store(), "POL")) == 0
    assert _map_count(at, "POL") == before_pol

    at.switch_page("app_pages/upload.py").run()
    (row,) = _table(at)
    assert row["Who may see"] == "LTU only"
    _remark(at, upload_id, "All partners")
    assert any(f"Upload {upload_id} (patrol.csv): who may see" in s.value for s in at.success)
    (row,) = _table(at)
    assert row["Who may see"] == "all partners"
    # the marking widget now starts at the upload's marking
    assert next(r for r in at.radio if r.key.startswith("history_")).value == "All partners"
    assert row["Retracted"] == ""

    pol = store.visible_detections(_store(), "POL")
    assert sorted(pol["detection_id"]) == ["U1", "U2", "U3"]
    assert _map_count(at, "POL") == before_pol + len(pol)
    assert store.uploads(_store(), "LTU")["releasable_to"].tolist() == ["ALL"]
    log = store.audit_log(_store())
    mark = json.loads(log[log["action"] == "upload.mark"]["detail"].iloc[0])
    assert (mark["before"], mark["after"], mark["rows"]) == ("", "ALL", 3)

    # and to selected partners: LVA sees them, POL no more
    at.switch_page("app_pages/upload.py").run()
    _remark(at, upload_id, "Selected partners", ["LVA"])
    assert len(store.visible_detections(_store(), "POL")) == 0
    assert len(store.visible_detections(_store(), "LVA")) == 3
    assert _map_count(at, "POL") == before_pol


def _signed_in(name: str) -> AppTest:
    at = _app()
    at.text_input(key="signin_name").input(name)
    at.text_input(key="signin_password").input(PASSWORD)
    at.button(key="signin_submit").click().run()
    assert not at.exception
    return at


@pytest.fixture
def users() -> None:
    path = Path(os.environ["LIMES_USERS_FILE"])
    add_user(path, "alice", partner="LTU", roles="analyst", password=PASSWORD)
    add_user(path, "piotr", partner="POL", roles="analyst", password=PASSWORD)
    add_user(path, "root", partner="EU", roles="admin", password=PASSWORD)


@pytest.mark.usefixtures("users")
def test_signed_in_only_the_owner_s_partner_and_an_admin_may_change_an_upload() -> None:
    alice = _signed_in("alice")
    upload_id = _upload(alice, as_partner=None)
    alice.switch_page("app_pages/upload.py").run()
    assert _history_ids(alice) == [upload_id]

    piotr = _signed_in("piotr")
    piotr.switch_page("app_pages/upload.py").run()
    assert not piotr.exception
    assert _history_ids(piotr) == []
    assert any(c.value == "No uploads yet." for c in piotr.caption)
    assert not any(
        "patrol.csv" in str(frame.value.to_dict()) for frame in piotr.dataframe
    )  # not even listed

    root = _signed_in("root")
    root.switch_page("app_pages/upload.py").run()
    assert _history_ids(root) == [upload_id]
    assert _table(root)[0]["Partner"] == "LTU"

    # alice's page went stale: the admin retracts the upload while she chooses a marking;
    # her click is refused with the store's message, and nothing changes
    _choose_marking(alice, upload_id, "All partners", None)
    _retract(root, upload_id)
    _button(alice, "_mark").click().run()
    assert not alice.exception
    assert any(
        "Nothing was changed" in e.value and "already retracted" in e.value for e in alice.error
    )
    assert _actions(upload_id) == [("upload", "alice"), ("upload.retract", "root")]
    retraction = store.audit_log(_store()).iloc[0]
    assert retraction["partner"] == "EU"
    assert len(store.visible_detections(_store(), ["LTU", "LVA", "POL", "EU"])) == 0


def test_the_choice_of_upload_names_its_time_in_the_operation_s_zone() -> None:
    from ui.upload_history import _label

    row = pd.Series(
        {
            "upload_id": 7,
            "file_name": "patrol.csv",
            "partner": "LTU",
            "accepted": 1200,
            "uploaded_at": pd.Timestamp("2026-01-15 22:30", tz="UTC"),
        }
    )
    # Vilnius is UTC+2 in January: 22:30 UTC is 00:30 the next day there
    assert _label(row, "Europe/Vilnius") == (
        "7 · patrol.csv · LTU · 1,200 rows · 2026-01-16 00:30 Europe/Vilnius"
    )
    assert _label(row, "UTC").endswith("2026-01-15 22:30 UTC")


def test_the_demo_history_still_lists_retracted_uploads_of_a_partner_outside_the_operation() -> (
    None
):
    from test_pg_operations import _ingest

    # EST is no partner of the sample operation; its only upload came by the command line
    # and was retracted: it leaves every map, not the history an admin manages
    est = _ingest(_store(), 2, "EST")
    store.retract_upload(_store(), est.upload_id, user="root", partner="EU", is_admin=True)
    assert store.owners(_store()) == []
    at = _app()
    at.switch_page("app_pages/upload.py").run()
    assert not at.exception
    (row,) = _table(at)
    assert (row["Upload"], row["Partner"]) == (est.upload_id, "EST")
    assert row["Retracted"].endswith("by root")
    assert _history_ids(at) == []  # nothing left to change
    assert any("Every upload listed is retracted" in c.value for c in at.caption)
