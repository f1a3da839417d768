"""The gateway's own tables: staff, credentials, audit log, idempotency records.

No service sees these; services never see passwords or keys.
"""
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = sa.MetaData()

_uuid_pk: dict[str, Any] = {"primary_key": True, "server_default": sa.text("gen_random_uuid()")}

staff = sa.Table(
    "staff", metadata,
    sa.Column("id", UUID(as_uuid=False), **_uuid_pk),
    sa.Column("username", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("roles", ARRAY(sa.Text), nullable=False),
    sa.Column("stores", ARRAY(sa.Text), nullable=True),  # NULL: the whole chain
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("staff_username", sa.func.lower(sa.column("username")), unique=True),
)

refresh_tokens = sa.Table(
    "refresh_tokens", metadata,
    sa.Column("id", UUID(as_uuid=False), **_uuid_pk),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("subject_kind", sa.Text, nullable=False),
    sa.Column("subject_id", sa.Text, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("id", UUID(as_uuid=False), **_uuid_pk),
    sa.Column("prefix", sa.Text, nullable=False, unique=True),
    sa.Column("secret_hash", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("store", sa.Text, nullable=True),  # NULL: the whole chain (ERP)
    sa.Column("scopes", ARRAY(sa.Text), nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('pos', 'erp')", name="api_keys_kind"),
    sa.CheckConstraint("kind <> 'pos' OR store IS NOT NULL", name="api_keys_pos_store"),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor_kind", sa.Text, nullable=False),
    sa.Column("actor_id", sa.Text, nullable=True),
    sa.Column("actor_name", sa.Text, nullable=True),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("object_type", sa.Text, nullable=True),
    sa.Column("object_id", sa.Text, nullable=True),
    sa.Column("store", sa.Text, nullable=True),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("request_id", sa.Text, nullable=True),
    sa.Column("client_ip", sa.Text, nullable=True),
    sa.Column("details", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("prev_hash", sa.Text, nullable=True),  # NULL until sealed
    sa.Column("hash", sa.Text, nullable=True),
    sa.Column("seq", sa.BigInteger, nullable=True, unique=True),  # place in the chain, set when sealed
    sa.Index("audit_log_actor", "actor_id", "id"),
    sa.Index("audit_log_action", "action", "id"),
    sa.Index("audit_log_object", "object_id", "id"),
    sa.Index("audit_log_time", "occurred_at"),
    sa.Index("audit_log_unsealed", "id", postgresql_where=sa.text("hash IS NULL")),
)

idempotency_keys = sa.Table(
    "idempotency_keys", metadata,
    sa.Column("scope", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("response_body", sa.LargeBinary, nullable=True),
    sa.Column("response_headers", JSONB, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("idempotency_keys_created", "created_at"),
)

member_codes = sa.Table(
    "member_codes", metadata,
    sa.Column("id", UUID(as_uuid=False), **_uuid_pk),
    sa.Column("phone", sa.Text, nullable=False),
    sa.Column("member_id", sa.Text, nullable=True),  # NULL for a code sent to register a new member
    sa.Column("code_hash", sa.Text, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("member_codes_phone", "phone", "created_at"),
)

# DEVELOPMENT DELIVERY CHANNEL: one-time codes land here (and in the log) only when
# OTP_DELIVERY=dev, until the notify service delivers them by SMS.
dev_code_deliveries = sa.Table(
    "dev_code_deliveries", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("phone", sa.Text, nullable=False),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# member imports as durable jobs: the uploaded file and how far its batches got, so any gateway
# replica can resume one whose gateway died (the job id is the members service's)
import_jobs = sa.Table(
    "import_jobs", metadata,
    sa.Column("job_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("format", sa.Text, nullable=False),
    sa.Column("encoding", sa.Text, nullable=False),
    sa.Column("caller", sa.Text, nullable=False),  # the uploader's identity, sent with every batch
    sa.Column("request_id", sa.Text, nullable=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("next_batch", sa.Integer, nullable=False, server_default="0"),  # every batch before it is in
    sa.Column("owner", sa.Text, nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'done', 'failed')", name="import_jobs_status"),
    sa.Index("import_jobs_pending", "created_at", postgresql_where=sa.text("status = 'pending'")),
)

import_job_chunks = sa.Table(
    "import_job_chunks", metadata,
    sa.Column("job_id", UUID(as_uuid=False), sa.ForeignKey("import_jobs.job_id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
