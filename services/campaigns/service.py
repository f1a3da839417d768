"""Campaigns service entrypoints. Coupons, segments and campaigns arrive with their issue;
for now the service runs on the platform (database, outbox, metrics, ping)."""
from service_runtime.base import ServiceBase


class CampaignsService(ServiceBase):
    name = "campaigns"
