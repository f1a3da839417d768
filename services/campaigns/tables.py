"""The campaigns service's tables (its own database): the runtime's outbox and inbox, then each
subpackage's tables, all in one metadata (one alembic history)."""
from services.campaigns.campaigns import tables as campaign_tables  # noqa: F401  (they register their tables)
from services.campaigns.coupons import tables as coupon_tables  # noqa: F401
from services.campaigns.meta import metadata
from services.campaigns.segments import tables as segment_tables  # noqa: F401
from services.campaigns.stores import tables as store_tables  # noqa: F401

__all__ = ["metadata"]
