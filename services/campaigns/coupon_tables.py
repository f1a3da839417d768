"""Coupon templates, coupons, redemptions and the rewards catalog."""
from services.campaigns.meta import metadata  # noqa: F401
