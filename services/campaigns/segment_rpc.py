"""Read-model, segment and campaign entrypoints (mixed into CampaignsService)."""


class SegmentEntrypoints:
    pass
