"""The points service's tables (its own database)."""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from service_runtime.tables import runtime_metadata

metadata = runtime_metadata()

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("member_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("balance", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("tier", sa.Text, nullable=False, server_default="normal"),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("opened_by_event", UUID(as_uuid=False), nullable=True),
)
