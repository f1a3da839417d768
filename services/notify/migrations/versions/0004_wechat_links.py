"""notify: wechat_links, members' WeChat openids linked at mini-program login

Revision ID: 0004
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wechat_links",
        sa.Column("app_id", sa.Text(), primary_key=True),
        sa.Column("openid", sa.Text(), primary_key=True),
        sa.Column("member_id", UUID(as_uuid=False), nullable=False),
        sa.Column("unionid", sa.Text(), nullable=True),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_index("wechat_links_member", "wechat_links", ["member_id"])


def downgrade() -> None:
    op.drop_table("wechat_links")
