"""Campaigns service: coupons and the rewards catalog (coupon_rpc), the member read model,
segments and campaigns (segment_rpc). Entrypoints live in those mixins; this class joins them."""
from service_runtime.base import ServiceBase
from services.campaigns.coupon_rpc import CouponEntrypoints
from services.campaigns.segment_rpc import SegmentEntrypoints


class CampaignsService(CouponEntrypoints, SegmentEntrypoints, ServiceBase):
    name = "campaigns"
