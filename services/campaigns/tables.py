"""The campaigns service's tables (its own database): the runtime's outbox and inbox, then the
coupon and catalog tables (coupon_tables) and the segment and campaign tables (segment_tables)."""
from services.campaigns import segment_tables  # noqa: F401  (they register their tables)
from services.campaigns.coupons import tables as coupon_tables  # noqa: F401
from services.campaigns.meta import metadata

__all__ = ["metadata"]
