"""Notify rules with no I/O and no clock: template variables and rendering, quiet hours, frequency
caps, the breaker and rate limit. Times come in as arguments (aware datetimes), zones as names."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from contracts.errors import InvalidInput

LOCALES = ("zh-CN", "en")
CHANNELS = ("sms", "email", "push", "webhook", "wechat", "console")
MARKETING_REASONS = ("no_consent", "quiet_hours", "cap")

# the variables each kind of message may use; campaign templates (key "campaign.<anything>") share one set
KIND_VARIABLES: dict[str, frozenset[str]] = {
    "birthday": frozenset({"name", "year"}),
    "points.expiring": frozenset({"name", "points", "expiry_date", "days_ahead"}),
    "tier.changed": frozenset({"name", "old_tier", "new_tier"}),
    "points.receipt": frozenset({"name", "points", "balance", "store", "amount"}),
    "login_code": frozenset({"code", "minutes"}),
    "ticket.changed": frozenset({"name", "status", "ticket_ref"}),
    "campaign": frozenset({"name", "campaign_name", "coupon_value", "coupon_code", "valid_until", "store"}),
}
TRANSACTIONAL = frozenset({"birthday", "points.expiring", "tier.changed", "login_code", "points.receipt",
                           "ticket.changed"})

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_KEY = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")


def kind_of(key: str) -> str:
    """The message kind a template key belongs to ('campaign.spring_sale' -> 'campaign')."""
    if key.startswith("campaign.") and len(key) > len("campaign."):
        return "campaign"
    if key in KIND_VARIABLES and key != "campaign":
        return key
    raise InvalidInput(f"unknown template key {key!r}: one of {sorted(TRANSACTIONAL)} or campaign.<name>", "key")


def is_marketing(key: str) -> bool:
    return kind_of(key) == "campaign"


def check_key(key: str) -> str:
    if not _KEY.match(key):
        raise InvalidInput("a template key is lower case letters, digits, '_' and '.'", "key")
    kind_of(key)
    return key


def check_locale(locale: str) -> str:
    if locale not in LOCALES:
        raise InvalidInput(f"locale must be one of {list(LOCALES)}", "locale")
    return locale


def check_channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise InvalidInput(f"channel must be one of {list(CHANNELS)}", "channel")
    return channel


def variables_in(text: str) -> list[str]:
    return [m.group(1) for m in _VARIABLE.finditer(text)]


def check_template(key: str, subject: str | None, body: str) -> None:
    """Refuse a template that uses a variable its kind of message never has (naming it)."""
    allowed = KIND_VARIABLES[kind_of(key)]
    for field, text in (("subject", subject or ""), ("body", body)):
        unbalanced = text.count("{{") != text.count("}}")
        if unbalanced:
            raise InvalidInput("unbalanced {{ }} in the template", field)
        for name in variables_in(text):
            if name not in allowed:
                raise InvalidInput(f"unknown variable {name!r} for {kind_of(key)} messages; "
                                   f"known: {sorted(allowed)}", f"{field}.{name}")
    if not body.strip():
        raise InvalidInput("the body is empty", "body")


class MissingVariable(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"missing variable {name!r}")
        self.name = name


def render(text: str, variables: dict[str, object]) -> str:
    """Fill ``{{ name }}`` placeholders; a variable without a value raises, never renders blank."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        value = variables.get(name)
        if value is None or value == "":
            raise MissingVariable(name)
        return str(value)

    return _VARIABLE.sub(fill, text)


# ---- quiet hours ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuietHours:
    """A daily window in local time when marketing waits; start > end wraps midnight (21:00-08:00)."""

    start: time
    end: time

    @classmethod
    def parse(cls, spec: str) -> QuietHours | None:
        """'21:00-08:00' (or with seconds); '' or 'off' for none."""
        if spec.strip().lower() in ("", "off", "none"):
            return None
        try:
            start, _, end = spec.partition("-")
            return cls(time.fromisoformat(start.strip()), time.fromisoformat(end.strip()))
        except ValueError:
            raise InvalidInput(f"quiet hours must look like 21:00-08:00, got {spec!r}", "quiet_hours") from None

    def _inside(self, t: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def release_at(self, now: datetime, zone: str) -> datetime | None:
        """None when ``now`` is outside the window, else when the window ends (aware, same instant type)."""
        local = now.astimezone(ZoneInfo(zone))
        t = local.time().replace(tzinfo=None)
        if not self._inside(t):
            return None
        end_day = local.date()
        if self.start > self.end and t >= self.start:
            end_day = end_day + timedelta(days=1)
        end = datetime.combine(end_day, self.end, tzinfo=ZoneInfo(zone))
        return end.astimezone(now.tzinfo)


# ---- frequency caps ---------------------------------------------------------------------------------------
def day_start(now: datetime, zone: str) -> datetime:
    local = now.astimezone(ZoneInfo(zone))
    return datetime.combine(local.date(), time(0), tzinfo=ZoneInfo(zone)).astimezone(now.tzinfo)


def week_start(now: datetime, zone: str) -> datetime:
    """Monday 00:00 of the local week."""
    local = now.astimezone(ZoneInfo(zone))
    monday = local.date() - timedelta(days=local.weekday())
    return datetime.combine(monday, time(0), tzinfo=ZoneInfo(zone)).astimezone(now.tzinfo)


def over_cap(sent_today: int, sent_this_week: int, per_day: int, per_week: int) -> bool:
    """True when one more marketing message would exceed a cap (a cap of 0 or less means no cap)."""
    return (per_day > 0 and sent_today >= per_day) or (per_week > 0 and sent_this_week >= per_week)


# ---- provider protection (retries with backoff and jitter are tenacity's, in pipeline.py) ------------
@dataclass
class Breaker:
    """Consecutive-failure circuit breaker for one provider: opens after ``threshold`` failed messages,
    lets one message through (half open) after ``cooldown`` seconds. Times are monotonic seconds."""

    threshold: int
    cooldown: float
    failures: int = 0
    opened_at: float | None = None

    def allows(self, now: float) -> bool:
        return self.opened_at is None or now - self.opened_at >= self.cooldown

    def success(self) -> None:
        self.failures, self.opened_at = 0, None

    def failure(self, now: float) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = now

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None


class TokenBucket:
    """Per-provider rate limit: ``rate`` sends per second with a burst of ``burst``."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, now

    def wait_time(self, now: float) -> float:
        """0 and takes a token when one is free, else the seconds until one is."""
        if self.rate <= 0:
            return 0.0
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


# ---- default templates -------------------------------------------------------------------------------------
DEFAULT_TEMPLATES: list[tuple[str, str, str, str | None, str]] = [
    # (key, channel, locale, subject, body)
    ("login_code", "sms", "zh-CN", None, "您的登录验证码是 {{code}}，{{minutes}} 分钟内有效。请勿告诉他人。"),
    ("login_code", "sms", "en", None, "Your login code is {{code}}. It expires in {{minutes}} minutes."),
    ("birthday", "sms", "zh-CN", None, "{{name}}，生日快乐！生日礼遇已发放到您的会员账户。"),
    ("birthday", "sms", "en", None, "Happy birthday, {{name}}! Your birthday gift is in your member account."),
    ("birthday", "email", "zh-CN", "生日快乐，{{name}}", "{{name}}，祝您生日快乐！生日礼遇已发放到您的会员账户。"),
    ("birthday", "email", "en", "Happy birthday, {{name}}", "Dear {{name}}, happy birthday! Your gift is waiting."),
    ("points.expiring", "sms", "zh-CN", None, "{{name}}，您有 {{points}} 积分将于 {{expiry_date}} 过期，请及时使用。"),
    ("points.expiring", "sms", "en", None, "{{name}}, {{points}} of your points expire on {{expiry_date}}."),
    ("points.expiring", "email", "zh-CN", "积分即将过期", "{{name}}，您有 {{points}} 积分将于 {{expiry_date}} 过期。"),
    ("points.expiring", "email", "en", "Your points expire soon",
     "Dear {{name}}, {{points}} of your points expire on {{expiry_date}}."),
    ("tier.changed", "sms", "zh-CN", None, "{{name}}，您的会员等级已由 {{old_tier}} 变为 {{new_tier}}。"),
    ("tier.changed", "sms", "en", None, "{{name}}, your tier changed from {{old_tier}} to {{new_tier}}."),
    ("tier.changed", "email", "zh-CN", "会员等级变更", "{{name}}，您的会员等级已由 {{old_tier}} 变为 {{new_tier}}。"),
    ("tier.changed", "email", "en", "Your tier changed",
     "Dear {{name}}, your tier changed from {{old_tier}} to {{new_tier}}."),
    ("points.receipt", "sms", "zh-CN", None,
     "{{name}}，本次消费 {{amount}} 元获得 {{points}} 积分，当前积分 {{balance}}。"),
    ("points.receipt", "sms", "en", None, "{{name}}, you earned {{points}} points on {{amount}}; balance {{balance}}."),
    ("points.receipt", "email", "zh-CN", "积分到账",
     "{{name}}，本次消费 {{amount}} 元获得 {{points}} 积分，当前积分 {{balance}}。"),
    ("points.receipt", "email", "en", "Your points", "Dear {{name}}, you earned {{points}} points on {{amount}}; "
     "your balance is {{balance}}."),
    ("ticket.changed", "sms", "zh-CN", None, "{{name}}，您的服务单 {{ticket_ref}} 状态已更新：{{status}}。"),
    ("ticket.changed", "sms", "en", None, "{{name}}, your ticket {{ticket_ref}} was updated: {{status}}."),
    ("ticket.changed", "email", "zh-CN", "服务单更新", "{{name}}，您的服务单 {{ticket_ref}} 状态已更新：{{status}}。"),
    ("ticket.changed", "email", "en", "Your ticket was updated",
     "Dear {{name}}, your ticket {{ticket_ref}} was updated: {{status}}."),
    # WeChat sends the vendor template NOTIFY_WECHAT_TEMPLATES maps the key to; this text is its reading
    ("birthday", "wechat", "zh-CN", None, "{{name}}，生日快乐！生日礼遇已发放到您的会员账户。"),
    ("points.expiring", "wechat", "zh-CN", None, "{{name}}，您有 {{points}} 积分将于 {{expiry_date}} 过期。"),
    ("tier.changed", "wechat", "zh-CN", None, "{{name}}，您的会员等级已由 {{old_tier}} 变为 {{new_tier}}。"),
    ("ticket.changed", "wechat", "zh-CN", None, "{{name}}，您的服务单 {{ticket_ref}} 状态已更新：{{status}}。"),
    ("campaign.announcement", "sms", "zh-CN", None, "{{name}}，{{campaign_name}} 活动开始啦！回T退订"),
    ("campaign.announcement", "sms", "en", None, "{{name}}, {{campaign_name}} has started! Reply STOP to opt out"),
    ("campaign.announcement", "email", "zh-CN", "{{campaign_name}}", "{{name}}，{{campaign_name}} 活动开始啦！"),
    ("campaign.announcement", "email", "en", "{{campaign_name}}", "Dear {{name}}, {{campaign_name}} has started!"),
    ("campaign.announcement", "push", "zh-CN", "{{campaign_name}}", "{{campaign_name}} 活动开始啦！"),
    ("campaign.announcement", "push", "en", "{{campaign_name}}", "{{campaign_name}} has started!"),
    ("campaign.announcement", "webhook", "en", None, "{{campaign_name}}"),
    ("campaign.coupon_drop", "sms", "zh-CN", None,
     "{{name}}，送您 {{coupon_value}} 元优惠券（{{campaign_name}}）。回T退订"),
    ("campaign.coupon_drop", "sms", "en", None,
     "{{name}}, a {{coupon_value}} coupon is yours ({{campaign_name}}). Reply STOP to opt out"),
    ("campaign.coupon_drop", "email", "zh-CN", "{{campaign_name}}", "{{name}}，送您 {{coupon_value}} 元优惠券。"),
    ("campaign.coupon_drop", "email", "en", "{{campaign_name}}", "Dear {{name}}, a {{coupon_value}} coupon is yours."),
    ("campaign.coupon_drop", "push", "zh-CN", "{{campaign_name}}", "送您 {{coupon_value}} 元优惠券，快来看看！"),
    ("campaign.coupon_drop", "push", "en", "{{campaign_name}}", "A {{coupon_value}} coupon is yours!"),
    ("campaign.coupon_drop", "webhook", "en", "{{campaign_name}}", "coupon {{coupon_value}}"),
]
