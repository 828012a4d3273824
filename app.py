"""Limes: the border-coverage dashboard. ``make run`` starts it on the bundled sample scenario.

This entry point only sets up the page and the navigation; each page reads widgets and calls
``geo`` (analysis) and ``layers`` (map layers).
"""

import streamlit as st

st.set_page_config(page_title="Limes — border coverage", layout="wide")

# Sign-in and partner accounts are not built yet (see the uploads issue): say so on every page.
st.warning(
    "Local demo mode: sign-in is off and every partner view is open. "
    "The app listens on localhost only.",
    icon="⚠️",
)

page = st.navigation(
    [st.Page("pages/map.py", title="Map", default=True), st.Page("pages/export.py", title="Export")],
)
page.run()
