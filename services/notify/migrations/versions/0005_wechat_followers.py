"""notify: the official account's followers, and the kind of each WeChat link (mini or official)

Revision ID: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("wechat_links", sa.Column("kind", sa.Text(), server_default="mini", nullable=False))
    op.create_check_constraint("wechat_links_kind", "wechat_links", "kind IN ('mini', 'official')")
    op.create_index("wechat_links_unionid", "wechat_links", ["unionid"],
                    postgresql_where=sa.text("unionid IS NOT NULL"))
    op.create_table(
        "wechat_followers",
        sa.Column("app_id", sa.Text(), primary_key=True),
        sa.Column("openid", sa.Text(), primary_key=True),
        sa.Column("unionid", sa.Text(), nullable=True),
        sa.Column("followed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("wechat_followers_unionid", "wechat_followers", ["unionid"],
                    postgresql_where=sa.text("unionid IS NOT NULL"))


def downgrade() -> None:
    op.drop_table("wechat_followers")
    op.drop_index("wechat_links_unionid", table_name="wechat_links")
    op.drop_constraint("wechat_links_kind", "wechat_links")
    op.drop_column("wechat_links", "kind")
