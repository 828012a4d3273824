"""Map tooltips that stay on screen: one small script for every deck of every page.

deck.gl draws its tooltip with the top-left corner at the pointer and never flips it
(visgl/deck.gl#8240), so the tooltip of a dot near the right or bottom edge of a map is cut
by the map's frame. deck.gl writes that position on each hover, out of reach of the
tooltip's static style (:data:`layers.deck.TOOLTIP_STYLE`); ``deck_tooltip.js`` moves the
box to the left of / above the pointer when it would cross the edge of the map or window.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

#: The script: it watches every ``div.deck-tooltip`` of the browser tab. Streamlit passes
#: ``st.html`` through DOMPurify, which drops a ``<script>`` whose text holds "<" before a
#: letter, "/" or "!" (``tests/test_deck_tooltip.py`` checks it holds none).
SCRIPT = Path(__file__).with_name("deck_tooltip.js").read_text(encoding="utf-8")

#: ``id`` of the ``<script>`` element; its element container is hidden (it shows nothing, and
#: would otherwise add a gap above every page).
SCRIPT_ID = "limes-deck-tooltip"


def keep_tooltips_on_screen() -> None:
    """Load the script into the page (it runs once per browser tab; reruns send the same element).

    Call it on every run before the page, so each page's maps have it.
    """
    st.html(
        f"<style>.stElementContainer:has(> .stHtml > #{SCRIPT_ID}) {{display: none;}}</style>"
        f'<script id="{SCRIPT_ID}">{SCRIPT}</script>',
        unsafe_allow_javascript=True,
    )
