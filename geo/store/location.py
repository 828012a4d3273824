"""Which back-end a store name selects: a GeoPackage path, or a PostgreSQL/PostGIS URL.

Every public function of :mod:`geo.store` takes the store as a path or a URL string and
asks here which it is (:func:`geo.core.settings.store_name` refuses other URL-like names).
A function that the PostgreSQL back-end does not offer yet refuses a URL with a message
(:func:`sqlite_path`) rather than taking it as a file name.
"""

from __future__ import annotations

import os
from pathlib import Path

from geo.core.errors import ValidationError, describe, shown_url
from geo.core.settings import store_name

__all__ = ["existing_store", "postgres_url", "shown_store", "sqlite_path"]


def postgres_url(store: str | os.PathLike[str]) -> str | None:
    """The PostgreSQL URL ``store`` names, or None for a GeoPackage path.

    Raises
    ------
    ValidationError
        A URL-like name Limes cannot use (see :func:`geo.core.settings.store_name`).

    Examples
    --------
    >>> postgres_url("postgresql://limes@db:5432/limes"), postgres_url(Path("limes.gpkg"))
    ('postgresql://limes@db:5432/limes', None)
    """
    name = store_name(store)
    return name if isinstance(name, str) else None


def shown_store(store: str | os.PathLike[str]) -> str:
    """The store's name as messages show it: a path as it is, a URL without its password.

    Examples
    --------
    >>> shown_store("postgresql://limes:secret@db/limes"), shown_store(Path("limes.gpkg"))
    ('postgresql://limes:***@db/limes', 'limes.gpkg')
    """
    url = postgres_url(store)
    return str(store) if url is None else shown_url(url)


def sqlite_path(store: str | os.PathLike[str], what: str = "this") -> Path:
    """The GeoPackage path ``store`` names; a PostgreSQL URL is refused for ``what``.

    Raises
    ------
    ValidationError
        A PostgreSQL URL (``what`` is not offered on PostgreSQL yet), or a URL-like name
        Limes cannot use.
    """
    name = store_name(store)
    if isinstance(name, Path):
        return name
    raise ValidationError(
        describe(
            shown_url(name),
            f"{what} is not available on a PostgreSQL store yet",
            expected="a GeoPackage store (a file path) for it",
            got=shown_url(name),
            fix="Use a GeoPackage store (--store data/limes.gpkg) for this",
        )
    )


def existing_store(store: str | os.PathLike[str]) -> Path | str:
    """``store`` when it exists, else a :class:`ValidationError` naming it (``--store``).

    A PostgreSQL URL is handed back as it is (the server says whether the database exists);
    a path is handed back as a :class:`~pathlib.Path`.

    Examples
    --------
    >>> try:
    ...     existing_store(Path("no-such-store.gpkg"))
    ... except ValidationError as exc:
    ...     print(str(exc).split(":")[:2])
    ['no-such-store.gpkg', ' no such store']
    """
    if postgres_url(store) is not None:
        return str(store)
    if not Path(store).exists():
        raise ValidationError(
            describe(
                str(store),
                "no such store",
                expected="an existing store",
                got="nothing at that path",
                fix="Check --store",
            )
        )
    return Path(store)
