"""The catalog service's tables (its own database): stores, categories (a tree by parent code) and
products. Each row carries our version, the source that last wrote it, that source's own version
(bulk upserts are idempotent on it) and when it was last synced."""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

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
