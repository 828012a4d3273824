"""Limes: the border-coverage dashboard. ``make run`` starts it on the bundled sample scenario.

This entry point only sets up the page and the navigation; each page reads widgets and calls
``geo`` (analysis) and ``layers`` (map layers).
"""

import streamlit as st

from geo.core.errors import ValidationError
from geo.core.settings import store_path
from ui import signin
from ui.deck_tooltip import keep_tooltips_on_screen
from ui.store_upgrade import upgrade_if_older

st.set_page_config(page_title="Limes — border coverage", layout="wide")

# A store name Limes cannot use ($LIMES_STORE: mysql://..., postgresql: without //) stops here
# with its message, before anything is read or created.
try:
    store_path()
except ValidationError as exc:
    st.error(str(exc))
    st.stop()

# An older store is upgraded now, its progress shown (the first write, often the sign-in,
# would otherwise upgrade it without a word, and the first Map page bin every row).
upgrade_if_older(store_path())

# The pages, and the role each needs (None: every user; "a,b": either).
PAGES = [
    (None, st.Page("app_pages/map.py", title="Map", default=True)),
    ("analyst", st.Page("app_pages/upload.py", title="Upload")),
    ("planner", st.Page("app_pages/operations.py", title="Operations")),
    ("planner", st.Page("app_pages/sensors.py", title="Sensors")),
    ("planner,commander", st.Page("app_pages/plan.py", title="Plan")),
    ("briefer", st.Page("app_pages/export.py", title="Export")),
    ("admin", st.Page("app_pages/admin.py", title="Admin")),
]

# Who is looking, checked on the server on every rerun: the demo banner (no users file), or
# the sign-in page, the only page listed until signed in (the run stops there).
viewer = signin.current_viewer(url_paths=[p.url_path for _, p in PAGES])

page = st.navigation(
    [p for role, p in PAGES if role is None or any(map(viewer.can, role.split(",")))]
)
# deck.gl's map tooltips flip to stay on screen, on every page (one hidden element).
keep_tooltips_on_screen()
page.run()
