"""fraud: outbox and inbox, facts, registrations, rules, alerts

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from service_runtime.migrate import create_runtime_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_runtime_tables(op)
    op.create_table(
        "facts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", UUID(as_uuid=False), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("store", sa.Text(), nullable=True),
        sa.Column("terminal", sa.Text(), nullable=True),
        sa.Column("member_id", UUID(as_uuid=False), nullable=True),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("amount", sa.Numeric(14, 2), nullable=True),
        sa.Column("points", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("flags", ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.UniqueConstraint("event_id", "subject", name="facts_event_subject"),
    )
    op.create_index("facts_subject_at", "facts", ["subject", "at"])
    op.create_index("facts_member_kind_at", "facts", ["member_id", "kind", "at"])
    op.create_index("facts_at", "facts", ["at"])
    op.create_table(
        "registrations",
        sa.Column("member_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("store", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
    )
    op.create_index("registrations_at", "registrations", ["registered_at"])
    op.create_table(
        "rules",
        sa.Column("rule", sa.Text(), primary_key=True),
        sa.Column("settings", JSONB(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=True),
    )
    op.create_table(
        "alerts",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("stores", ARRAY(sa.Text()), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("measure", JSONB(), nullable=False),
        sa.Column("evidence", JSONB(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'acknowledged')", name="alerts_status"),
    )
    op.create_index("alerts_open_subject", "alerts", ["rule", "subject"], unique=True,
                    postgresql_where=sa.text("status = 'open'"))
    op.create_index("alerts_subject", "alerts", ["rule", "subject", "last_at"])
    op.create_index("alerts_created", "alerts", ["created_at", "id"])
    op.create_index("alerts_stores", "alerts", ["stores"], postgresql_using="gin")


def downgrade() -> None:
    for table in ("alerts", "rules", "registrations", "facts", "inbox", "outbox"):
        op.drop_table(table)
