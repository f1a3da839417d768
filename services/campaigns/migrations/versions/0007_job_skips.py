"""campaigns: an issue job says why it skipped members (by reason) and lists the ids that are no
member (the first 1,000), instead of issuing coupons to ids nobody has.

Revision ID: 0007_skips
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007_skips"
down_revision = "0006_sales"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("coupon_jobs", sa.Column("skipped_reasons", JSONB, nullable=False, server_default="{}"))
    op.add_column("coupon_jobs", sa.Column("skipped_members", JSONB, nullable=False, server_default="[]"))


def downgrade() -> None:
    op.drop_column("coupon_jobs", "skipped_members")
    op.drop_column("coupon_jobs", "skipped_reasons")
