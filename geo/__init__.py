"""Limes geospatial core: loading, validation and coverage analysis (no Streamlit here)."""
