"""Where each service class lives (importing it does not monkey-patch anything)."""
from __future__ import annotations

import importlib

SERVICE_CLASSES = {
    "members": "services.members.service:MembersService",
    "points": "services.points.service:PointsService",
    "campaigns": "services.campaigns.service:CampaignsService",
    "notify": "services.notify.service:NotifyService",
    "catalog": "services.catalog.service:CatalogService",
    "feed": "services.feed.service:FeedService",
    "care": "services.care.service:CareService",
    "fraud": "services.fraud.service:FraudService",
    "analytics": "services.analytics.service:AnalyticsService",
}


def load_service(name: str) -> type:
    module_name, _, cls_name = SERVICE_CLASSES[name].partition(":")
    cls: type = getattr(importlib.import_module(module_name), cls_name)
    return cls
