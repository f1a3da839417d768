"""points: migration imports (a legacy program's opening balances and tiers, staged, approved,
applied) and history-only sales

Revision ID: 0006
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "migration_imports",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False, server_default="staging"),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("approved_by", sa.Text(), nullable=True),
        sa.Column("rows_staged", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("rows_failed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("rows_applied", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("points_total", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('balances', 'tiers')", name="migration_imports_kind"),
        sa.CheckConstraint("status IN ('staging', 'approved', 'applied', 'rejected')",
                           name="migration_imports_status"),
    )
    op.create_table(
        "migration_rows",
        sa.Column("import_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("row_key", sa.Text(), primary_key=True),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("member_id", UUID(as_uuid=False), nullable=False),
        sa.Column("payload", JSONB(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "migration_errors",
        sa.Column("import_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("line", sa.Integer(), primary_key=True),
        sa.Column("row_key", sa.Text(), nullable=True),
        sa.Column("field", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
    )
    op.add_column("sales", sa.Column("history", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    op.drop_column("sales", "history")
    op.drop_table("migration_errors")
    op.drop_table("migration_rows")
    op.drop_table("migration_imports")
