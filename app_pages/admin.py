"""Admin page: users and roles, the partners of each operation, the audit log.

Offered to administrators only (``app.py``); the page checks the role again on the server.
"""

from __future__ import annotations

import streamlit as st

from ui import admin, signin
from ui import shared as ui

viewer = signin.viewer()
if not viewer.can("admin"):
    st.error("The Admin page is for administrators: your account does not have the admin role.")
    st.stop()

st.title("Admin")
users_tab, partners_tab, audit_tab = st.tabs(["Users and roles", "Partners", "Audit log"])
with users_tab:
    admin.users_section(viewer, signin.users_file(), ui.store_path())
with partners_tab:
    admin.partners_section(viewer, ui.store_path())
with audit_tab:
    admin.audit_section(ui.store_path())
