"""Each service's migrations, run on an empty database, give exactly the tables its `tables.py`
declares: alembic's autogenerate comparison finds nothing to add, drop or alter."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from service_runtime import bootstrap, config, migrate
from tests.conftest import TEST_DB_PREFIX

SERVICES = sorted(p.parent.parent.name for p in (Path(migrate.ROOT) / "services").glob("*/migrations/env.py"))


def _database_url(name: str) -> str:
    return sa.make_url(config.pg_admin_url()).set(database=name).render_as_string(hide_password=False)


def _differences(url: str, metadata: sa.MetaData) -> list[Any]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            return [d for d in compare_metadata(context, metadata) if not _alembic_own(d)]
    finally:
        engine.dispose()


def _alembic_own(diff: Any) -> bool:
    """alembic's own bookkeeping table is in the database and never in tables.py."""
    return isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name == "alembic_version"


def _indexes(url: str) -> dict[str, str]:
    """Every index as PostgreSQL prints its definition (expression indexes included)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                                        "AND tablename <> 'alembic_version'")).all()
    finally:
        engine.dispose()
    return {name: definition for name, definition in rows}


def test_every_service_with_migrations_is_checked() -> None:
    assert {"members", "notify", "points", "gateway"} <= set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_produce_exactly_the_declared_tables(service: str) -> None:
    migrated = _database_url(f"{TEST_DB_PREFIX}schema_{service}")
    declared = _database_url(f"{TEST_DB_PREFIX}schema_{service}_declared")
    metadata = importlib.import_module(f"services.{service}.tables").metadata
    for url in (migrated, declared):
        bootstrap.ensure_database(url, drop=True)
    try:
        migrate.upgrade(service, migrated)
        assert _differences(migrated, metadata) == []
        # alembic cannot compare every index expression (an operator class, say): PostgreSQL can
        engine = sa.create_engine(declared, poolclass=sa.pool.NullPool)
        metadata.create_all(engine)
        engine.dispose()
        assert _indexes(migrated) == _indexes(declared)
    finally:
        for url in (migrated, declared):
            bootstrap.drop_database(url)
