"""catalog: records written into an ERP (outbound customers and journal entries)

Revision ID: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erp_pushes",
        sa.Column("connection", sa.Text(), sa.ForeignKey("erp_connections.name", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("kind", sa.Text(), primary_key=True),
        sa.Column("external_id", sa.Text(), primary_key=True),
        sa.Column("remote_id", sa.Text(), nullable=False),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("erp_pushes")
