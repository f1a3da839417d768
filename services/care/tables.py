"""The care service's tables (its own database): tickets, each one's history of changes, and the
goodwill points granted from them (the points ledger entry of each grant, so a retry records once)."""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from service_runtime.tables import runtime_metadata

metadata = runtime_metadata()

tickets = sa.Table(
    "tickets", metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("member_id", UUID(as_uuid=False), nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("severity", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=True),  # NULL once the member is erased
    sa.Column("store", sa.Text, nullable=True),
    sa.Column("sale_reference", sa.Text, nullable=True),
    sa.Column("coupon_code", sa.Text, nullable=True),
    sa.Column("attachments", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("assignee", sa.Text, nullable=True),
    sa.Column("assigned_store", sa.Text, nullable=True),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("goodwill_points", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rating", sa.SmallInteger, nullable=True),
    sa.Column("rating_comment", sa.Text, nullable=True),
    sa.Column("opened_by", sa.Text, nullable=False),
    sa.Column("request_id", sa.Text, nullable=True, unique=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('open', 'in_progress', 'waiting_on_member', 'resolved', 'closed')",
                       name="tickets_status"),
    sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="tickets_rating"),
    sa.Index("tickets_member", "member_id", "created_at"),
    sa.Index("tickets_open_due", "due_at", postgresql_where=sa.text("status NOT IN ('resolved', 'closed')")),
    sa.Index("tickets_assigned_store", "assigned_store", "created_at"),
)

ticket_history = sa.Table(
    "ticket_history", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("ticket_id", UUID(as_uuid=False), sa.ForeignKey("tickets.id"), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("actor_kind", sa.Text, nullable=False),
    sa.Column("actor_id", sa.Text, nullable=True),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("from_status", sa.Text, nullable=True),
    sa.Column("to_status", sa.Text, nullable=True),
    sa.Column("note", sa.Text, nullable=True),  # free text: NULL once the member is erased
    sa.Column("detail", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Index("ticket_history_ticket", "ticket_id", "id"),
)

goodwill = sa.Table(
    "goodwill", metadata,
    sa.Column("entry_id", sa.BigInteger, primary_key=True),  # the points ledger entry: one record per grant
    sa.Column("ticket_id", UUID(as_uuid=False), sa.ForeignKey("tickets.id"), nullable=False),
    sa.Column("points", sa.Integer, nullable=False),
    sa.Column("staff", sa.Text, nullable=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
