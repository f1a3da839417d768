"""points: accounts, outbox and inbox

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from service_runtime.migrate import create_runtime_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_runtime_tables(op)
    op.create_table(
        "accounts",
        sa.Column("member_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("balance", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("tier", sa.Text, nullable=False, server_default="normal"),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("opened_by_event", UUID(as_uuid=False), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("accounts")
    op.drop_table("inbox")
    op.drop_table("outbox")
