"""Tables every service has in its own database: the outbox and the inbox."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID


def outbox_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", UUID(as_uuid=False), nullable=False, unique=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("exchange", sa.Text, nullable=False),
        sa.Column("body", JSONB, nullable=False),
        sa.Column("headers", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Index("outbox_unpublished", "id", postgresql_where=sa.text("published_at IS NULL")),
    )


def inbox_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "inbox",
        metadata,
        sa.Column("event_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("handler", sa.Text, primary_key=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def runtime_metadata() -> sa.MetaData:
    """A MetaData holding just the runtime tables (a service adds its own tables to it)."""
    metadata = sa.MetaData()
    outbox_table(metadata)
    inbox_table(metadata)
    return metadata
