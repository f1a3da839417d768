"""The member read model (fed by members and points events), segments, RFM and campaigns."""
from services.campaigns.meta import metadata  # noqa: F401
