"""Streamlit glue shared by the pages.

``signin`` (who is looking), ``shared`` (cached data and map building) and ``map_panels``
(the Map page's panels). Only this package, ``app.py`` and ``app_pages/`` import Streamlit.
"""
