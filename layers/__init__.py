"""What the map draws: pydeck layers, their style and legend, and snapshots (PNG/PDF)."""
