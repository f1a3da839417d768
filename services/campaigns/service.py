"""The campaigns service: one Nameko service, `campaigns`, so its RPC names, event source and
queues stay as callers know them. Each part keeps its own entrypoint class: the member read
model, segments and RFM (segments/), campaigns (campaigns/), coupons and the rewards catalog
(coupons/), the catalog's stores and categories (stores/). All five share one typed base, so the
read model's export_member overrides ServiceBase's whatever the order."""
from services.campaigns.campaigns.service import CampaignEntrypoints
from services.campaigns.coupons.service import CouponEntrypoints
from services.campaigns.read_model_service import ReadModelEntrypoints
from services.campaigns.segments.service import SegmentEntrypoints
from services.campaigns.stores.service import StoreEntrypoints


class CampaignsService(ReadModelEntrypoints, SegmentEntrypoints, CampaignEntrypoints, CouponEntrypoints,
                       StoreEntrypoints):
    name = "campaigns"
