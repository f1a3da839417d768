"""The catalog service's tables (its own database): stores, categories (a tree by parent code) and
products. Each row carries our version, the source that last wrote it, that source's own version
(bulk upserts are idempotent on it) and when it was last synced."""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from service_runtime.tables import runtime_metadata

metadata = runtime_metadata()


def _versioned() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("source", sa.Text, nullable=False, server_default="manual"),
        sa.Column("source_version", sa.BigInteger, nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


stores = sa.Table(
    "stores", metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("region", sa.Text, nullable=True),
    sa.Column("brand", sa.Text, nullable=True),
    sa.Column("address", sa.Text, nullable=True),
    sa.Column("time_zone", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("opened_on", sa.Date, nullable=True),
    *_versioned(),
    sa.CheckConstraint("status IN ('open', 'closed', 'suspended')", name="stores_status"),
)

categories = sa.Table(
    "categories", metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("parent", sa.Text, sa.ForeignKey("categories.code"), nullable=True),
    *_versioned(),
    sa.Index("categories_parent", "parent"),
)

products = sa.Table(
    "products", metadata,
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("category", sa.Text, sa.ForeignKey("categories.code"), nullable=True),
    sa.Column("brand", sa.Text, nullable=True),
    sa.Column("unit_price", sa.Numeric(14, 2), nullable=False),
    sa.Column("excluded_from_earning", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("coupon_eligible", sa.Boolean, nullable=False, server_default=sa.true()),
    *_versioned(),
    sa.Index("products_category", "category"),
)

# -- ERP sync (services/catalog/erp): connections, a cursor per connection and kind, runs, and the ERP's
# sales kept for reconciliation. Secrets never live here: a connection names the setting that holds them.
erp_connections = sa.Table(
    "erp_connections", metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("base_url", sa.Text, nullable=False),
    sa.Column("database", sa.Text, nullable=True),
    sa.Column("username", sa.Text, nullable=True),
    sa.Column("credentials_ref", sa.Text, nullable=False),
    sa.Column("interval_seconds", sa.Integer, nullable=False, server_default="900"),
    sa.Column("page_size", sa.Integer, nullable=False, server_default="200"),
    sa.Column("options", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("run_requested_at", sa.DateTime(timezone=True), nullable=True),  # asked for: the next tick runs it
    sa.Column("lease_owner", sa.Text, nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("kind IN ('odoo_json2', 'odoo_xmlrpc', 'erpnext', 'kingdee')", name="erp_connections_kind"),
)

erp_cursors = sa.Table(
    "erp_cursors", metadata,
    sa.Column("connection", sa.Text, sa.ForeignKey("erp_connections.name", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("stamp", sa.Text, nullable=True),
    sa.Column("key", sa.Text, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# each record written into an ERP, once it answered: a rerun skips it (the ERP side finds it by external id)
erp_pushes = sa.Table(
    "erp_pushes", metadata,
    sa.Column("connection", sa.Text, sa.ForeignKey("erp_connections.name", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("external_id", sa.Text, primary_key=True),
    sa.Column("remote_id", sa.Text, nullable=False),
    sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

erp_runs = sa.Table(
    "erp_runs", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("connection", sa.Text, sa.ForeignKey("erp_connections.name", ondelete="CASCADE"), nullable=False),
    sa.Column("trigger", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="running"),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("rows_in", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rows_out", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("errors", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("failure", sa.Text, nullable=True),
    sa.Column("failure_kind", sa.Text, nullable=True),  # auth | unavailable | source | internal
    sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="erp_runs_status"),
    sa.Index("erp_runs_connection", "connection", "id"),
)

erp_sales = sa.Table(
    "erp_sales", metadata,
    sa.Column("connection", sa.Text, sa.ForeignKey("erp_connections.name", ondelete="CASCADE"), primary_key=True),
    sa.Column("transaction_id", sa.Text, primary_key=True),
    sa.Column("store", sa.Text, nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("member_ref", sa.Text, nullable=True),
    sa.Column("lines", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("erp_sales_store_day", "store", "day"),
)

erp_reconciliations = sa.Table(  # the reconciliation job's result per store and day (the route recomputes live)
    "erp_reconciliations", metadata,
    sa.Column("store", sa.Text, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("erp_count", sa.Integer, nullable=False),
    sa.Column("ledger_count", sa.Integer, nullable=False),
    sa.Column("matched", sa.Integer, nullable=False),
    sa.Column("missing", sa.Integer, nullable=False),
    sa.Column("extra", sa.Integer, nullable=False),
    sa.Column("mismatched", sa.Integer, nullable=False),
    sa.Column("report", JSONB, nullable=False),
    sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# the files adapter's durable cursor: one row per file seen (by source, name, size and mtime), the
# batches of it already taken (next_batch) and a lease held by the worker running it
file_runs = sa.Table(
    "file_runs", metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("source", sa.Text, nullable=False),  # the SFTP connection's name, or "api"
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mtime", sa.BigInteger, nullable=True),
    sa.Column("sha256", sa.Text, nullable=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("mode", sa.Text, nullable=True),
    sa.Column("format", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("next_batch", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rows_ok", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rows_failed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("target_ref", sa.Text, nullable=True),  # the members import job or points migration import
    sa.Column("owner", sa.Text, nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_by", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('uploading', 'pending', 'done', 'failed', 'skipped')", name="file_runs_status"),
    sa.Index("file_runs_identity", "source", "name", "size", "mtime", unique=True,
             postgresql_where=sa.text("source <> 'api'")),
    sa.Index("file_runs_pending", "created_at", postgresql_where=sa.text("status = 'pending'")),
)

file_errors = sa.Table(
    "file_errors", metadata,
    sa.Column("run_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("line", sa.Integer, primary_key=True),
    sa.Column("field", sa.Text, nullable=True),
    sa.Column("message", sa.Text, nullable=False),
)

# a file uploaded through the API, kept until its run is over
file_chunks = sa.Table(
    "file_chunks", metadata,
    sa.Column("run_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
