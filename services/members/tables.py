"""The members service's tables (its own database).

Phone, email and ID number are stored encrypted (``*_enc``, see crypto.py); exact lookups
go through keyed blind indexes (``*_bidx``). Nothing here holds them in clear.
"""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from service_runtime.store_zones import table as store_zones_table
from service_runtime.tables import runtime_metadata

metadata = runtime_metadata()

member_number_seq = sa.Sequence("member_number_seq", metadata=metadata)

members = sa.Table(
    "members", metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("member_number", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("gender", sa.Text, nullable=True),
    sa.Column("birthday", sa.Date, nullable=True),
    sa.Column("phone_enc", sa.Text, nullable=True),  # NULL once erased
    sa.Column("phone_bidx", sa.Text, nullable=False, unique=True),
    sa.Column("email_enc", sa.Text, nullable=True),
    sa.Column("email_bidx", sa.Text, nullable=True),
    sa.Column("id_number_enc", sa.Text, nullable=True),
    sa.Column("registration_store", sa.Text, nullable=True),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("preferences", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("status", sa.Text, nullable=False, server_default="active"),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("external_id", sa.Text, nullable=True, unique=True),  # "<source>:<id>" of an imported record
    sa.Column("import_job", UUID(as_uuid=False), nullable=True),
    sa.Column("import_line", sa.Integer, nullable=True),
    sa.Column("merged_into", UUID(as_uuid=False), nullable=True),  # set when merged into another member
    # lifecycle (migration 0003): kept from points' sale events and the daily run (lifecycle.py)
    sa.Column("lifecycle", sa.Text, nullable=False, server_default="new"),
    sa.Column("last_purchase_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("purchase_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lifecycle_changed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("status IN ('active', 'frozen', 'merged', 'erased')", name="members_status"),
    sa.Index("members_email_bidx", "email_bidx"),
    sa.Index("members_name_prefix", sa.text("lower(name) text_pattern_ops")),
    sa.Index("members_tags", "tags", postgresql_using="gin"),
    sa.Index("members_store_created", "registration_store", "created_at", "id"),
    sa.Index("members_created", "created_at", "id"),
    sa.Index("members_birthday_month", sa.text("(extract(month FROM birthday))")),
    sa.CheckConstraint("lifecycle IN ('new', 'active', 'at_risk', 'dormant', 'lost')", name="members_lifecycle"),
    sa.Index("members_lifecycle_created", "lifecycle", "created_at", "id"),
)

# the lifecycle thresholds in force (one row; none: the defaults of lifecycle_rules.Thresholds)
lifecycle_settings = sa.Table(
    "lifecycle_settings", metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True),
    sa.Column("at_risk_days", sa.Integer, nullable=False),
    sa.Column("dormant_days", sa.Integer, nullable=False),
    sa.Column("lost_days", sa.Integer, nullable=False),
    sa.Column("active_min_purchases", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_by", sa.Text, nullable=True),
    sa.CheckConstraint("id = 1", name="lifecycle_settings_one_row"),
)

member_changes = sa.Table(
    "member_changes", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("member_id", UUID(as_uuid=False), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("actor_kind", sa.Text, nullable=False),
    sa.Column("actor_id", sa.Text, nullable=True),
    sa.Column("fields", JSONB, nullable=False),
    sa.Index("member_changes_member", "member_id", "version"),
)

consents = sa.Table(
    "consents", metadata,
    sa.Column("member_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("channel", sa.Text, primary_key=True),
    sa.Column("granted", sa.Boolean, nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("text_version", sa.Text, nullable=False),
)

consent_log = sa.Table(
    "consent_log", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("member_id", UUID(as_uuid=False), nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("granted", sa.Boolean, nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("text_version", sa.Text, nullable=False),
    sa.Column("actor_kind", sa.Text, nullable=False),
    sa.Column("actor_id", sa.Text, nullable=True),
    sa.Index("consent_log_member", "member_id", "id"),
)

import_jobs = sa.Table(
    "import_jobs", metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("format", sa.Text, nullable=False),
    sa.Column("encoding", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # running | done | failed
    sa.Column("rows_total", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rows_created", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rows_existing", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rows_failed", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("actor_kind", sa.Text, nullable=False),
    sa.Column("actor_id", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
)

import_batches = sa.Table(
    "import_batches", metadata,
    sa.Column("job_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("batch_no", sa.Integer, primary_key=True),
)

import_errors = sa.Table(
    "import_errors", metadata,
    sa.Column("job_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("line", sa.BigInteger, primary_key=True),
    sa.Column("field", sa.Text, nullable=True),
    sa.Column("message", sa.Text, nullable=False),
)

birthday_greetings = sa.Table(
    "birthday_greetings", metadata,
    sa.Column("member_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# the catalog's store time zones (fed by store.changed): birthdays on the registration store's local day
store_zones = store_zones_table(metadata)
