"""members: lifecycle classes (class, last purchase, purchase count) and their thresholds

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("members", sa.Column("lifecycle", sa.Text(), server_default="new", nullable=False))
    op.add_column("members", sa.Column("last_purchase_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("members", sa.Column("purchase_count", sa.Integer(), server_default="0", nullable=False))
    op.add_column("members", sa.Column("lifecycle_changed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint("members_lifecycle", "members",
                               "lifecycle IN ('new', 'active', 'at_risk', 'dormant', 'lost')")
    op.create_index("members_lifecycle_created", "members", ["lifecycle", "created_at", "id"])
    op.create_table(
        "lifecycle_settings",
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("at_risk_days", sa.Integer(), nullable=False),
        sa.Column("dormant_days", sa.Integer(), nullable=False),
        sa.Column("lost_days", sa.Integer(), nullable=False),
        sa.Column("active_min_purchases", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=True),
        sa.CheckConstraint("id = 1", name="lifecycle_settings_one_row"),
    )


def downgrade() -> None:
    op.drop_table("lifecycle_settings")
    op.drop_index("members_lifecycle_created", table_name="members")
    op.drop_constraint("members_lifecycle", "members")
    for column in ("lifecycle_changed_at", "purchase_count", "last_purchase_at", "lifecycle"):
        op.drop_column("members", column)
