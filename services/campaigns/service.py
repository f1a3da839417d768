"""The campaigns service (one Nameko service, `campaigns`, so its RPC names, event source and
queues stay as callers know them): coupons and the rewards catalog (coupons/), the member read
model, segments and campaigns (segment_rpc)."""
from services.campaigns.coupons.service import CouponEntrypoints
from services.campaigns.segment_rpc import SegmentEntrypoints


class CampaignsService(SegmentEntrypoints, CouponEntrypoints):
    name = "campaigns"
