"""care: outbox and inbox, tickets, their history, goodwill grants

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from service_runtime.migrate import create_runtime_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_runtime_tables(op)
    op.create_table(
        "tickets",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("member_id", UUID(as_uuid=False), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("store", sa.Text(), nullable=True),
        sa.Column("sale_reference", sa.Text(), nullable=True),
        sa.Column("coupon_code", sa.Text(), nullable=True),
        sa.Column("attachments", JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("assignee", sa.Text(), nullable=True),
        sa.Column("assigned_store", sa.Text(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("goodwill_points", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.Column("opened_by", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True, unique=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('open', 'in_progress', 'waiting_on_member', 'resolved', 'closed')",
                           name="tickets_status"),
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="tickets_rating"),
    )
    op.create_index("tickets_member", "tickets", ["member_id", "created_at"])
    op.create_index("tickets_open_due", "tickets", ["due_at"],
                    postgresql_where=sa.text("status NOT IN ('resolved', 'closed')"))
    op.create_index("tickets_assigned_store", "tickets", ["assigned_store", "created_at"])
    op.create_table(
        "ticket_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("ticket_id", UUID(as_uuid=False), sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor_kind", sa.Text(), nullable=False),
        sa.Column("actor_id", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("from_status", sa.Text(), nullable=True),
        sa.Column("to_status", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("detail", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
    )
    op.create_index("ticket_history_ticket", "ticket_history", ["ticket_id", "id"])
    op.create_table(
        "goodwill",
        sa.Column("entry_id", sa.BigInteger(), primary_key=True),
        sa.Column("ticket_id", UUID(as_uuid=False), sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("staff", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )


def downgrade() -> None:
    for table in ("goodwill", "ticket_history", "tickets", "outbox", "inbox"):
        op.drop_table(table)
