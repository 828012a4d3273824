"""Limes: the border-coverage dashboard. ``make run`` starts it on the bundled sample scenario.

This entry point only sets up the page and the navigation; each page reads widgets and calls
``geo`` (analysis) and ``layers`` (map layers).
"""

import streamlit as st

import signin

st.set_page_config(page_title="Limes — border coverage", layout="wide")

# Who is looking, checked on the server on every rerun: the demo banner (no users file), or
# the sign-in page until signed in (the run stops there).
viewer = signin.current_viewer()

pages = [st.Page("app_pages/map.py", title="Map", default=True)]
if viewer.can("analyst"):
    pages.append(st.Page("app_pages/upload.py", title="Upload"))
if viewer.can("briefer"):
    pages.append(st.Page("app_pages/export.py", title="Export"))
page = st.navigation(pages)
page.run()
