"""Coupon and rewards-catalog entrypoints (mixed into CampaignsService)."""


class CouponEntrypoints:
    pass
