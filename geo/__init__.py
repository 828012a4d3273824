"""Limes' geospatial core: reading inputs, computing coverage, storing detections.

Packages, lowest first (a package imports only from packages above it in this list):

``geo.core``
    Settings, errors, times, the analysis CRS and the antimeridian.
``geo.access``, ``geo.terrain``, ``geo.basemap``, ``geo.export``
    Who may see what (accounts, the releasability rule); the terrain (DEM, viewshed
    kernel, count grids, hillshade); the offline basemap and gazetteer; writing layers to
    files.
``geo.inputs``
    Input files: formats, the hostile-input guard, value checks.
``geo.coverage``, ``geo.store``
    Coverage of the border and its corridor (engines, report, partner views); the shared
    detection store.
``geo.operations``
    Operations and their versions: what a change of sensors does.

``python -m geo`` runs the command line (the top-level :mod:`cli` package).
"""
