"""points: bonus rules for a campaign's audience only, and campaign points budgets

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("bonus_rules", sa.Column("audience", sa.Text, nullable=True))
    op.create_table(
        "bonus_audiences",
        sa.Column("audience", sa.Text, primary_key=True),
        sa.Column("member_id", postgresql.UUID(as_uuid=False), primary_key=True),
    )
    op.create_table(
        "bonus_budgets",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("cap", sa.BigInteger, nullable=True),  # NULL: no cap (still counted)
        sa.Column("granted", sa.BigInteger, nullable=False, server_default="0"),
        sa.CheckConstraint("granted >= 0 AND (cap IS NULL OR granted <= cap)", name="bonus_budgets_within_cap"),
        sa.Column("per_member", sa.Integer, nullable=True),
    )
    op.create_table(
        "bonus_member_awards",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("member_id", postgresql.UUID(as_uuid=False), primary_key=True),
        sa.Column("awards", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bonus_member_awards")
    op.drop_table("bonus_budgets")
    op.drop_table("bonus_audiences")
    op.drop_column("bonus_rules", "audience")
