"""Upload page: analysts add detection files to the shared store, with a releasability marking."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from geo import store
from geo.core import settings
from geo.core.errors import ValidationError
from geo.inputs import bounded
from layers.map import preview_deck
from ui import layer_files, operations, signin, upload_history
from ui import shared as ui

viewer = signin.viewer()
if not viewer.can("analyst"):
    st.error("Uploads are for analysts: your account does not have the analyst role.")
    st.stop()

opened = operations.open_or_stop(viewer)
sc = ui.scenario_or_stop(opened.source)

st.title("Upload detections")
st.caption(f"Into the operation **{sc.name}** (choose another in the sidebar).")
path = ui.store_path()
partners = ui.scenario_partners(sc)

# ---- who owns the rows ---------------------------------------------------------------------
if viewer.demo:
    owner = st.selectbox("Upload as partner (demo mode: any)", partners, key="upload_partner")
else:
    owner = viewer.partner
    st.caption(f"Signed in as **{viewer.name}**: rows are owned by **{owner}**.")
st.caption(
    "CSV, GeoJSON, KML/KMZ, GPX, zipped Shapefile, GeoPackage, GeoParquet, FlatGeobuf "
    "or Cursor-on-Target XML; "
    f"up to {settings.MAX_UPLOAD_MB} MB each. Each file is checked before anything is stored; "
    "an upload is stored whole or not at all."
)

# A new key empties the uploader after a confirmed upload.
st.session_state.setdefault("upload_round", 0)
files = st.file_uploader(
    "Detection files",
    accept_multiple_files=True,
    key=f"upload_files_{st.session_state.upload_round}",
)


def _check(name: str, data: bytes) -> dict:
    """Read one uploaded file as detections: its rows, report, preview map, or why it is refused."""
    out: dict = {
        "name": name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "det": None,
        "rep": {},
        "refused": None,
    }
    if len(data) > settings.MAX_UPLOAD_MB * 1024 * 1024:
        out["refused"] = f"{name}: the file is too large: at most {settings.MAX_UPLOAD_MB} MB"
        return out
    with tempfile.TemporaryDirectory(prefix="limes-upload-") as tmp:
        local = Path(tmp) / name
        local.write_bytes(data)
        try:
            det, report = bounded.read_detections(local, source_name=name)  # child process, limited
        except ValidationError as exc:
            out["refused"] = str(exc)
            return out
    out["det"], out["rep"] = (
        det,
        report.to_dict() | {"_report": report},
    )
    if len(det):
        out["preview"] = preview_deck(det, height=320)
    return out


# Each file in the uploader is checked once and kept in this session only (its rows, report and
# preview), until it leaves the uploader: no copy per rerun, nothing shared between sessions.
held = st.session_state.get("upload_checks", {})
checks = {}
for f in files or []:
    if f.file_id not in held:
        with st.spinner(f"Checking {layer_files.safe_name(f.name)}…"):
            held[f.file_id] = _check(layer_files.safe_name(f.name), f.getvalue())
    checks[f.file_id] = held[f.file_id]
st.session_state.upload_checks = checks

for file_id, entry in checks.items():
    name, det, rep, refused = entry["name"], entry["det"], entry["rep"], entry["refused"]
    with st.container(border=True):
        st.subheader(name)
        if refused:
            st.error(f"Refused, nothing will be stored: {refused}")
            continue
        layer_files.show_report(rep["_report"])
        if len(det):
            left, right = st.columns([3, 2])
            with left:
                preview, caption = entry["preview"]
                st.pydeck_chart(preview, height=320, key=f"preview_{file_id}")
                st.caption(f"Preview: {caption}")
            with right:
                st.dataframe(
                    pd.DataFrame(det.drop(columns="geometry")).head(200),
                    hide_index=True,
                    width="stretch",
                    height=320,
                )
                if len(det) > 200:
                    st.caption(f"The first 200 of {len(det):,} rows")

ok = [e for e in checks.values() if not e["refused"] and len(e["det"])]

# ---- releasability -------------------------------------------------------------------------
if ok:
    st.subheader("Releasability")
    choice = st.radio(
        "Who may see these rows",
        ["Our partner only", "All partners", "Selected partners"],
        key="upload_release",
        help="Default deny: without a marking, rows are seen by the owner only. "
        "Markings a file carries (e.g. Cursor-on-Target releasableTo) are kept for its rows.",
    )
    marking = ""
    if choice == "All partners":
        marking = store.ALL
    elif choice == "Selected partners":
        chosen = st.multiselect(
            "Release to", [p for p in partners if p != owner], key="upload_release_to"
        )
        marking = ",".join(chosen)
    rows = sum(len(e["det"]) for e in ok)
    if st.button(
        f"Store {rows:,} accepted row(s) from {len(ok)} file(s)",
        type="primary",
        key="upload_confirm",
    ):
        results = []
        for e in ok:
            name = e["name"]
            try:
                with st.spinner(f"Storing {len(e['det']):,} rows of {name}…"):
                    res = store.ingest(
                        path,
                        e["det"],
                        e["rep"]["_report"],
                        file_name=name,
                        sha256=e["sha256"],
                        partner=owner,
                        releasable_to=marking or None,
                        user=viewer.name or upload_history.DEMO_USER,
                        operation=opened.name,
                    )
            except ValidationError as exc:
                results.append({"file": name, "stored": "no", "message": str(exc)})
                continue
            results.append(
                {
                    "file": name,
                    "stored": "yes",
                    "upload_id": res.upload_id,
                    "accepted": res.accepted,
                    "rejected": res.rejected,
                    "duplicates": res.duplicates,
                    "message": "; ".join(res.notes),
                }
            )
        st.session_state.upload_results = results
        st.session_state.upload_round += 1
        st.rerun()

if st.session_state.get("upload_results"):
    st.success("Upload finished: the map of every partner allowed to see the rows shows them now.")
    st.dataframe(
        pd.DataFrame(st.session_state.pop("upload_results")), hide_index=True, width="stretch"
    )

# ---- history: the uploads the viewer may manage; retract or re-mark one ---------------------
upload_history.show_history(viewer, path, opened.name, partners, opened.timezone)
