"""The campaigns service: one Nameko service, `campaigns`, so its RPC names, event source and
queues stay as callers know them. Each part keeps its own entrypoint class: the member read
model, segments and RFM (segments/), campaigns (campaigns/), coupons and the rewards catalog
(coupons/). The read model comes first: its export_member is the service's."""
from services.campaigns.campaigns.service import CampaignEntrypoints
from services.campaigns.coupons.service import CouponEntrypoints
from services.campaigns.read_model_service import ReadModelEntrypoints
from services.campaigns.segments.service import SegmentEntrypoints


class CampaignsService(ReadModelEntrypoints, SegmentEntrypoints, CampaignEntrypoints, CouponEntrypoints):
    name = "campaigns"
