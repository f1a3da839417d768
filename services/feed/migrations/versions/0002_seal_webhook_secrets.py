"""feed: webhook secrets sealed at rest (services/feed/secretbox.py)

Existing plain secrets are sealed now when FEED_SECRET_KEYS is set; otherwise they stay readable as
they are until `python -m services.feed.reseal` runs with the keys.

Revision ID: 0002
"""
import os

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if not os.environ.get("FEED_SECRET_KEYS"):
        return
    from services.feed.reseal import reseal
    from services.feed.secretbox import SecretBox

    reseal(op.get_bind(), SecretBox.from_env())


def downgrade() -> None:
    pass  # sealed secrets stay sealed: the keys open them
