"""catalog: ERP sync connections, cursors, runs, the ERP's sales and reconciliations

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erp_connections",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=False),
        sa.Column("database", sa.Text(), nullable=True),
        sa.Column("username", sa.Text(), nullable=True),
        sa.Column("credentials_ref", sa.Text(), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), server_default="900", nullable=False),
        sa.Column("page_size", sa.Integer(), server_default="200", nullable=False),
        sa.Column("options", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("run_requested_at", sa.DateTime(timezone=True), nullable=True),  # asked for: run at the next tick
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('odoo_json2', 'odoo_xmlrpc', 'erpnext')", name="erp_connections_kind"),
    )
    op.create_table(
        "erp_cursors",
        sa.Column("connection", sa.Text(), sa.ForeignKey("erp_connections.name", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("kind", sa.Text(), primary_key=True),
        sa.Column("stamp", sa.Text(), nullable=True),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_table(
        "erp_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("connection", sa.Text(), sa.ForeignKey("erp_connections.name", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="running", nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rows_in", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_out", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("errors", JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("failure_kind", sa.Text(), nullable=True),  # auth | unavailable | source | internal
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="erp_runs_status"),
    )
    op.create_index("erp_runs_connection", "erp_runs", ["connection", "id"])
    op.create_table(
        "erp_sales",
        sa.Column("connection", sa.Text(), sa.ForeignKey("erp_connections.name", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("transaction_id", sa.Text(), primary_key=True),
        sa.Column("store", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("member_ref", sa.Text(), nullable=True),
        sa.Column("lines", JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_index("erp_sales_store_day", "erp_sales", ["store", "day"])
    op.create_table(
        "erp_reconciliations",
        sa.Column("store", sa.Text(), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("erp_count", sa.Integer(), nullable=False),
        sa.Column("ledger_count", sa.Integer(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.Column("extra", sa.Integer(), nullable=False),
        sa.Column("mismatched", sa.Integer(), nullable=False),
        sa.Column("report", JSONB(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("erp_reconciliations")
    op.drop_table("erp_sales")
    op.drop_table("erp_runs")
    op.drop_table("erp_cursors")
    op.drop_table("erp_connections")
