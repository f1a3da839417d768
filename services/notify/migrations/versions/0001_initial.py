"""notify: outbox and inbox

Revision ID: 0001
"""
from alembic import op

from service_runtime.migrate import create_runtime_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_runtime_tables(op)


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("outbox")
