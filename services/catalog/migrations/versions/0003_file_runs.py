"""catalog: the files adapter's durable cursor (file_runs), per-row errors and uploaded files

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "file_runs",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.Text(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("mode", sa.Text(), nullable=True),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("next_batch", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_ok", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("target_ref", sa.Text(), nullable=True),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('uploading', 'pending', 'done', 'failed', 'skipped')", name="file_runs_status"),
    )
    op.create_index("file_runs_identity", "file_runs", ["source", "name", "size", "mtime"], unique=True,
                    postgresql_where=sa.text("source <> 'api'"))
    op.create_index("file_runs_pending", "file_runs", ["created_at"], postgresql_where=sa.text("status = 'pending'"))
    op.create_table(
        "file_errors",
        sa.Column("run_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("line", sa.Integer(), primary_key=True),
        sa.Column("field", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
    )
    op.create_table(
        "file_chunks",
        sa.Column("run_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("file_chunks")
    op.drop_table("file_errors")
    op.drop_table("file_runs")
