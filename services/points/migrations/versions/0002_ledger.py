"""points: ledger, lots, sales, refunds, holds, activities, program versions, bonus rules

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from services.points import tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NEW_TABLES = ("ledger", "lots", "sales", "refunds", "holds", "hold_lots", "activities", "programs",
              "bonus_rules", "expiry_reminders")
NEW_ACCOUNT_COLUMNS = (
    sa.Column("member_number", sa.Text, nullable=True),
    sa.Column("registration_store", sa.Text, nullable=True),
    sa.Column("held", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("debt", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("status", sa.Text, nullable=False, server_default="active"),
    sa.Column("merged_into", UUID(as_uuid=False), nullable=True),
    sa.Column("tier_since", sa.DateTime(timezone=True), nullable=True),
)


def upgrade() -> None:
    for column in NEW_ACCOUNT_COLUMNS:
        op.add_column("accounts", column)
    op.create_unique_constraint("accounts_member_number_key", "accounts", ["member_number"])
    op.create_check_constraint("accounts_held_debt_nonnegative", "accounts", "held >= 0 AND debt >= 0")
    bind = op.get_bind()
    # The new tables as tables.py defines them at this revision: a later change to one of them
    # must come as a new revision that alters it, never as an edit here.
    for name in NEW_TABLES:
        tables.metadata.tables[name].create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for name in reversed(NEW_TABLES):
        tables.metadata.tables[name].drop(bind)
    op.drop_constraint("accounts_held_debt_nonnegative", "accounts")
    op.drop_constraint("accounts_member_number_key", "accounts")
    for column in reversed(NEW_ACCOUNT_COLUMNS):
        op.drop_column("accounts", column.name)
