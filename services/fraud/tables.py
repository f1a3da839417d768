"""The fraud service's tables (its own database): the windows of till facts its rules read, the
registrations that tell a fresh member, the rules as edited, and the alerts of the review queue."""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from service_runtime.tables import runtime_metadata

metadata = runtime_metadata()

# one row per fact and subject (a registration is a fact of its device and of its phone block);
# kept for FRAUD_RETENTION_HOURS, longer than the longest window
facts = sa.Table(
    "facts", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("event_id", UUID(as_uuid=False), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=True),  # staff:<id>, key:<id>, device:<id>, phone_block:<hash>
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("store", sa.Text, nullable=True),
    sa.Column("terminal", sa.Text, nullable=True),
    sa.Column("member_id", UUID(as_uuid=False), nullable=True),
    sa.Column("reference", sa.Text, nullable=True),
    sa.Column("amount", sa.Numeric(14, 2), nullable=True),
    sa.Column("points", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("flags", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.UniqueConstraint("event_id", "subject", name="facts_event_subject"),
    sa.Index("facts_subject_at", "subject", "at"),
    sa.Index("facts_member_kind_at", "member_id", "kind", "at"),
    sa.Index("facts_at", "at"),
)

registrations = sa.Table(
    "registrations", metadata,
    sa.Column("member_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("store", sa.Text, nullable=True),
    sa.Column("subject", sa.Text, nullable=True),  # who registered them
    sa.Index("registrations_at", "registered_at"),
)

rules = sa.Table(
    "rules", metadata,
    sa.Column("rule", sa.Text, primary_key=True),
    sa.Column("settings", JSONB, nullable=False),  # the fields an admin changed; the rest are the defaults
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by", sa.Text, nullable=True),
)

alerts = sa.Table(
    "alerts", metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("severity", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("stores", ARRAY(sa.Text), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("measure", JSONB, nullable=False),
    sa.Column("evidence", JSONB, nullable=False),
    sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("acknowledged_by", sa.Text, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.CheckConstraint("status IN ('open', 'acknowledged')", name="alerts_status"),
    # one open alert per rule and subject: later facts add to it until a manager acknowledges it
    sa.Index("alerts_open_subject", "rule", "subject", unique=True, postgresql_where=sa.text("status = 'open'")),
    sa.Index("alerts_subject", "rule", "subject", "last_at"),  # the last acknowledged one's facts
    sa.Index("alerts_created", "created_at", "id"),
    sa.Index("alerts_stores", "stores", postgresql_using="gin"),
)
