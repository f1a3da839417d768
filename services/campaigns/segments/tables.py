"""The member read model (fed by members and points events), segments and RFM (campaigns/tables
has the campaign tables).

The read model (rm_*) is campaigns' own copy of what segments need; it is written only by the
event handlers (and by bench/rfm.py's bulk load) and never read from another service's tables.
"""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from services.campaigns.meta import metadata

MONEY = sa.Numeric(14, 2)
SUM = sa.Numeric(20, 2)  # sums of sales: wider than one sale (migration 0005_sums)
_NOW = sa.func.now()

rm_members = sa.Table(
    "rm_members", metadata,
    sa.Column("member_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("status", sa.Text, nullable=False, server_default="active"),  # active | erased | merged
    sa.Column("tier", sa.Text, nullable=False, server_default="normal"),
    sa.Column("store", sa.Text, nullable=True),  # registration store
    sa.Column("channel", sa.Text, nullable=True),
    sa.Column("gender", sa.Text, nullable=True),
    sa.Column("birthday", sa.Date, nullable=True),
    sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("balance", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("balance_at", sa.DateTime(timezone=True), nullable=True),  # time of the event the balance came from
    sa.Column("last_purchase_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("profile_version", sa.Integer, nullable=False, server_default="0"),
    # members' lifecycle class (member.lifecycle_changed; NULL: none announced, i.e. still new)
    sa.Column("lifecycle_class", sa.Text, nullable=True),
    sa.Column("lifecycle_at", sa.DateTime(timezone=True), nullable=True),
)

# purchases and spend per member, day and store: answers "count and spend in a window" by one range scan
rm_purchases = sa.Table(
    "rm_purchases", metadata,
    sa.Column("member_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("store", sa.Text, primary_key=True),
    sa.Column("purchases", sa.Integer, nullable=False, server_default="0"),
    sa.Column("spend", SUM, nullable=False, server_default="0"),
)

# analytic scores, rewritten whole by each RFM recompute (one row per live member)
rm_scores = sa.Table(
    "rm_scores", metadata,
    sa.Column("member_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("recency_days", sa.Integer, nullable=True),
    sa.Column("frequency", sa.Integer, nullable=True),
    sa.Column("monetary", SUM, nullable=True),
    sa.Column("r", sa.SmallInteger, nullable=True),
    sa.Column("f", sa.SmallInteger, nullable=True),
    sa.Column("m", sa.SmallInteger, nullable=True),
    sa.Column("rfm_group", sa.Text, nullable=True),
    sa.Column("abcd", sa.Text, nullable=True),
    sa.Column("lifecycle", sa.Text, nullable=False),
)

rfm_jobs = sa.Table(
    "rfm_jobs", metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("status", sa.Text, nullable=False, server_default="queued"),  # queued | running | done | failed
    sa.Column("params", JSONB, nullable=False),
    sa.Column("steps_done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("steps_total", sa.Integer, nullable=False, server_default="3"),
    sa.Column("members_scored", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("requested_by", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
)

segments = sa.Table(
    "segments", metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("rule", JSONB, nullable=False),
    sa.Column("created_by", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
)

segment_snapshots = sa.Table(
    "segment_snapshots", metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("segment_id", UUID(as_uuid=False), sa.ForeignKey("segments.id"), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("rule", JSONB, nullable=False),  # the rule as it was when taken
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
)

snapshot_members = sa.Table(
    "snapshot_members", metadata,
    sa.Column("snapshot_id", UUID(as_uuid=False), sa.ForeignKey("segment_snapshots.id"), primary_key=True),
    sa.Column("member_id", UUID(as_uuid=False), primary_key=True),
)
