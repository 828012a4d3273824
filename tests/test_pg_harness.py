"""The throwaway PostgreSQL cluster the PostGIS store's tests run on (tests/pg_util.py)."""

from __future__ import annotations

import adbc_driver_postgresql.dbapi as pg
import pg_util


def test_cluster_runs_off_5432_with_postgis_and_a_non_superuser_owner(
    pg_cluster: pg_util.Cluster, pg_store: str
) -> None:
    assert pg_cluster.port != 5432
    assert f":{pg_cluster.port}/" in pg_store
    with pg.connect(pg_store, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT current_user, rolsuper, rolbypassrls, postgis_lib_version() IS NOT NULL, "
            "(SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()) "
            "FROM pg_roles WHERE rolname = current_user"
        )
        assert cur.fetchone() == (pg_util.APP_ROLE, False, False, True, pg_util.APP_ROLE)
