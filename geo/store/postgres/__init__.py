"""The PostGIS back-end of the store: ``--store postgresql://user@host:port/database``.

The public functions of :mod:`geo.store` hand a PostgreSQL URL (see
:mod:`geo.store.location`) to these modules: ``connection`` (the ADBC PostgreSQL driver, the
viewers each transaction states), ``schema`` (the tables, created and upgraded by Limes, and
the row-level security made from the releasability rule), ``upload`` (an upload in one
transaction), ``reading`` (detections, uploads, owners, revision) and ``backups``
(``pg_dump -Fc``).
"""

from geo.store.postgres.connection import PgConnection, connect
from geo.store.postgres.schema import SCHEMA_VERSION, prepare

__all__ = ["SCHEMA_VERSION", "PgConnection", "connect", "prepare"]
