"""The campaigns service's tables (its own database): the runtime's outbox and inbox, then the
coupon and catalog tables (coupon_tables) and the segment and campaign tables (segment_tables)."""
from services.campaigns import coupon_tables, segment_tables  # noqa: F401  (they register their tables)
from services.campaigns.meta import metadata

__all__ = ["metadata"]
