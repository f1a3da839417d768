"""gateway: staff, refresh tokens, API keys, audit log, idempotency keys, member codes

Revision ID: 0001
"""
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# A frozen copy of tables.py as it was at this revision (later changes get their own).
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

dev_code_deliveries = sa.Table(
    "dev_code_deliveries", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("phone", sa.Text, nullable=False),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

_TABLES = ["staff", "refresh_tokens", "api_keys", "audit_log", "idempotency_keys", "member_codes",
           "dev_code_deliveries"]


def upgrade() -> None:
    bind = op.get_bind()
    for name in _TABLES:
        metadata.tables[name].create(bind)
    # the audit log is append-only: no DELETE or TRUNCATE, and no UPDATE except the sealer's,
    # which fills in seq (the next one), prev_hash and hash of an unsealed entry without
    # touching its content
    op.execute("""
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND OLD.hash IS NULL AND NEW.hash IS NOT NULL
               AND NEW.prev_hash IS NOT NULL AND NEW.seq IS NOT NULL
               AND NEW.seq = (SELECT coalesce(max(seq), 0) + 1 FROM audit_log)
               AND to_jsonb(NEW) - 'seq' - 'prev_hash' - 'hash' = to_jsonb(OLD) - 'seq' - 'prev_hash' - 'hash' THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'audit_log is append-only';
        END $$;
    """)
    op.execute("CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log "
               "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()")
    op.execute("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
               "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()")


def downgrade() -> None:
    op.execute("DROP TABLE audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
    for name in reversed(_TABLES):
        if name != "audit_log":
            op.drop_table(name)
