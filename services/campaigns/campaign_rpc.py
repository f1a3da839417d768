"""Campaign entrypoints (mixed into CampaignsService through SegmentEntrypoints)."""


class CampaignEntrypoints:
    pass
