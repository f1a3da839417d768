"""notify: templates, messages, delivery log, consent and the dead-letter list

Revision ID: 0002
"""
from alembic import op  # noqa: F401

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
