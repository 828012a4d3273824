"""Limes: the border-coverage dashboard. ``make run`` starts it on the bundled sample scenario.

This entry point only sets up the page and the navigation; each page reads widgets and calls
``geo`` (analysis) and ``layers`` (map layers).
"""

import streamlit as st

st.set_page_config(page_title="Limes — border coverage", layout="wide")

page = st.navigation(
    [st.Page("pages/map.py", title="Map", default=True)],
)
page.run()
