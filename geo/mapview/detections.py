"""Every detection of a window a viewer may see, page by page: the rows behind its figures.

:func:`geo.mapview.map_window` counts every detection of a window but holds at most
:data:`geo.core.settings.MAX_MAP_POINTS` of them. A file of all of them (the Export page's
detections) is written from :func:`window_detections`: the operation's own rows of the
window, then the store's (:func:`geo.store.window_rows`) a page at a time, each classified
as :func:`geo.coverage.analyse` classifies (:func:`geo.coverage.streamed.classified`), with
one set of columns for every page. Memory grows with a page, not with the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from itertools import chain

import geopandas as gpd
import pandas as pd

from geo import store
from geo.coverage.streamed import classified
from geo.coverage.views import rows_without_foreign_upload_ids
from geo.mapview.window import _CLASS_COLUMNS, MapBase, _own_rows, _readers

__all__ = ["window_detections"]

#: Rows per page read from the store.
PAGE_ROWS = 50_000


def window_detections(
    base: MapBase,
    *,
    time_from: datetime | None,
    time_to: datetime | None,
    viewers: tuple[str, ...] | None,
    page_rows: int = PAGE_ROWS,
) -> Iterator[gpd.GeoDataFrame]:
    """Pages of every detection of a window ``viewers`` may see, classified.

    The operation's own rows first, then the stored ones a page at a time. Every page has
    the same columns, in the order of :attr:`MapWindow.result`'s ``detections`` layer (the
    class columns last); a column a page lacks is missing there. Together the pages hold the
    rows of :func:`geo.coverage.analyse` with every detection, cut to the window and the
    viewers (upload ids of other partners' rows hidden, as
    :func:`geo.coverage.views.hide_foreign_upload_ids` hides them).

    Parameters
    ----------
    base
        :func:`geo.mapview.map_base`.
    time_from, time_to
        The window (UTC; ``None``: open).
    viewers
        The partners whose releasability applies; ``None`` sees everything.
    page_rows
        The most stored rows read at a time.
    """
    mine = _own_rows(base, time_from, time_to, viewers).layers.get("detections")
    stored: Iterator[gpd.GeoDataFrame] = iter(())
    if base.stored:
        pages = store.window_rows(
            base.path, _readers(base, viewers), operation=base.operation,
            time_from=time_from, time_to=time_to, batch_rows=page_rows,
        )  # fmt: skip
        stored = (classified(page, base.classifier) for page in pages)
    first = next(stored, None)  # its columns, before the own rows are written
    columns = _columns(mine, first)
    for page in chain([mine, first], stored):
        if page is not None and len(page):
            yield rows_without_foreign_upload_ids(_aligned(page, columns, first, mine), viewers)


def _columns(mine: gpd.GeoDataFrame | None, first: gpd.GeoDataFrame | None) -> list[str]:
    """The columns of every page: the own rows', then the store's others, the class ones last."""
    names: list[str] = []
    for frame in (mine, first):
        if frame is not None:
            names += [c for c in frame.columns if c not in names]
    return [c for c in names if c not in _CLASS_COLUMNS] + [c for c in _CLASS_COLUMNS if c in names]


def _aligned(
    page: gpd.GeoDataFrame,
    columns: list[str],
    *others: gpd.GeoDataFrame | None,
) -> gpd.GeoDataFrame:
    """``page`` with ``columns``; one it lacks is missing, of the type it has in ``others``."""
    out = page.reset_index(drop=True)
    for name in columns:
        if name in out:
            continue
        like = next((o[name] for o in others if o is not None and name in o), None)
        dtype = "object" if like is None else like.dtype
        if pd.api.types.is_integer_dtype(dtype):
            dtype = "Int64"
        out[name] = pd.Series([None] * len(out), index=out.index, dtype=dtype)
    return gpd.GeoDataFrame(out[columns], geometry="geometry", crs="EPSG:4326")
