"""campaigns: the member's lifecycle class in the read model (from member.lifecycle_changed)

Revision ID: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rm_members", sa.Column("lifecycle_class", sa.Text(), nullable=True))
    op.add_column("rm_members", sa.Column("lifecycle_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("rm_members", "lifecycle_at")
    op.drop_column("rm_members", "lifecycle_class")
