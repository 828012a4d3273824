"""A viewer never sees another partner's upload ids (issue 14, point 3).

Upload ids number every upload to the shared store, of every partner, released or not. A
signed-in analyst's upload history lists its own partner's uploads; the data a briefer
exports holds the rows other partners released to it, but without their upload ids.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from geo import store
from geo.coverage.analysis import Analysis
from geo.coverage.views import hide_foreign_upload_ids

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery staple"

#: Rows inside the sample scenario's corridor; ``X`` is replaced by each upload's prefix.
CSV = (
    "detection_id,time,lat,lon,source,class\n"
    "X1,2026-11-03T10:00:00Z,54.6012,25.7701,patrol,person\n"
    "X2,2026-11-03T11:00:00Z,54.6105,25.7802,patrol,vehicle\n"
)
#: (partner, marking, detection id prefix) of each upload, in upload order (ids 1, 2, ...).
UPLOADS = [("LVA", "ALL", "V"), ("LTU", None, "L"), ("POL", None, "P"), ("LVA", "ALL", "W")]


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Cold Streamlit caches: they are process-wide and other tests fill them."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def shared_store(tmp_path: Path) -> dict[str, int]:
    """The app's store with the :data:`UPLOADS`; returns detection id prefix -> upload id."""
    path = Path(os.environ["LIMES_STORE"])
    ids = {}
    for partner, marking, prefix in UPLOADS:
        csv = tmp_path / f"{prefix}.csv"
        csv.write_text(CSV.replace("X", prefix))
        ids[prefix] = store.ingest_file(path, csv, partner=partner, releasable_to=marking).upload_id
    assert ids == {"V": 1, "L": 2, "P": 3, "W": 4}
    return ids


@pytest.fixture
def deferred(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], Any]]:
    """The callables of deferred download buttons, by ``deferred_file_id``, to run them."""
    made: dict[str, Callable[[], Any]] = {}
    real = MediaFileManager.add_deferred

    def recording(
        self: MediaFileManager, data_callable: Callable[[], Any], *args: Any, **kwargs: Any
    ) -> str:
        file_id = real(self, data_callable, *args, **kwargs)
        made[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", recording)
    return made


def signed_in(name: str, partner: str, roles: str) -> AppTest:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "geo",
            "users",
            "add",
            name,
            "--partner",
            partner,
            "--roles",
            roles,
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
    at.text_input(key="signin_name").input(name)
    at.text_input(key="signin_password").input(PASSWORD)
    at.button(key="signin_submit").click().run()
    assert not at.exception
    return at


def test_upload_history_lists_the_viewers_own_uploads_only(shared_store: dict[str, int]) -> None:
    at = signed_in("alice", "LTU", "analyst")
    at.switch_page("app_pages/upload.py").run()
    assert not at.exception
    (history,) = [d.value for d in at.dataframe if "Upload" in d.value.columns]
    assert history["Upload"].tolist() == [shared_store["L"]]
    assert set(history["Partner"]) == {"LTU"}


def _export_detections(
    at: AppTest, deferred: dict[str, Callable[[], Any]], label: str
) -> pd.DataFrame:
    button = next(b.proto for b in at.get("download_button") if b.proto.label == label)
    with zipfile.ZipFile(io.BytesIO(deferred[button.deferred_file_id]())) as zf:
        name = next(n for n in zf.namelist() if n.startswith("detections."))
        data = zf.read(name)
    if name.endswith(".csv"):
        return pd.read_csv(io.BytesIO(data), dtype={"upload_id": "Int64"})
    features = json.loads(data)["features"]
    return pd.DataFrame([f["properties"] for f in features])


@pytest.mark.parametrize("label", ["CSV (zip)", "GeoJSON (zip)"])
def test_exported_rows_released_by_others_carry_no_upload_id(
    shared_store: dict[str, int], deferred: dict[str, Callable[[], Any]], label: str
) -> None:
    at = signed_in("bria", "LTU", "briefer")
    at.switch_page("app_pages/export.py").run()
    assert not at.exception
    det = _export_detections(at, deferred, label)
    ids = {
        str(r.detection_id): r.upload_id
        for r in det.itertuples()
        if r.owner in ("LVA", "LTU", "POL")
    }
    # Own rows keep their upload id; LVA's released rows are there, without theirs; POL's
    # owner-only rows are not there at all.
    assert {k: v for k, v in ids.items() if k.startswith("L")} == {
        "L1": shared_store["L"],
        "L2": shared_store["L"],
    }
    assert sorted(k for k in ids if k[0] in "VW") == ["V1", "V2", "W1", "W2"]
    assert all(pd.isna(ids[k]) for k in ("V1", "V2", "W1", "W2"))
    assert not [k for k in ids if k.startswith("P")]


def _analysis(det: gpd.GeoDataFrame) -> Analysis:
    return Analysis(report={}, acrs=None, layers={"detections": det})  # type: ignore[arg-type]


def test_hide_foreign_upload_ids_keeps_own_ids_and_the_input() -> None:
    det = gpd.GeoDataFrame(
        {
            "owner": ["A", "B", "B", None],
            "partner": ["A", "B", "B", "C"],
            "upload_id": [3, 4, 5, -1],
            "releasable_to": ["", "ALL", "A", "ALL"],
        },
        geometry=[Point(0, 0)] * 4,
        crs="EPSG:4326",
    )
    before = det.copy()
    result = _analysis(det)
    hidden = hide_foreign_upload_ids(result, ["A"]).layers["detections"]
    assert hidden["upload_id"].tolist() == [3, pd.NA, pd.NA, pd.NA]
    assert hidden["owner"].tolist()[:3] == ["A", "B", "B"]  # nothing else changes
    pd.testing.assert_frame_equal(det, before)
    assert result.layers["detections"] is det
    # The demo joint view (None) and a viewer who owns every row keep every id, unchanged.
    assert hide_foreign_upload_ids(result, None) is result
    only_own = _analysis(det.iloc[:1])
    assert hide_foreign_upload_ids(only_own, ["A"]) is only_own
