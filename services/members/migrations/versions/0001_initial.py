"""members: members table, member number sequence, outbox and inbox

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
    op.execute("CREATE SEQUENCE member_number_seq")
    op.create_table(
        "members",
        sa.Column("id", UUID(as_uuid=False), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("member_number", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("phone", sa.Text, nullable=False, unique=True),
        sa.Column("registration_store", sa.Text, nullable=True),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="active"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("status IN ('active', 'frozen', 'erased')", name="members_status"),
    )


def downgrade() -> None:
    op.drop_table("members")
    op.execute("DROP SEQUENCE member_number_seq")
    op.drop_table("inbox")
    op.drop_table("outbox")
