"""The members service's tables (its own database)."""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from service_runtime.tables import runtime_metadata

metadata = runtime_metadata()

member_number_seq = sa.Sequence("member_number_seq", metadata=metadata)

members = sa.Table(
    "members",
    metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True, server_default=sa.text("gen_random_uuid()")),
    sa.Column("member_number", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("phone", sa.Text, nullable=False, unique=True),
    sa.Column("registration_store", sa.Text, nullable=True),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="active"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("status IN ('active', 'frozen', 'erased')", name="members_status"),
)
