"""Configuration: every default in one place, each overridable by an environment variable.

Names follow one pattern: a platform-wide variable (``AMQP_URI``) and, where a value is
per service, ``<SERVICE>_<NAME>`` (``POINTS_DATABASE_URL``, ``POINTS_MAX_WORKERS``).
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Self, TypeVar
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, ValidationError

from contracts.errors import InvalidInput

T = TypeVar("T")

SERVICES = ("members", "points", "campaigns", "notify", "catalog", "feed", "care",
            "fraud", "analytics")
DATABASES = SERVICES + ("gateway",)  # every service's own database, and the gateway's

_METRICS_PORTS = {"members": 9101, "points": 9102, "campaigns": 9103, "notify": 9104, "catalog": 9105,
                 "feed": 9106, "care": 9108,
                 "fraud": 9110, "analytics": 9109}


def metrics_port_settings() -> list[str]:
    """The variables naming every process's metrics port, and the console's web port: every port an
    isolated copy (a test's platform) must set besides GATEWAY_PORT."""
    return [f"{name.upper()}_METRICS_PORT" for name in ("gateway", *SERVICES, "console")] + ["CONSOLE_PORT"]


def env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_int(name: str, default: int) -> int:
    return _parsed(name, str(default), int, "an integer")


def env_float(name: str, default: float) -> float:
    return _parsed(name, str(default), float, "a number")


def _parsed(name: str, default: str, parse: Callable[[str], T], what: str) -> T:
    raw = env(name, default)
    try:
        return parse(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be {what}, got {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = env(name, "1" if default else "0").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"environment variable {name} must be a boolean, got {raw!r}")


def amqp_uri() -> str:
    return env("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")


def amqp_vhost(uri: str | None = None) -> str:
    """The virtual host named by an AMQP URI ('/' when the path is empty or '/')."""
    path = urlsplit(uri or amqp_uri()).path
    if path in ("", "/"):
        return "/"
    from urllib.parse import unquote

    return unquote(path[1:])


def rabbit_management_url() -> str:
    return env("RABBIT_MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672")


def pg_admin_url() -> str:
    """A PostgreSQL URL with the right to create databases (used by bootstrap only)."""
    return env("PG_ADMIN_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")


def db_prefix() -> str:
    return env("DB_NAME_PREFIX", "loyalty_")


def database_url(service: str) -> str:
    """The service's own database: ``<SERVICE>_DATABASE_URL``, or derived from PG_ADMIN_URL."""
    explicit = os.environ.get(f"{service.upper()}_DATABASE_URL")
    if explicit:
        return explicit
    parts = urlsplit(pg_admin_url())
    return urlunsplit(parts._replace(path="/" + db_prefix() + service))


@dataclass(frozen=True)
class ServiceSettings:
    """Settings one Nameko service process runs with."""

    name: str
    amqp_uri: str
    database_url: str
    max_workers: int
    db_pool_size: int
    prefetch_count: int
    metrics_port: int | None
    outbox_relay: bool
    outbox_batch_size: int
    outbox_poll_seconds: float
    outbox_bundle_size: int
    outbox_linger_ms: int
    outbox_retention_hours: int
    event_delivery_limit: int
    log_level: str
    inbox_retention_hours: int = 168  # why this long: service_runtime/inbox.py
    inbox_purge_seconds: float = 600.0

    @classmethod
    def load(cls, name: str) -> "ServiceSettings":
        prefix = name.upper() + "_"
        from service_runtime.inbox import DEFAULT_RETENTION_HOURS, check_retention

        max_workers = env_int(prefix + "MAX_WORKERS", env_int("MAX_WORKERS", 10))
        outbox_retention_hours = env_int("OUTBOX_RETENTION_HOURS", 72)
        metrics_port = env_int(prefix + "METRICS_PORT", _METRICS_PORTS.get(name, 9100))
        return cls(
            name=name,
            amqp_uri=amqp_uri(),
            database_url=database_url(name),
            max_workers=max_workers,
            # the pool must never be smaller than the number of concurrent workers,
            # plus the outbox relay's own connection
            db_pool_size=max(env_int(prefix + "DB_POOL_SIZE", max_workers + 2), max_workers + 2),
            prefetch_count=env_int(prefix + "PREFETCH_COUNT", max_workers),
            metrics_port=None if metrics_port < 0 else metrics_port,
            outbox_relay=env_bool("OUTBOX_RELAY_ENABLED", True),
            outbox_batch_size=env_int("OUTBOX_BATCH_SIZE", 200),
            outbox_poll_seconds=env_float("OUTBOX_POLL_SECONDS", 1.0),
            outbox_bundle_size=max(env_int("OUTBOX_BUNDLE_SIZE", 100), 1),
            outbox_linger_ms=max(env_int("OUTBOX_LINGER_MS", 20), 0),
            outbox_retention_hours=outbox_retention_hours,
            event_delivery_limit=env_int("EVENT_DELIVERY_LIMIT", 10),
            log_level=env("LOG_LEVEL", "INFO"),
            inbox_retention_hours=check_retention(env_int("INBOX_RETENTION_HOURS", DEFAULT_RETENTION_HOURS),
                                                  outbox_retention_hours),
            inbox_purge_seconds=env_float("INBOX_PURGE_SECONDS", 600),
        )

    def nameko_config(self) -> dict[str, object]:
        return {
            "AMQP_URI": self.amqp_uri,
            "max_workers": self.max_workers,
            "PREFETCH_COUNT": self.prefetch_count,
            "serializer": "json",
            "SERVICE_CONTAINER_CLS": "service_runtime.container.ResilientContainer",
            "SERVICE_SETTINGS": {self.name: self},
        }


def settings_for(service: str) -> ServiceSettings:
    """The settings a service's extensions use: from Nameko's config if given there
    (several services in one process, as in tests), else from the environment."""
    from nameko import config

    given = (config.get("SERVICE_SETTINGS") or {}).get(service)
    return given if given is not None else ServiceSettings.load(service)


@dataclass(frozen=True)
class GatewaySettings:
    host: str
    port: int
    amqp_uri: str
    rpc_timeout_seconds: float
    ready_timeout_seconds: float
    public_url: str
    log_level: str
    rpc_till_timeout_seconds: float = 3.0  # sales, refunds, holds, member lookups (docs/decisions/0012)
    breaker_threshold: int = 5
    breaker_open_seconds: float = 2.0
    database_url: str = ""
    jwt_secret: str = ""
    access_token_seconds: int = 900
    refresh_token_days: int = 30
    member_token_seconds: int = 3600
    login_max_failures: int = 5
    login_lock_seconds: int = 900
    rate_key: tuple[float, float] = (50.0, 100.0)  # requests per second, burst
    rate_staff: tuple[float, float] = (20.0, 40.0)
    rate_member: tuple[float, float] = (5.0, 20.0)
    rate_ip: tuple[float, float] = (10.0, 30.0)  # unauthenticated callers, per client IP
    max_body_bytes: int = 1_048_576
    max_import_bytes: int = 2 << 30
    idempotency_hours: int = 48
    otp_delivery: str = "none"
    otp_seconds: int = 300
    bootstrap_admin_user: str | None = None
    bootstrap_admin_password: str | None = None
    metrics_port: int | None = None  # /metrics and /status, never on the public port; None: not served
    metrics_host: str = "127.0.0.1"
    redis_url: str = ""  # rate limits shared by every replica; empty: per process only
    redis_prefix: str = "loyalty:rl:"
    redis_timeout_seconds: float = 0.1
    import_lease_seconds: float = 60.0  # an import whose gateway died is taken over after this
    import_runner: bool = True  # this gateway runs import jobs (any replica may)
    caller_signing_key: str = ""  # CALLER_SIGNING_KEY, shared with every service (docs/decisions/0017)
    caller_accepted_keys: str = ""  # CALLER_ACCEPTED_KEYS: accepted besides it, while keys rotate

    @classmethod
    def load(cls) -> "GatewaySettings":
        host = env("GATEWAY_HOST", "127.0.0.1")
        port = env_int("GATEWAY_PORT", 8080)
        return cls(
            host=host,
            port=port,
            amqp_uri=amqp_uri(),
            rpc_timeout_seconds=env_float("RPC_TIMEOUT_SECONDS", 10),
            ready_timeout_seconds=env_float("READY_TIMEOUT_SECONDS", 2),
            rpc_till_timeout_seconds=env_float("RPC_TILL_TIMEOUT_SECONDS", 3),
            breaker_threshold=env_int("BREAKER_THRESHOLD", 5),
            breaker_open_seconds=env_float("BREAKER_OPEN_SECONDS", 2),
            public_url=env("GATEWAY_PUBLIC_URL", f"http://{host}:{port}"),
            log_level=env("LOG_LEVEL", "INFO"),
            database_url=database_url("gateway"),
            jwt_secret=env("GATEWAY_JWT_SECRET", ""),
            access_token_seconds=env_int("ACCESS_TOKEN_SECONDS", 900),
            refresh_token_days=env_int("REFRESH_TOKEN_DAYS", 30),
            member_token_seconds=env_int("MEMBER_TOKEN_SECONDS", 3600),
            login_max_failures=env_int("LOGIN_MAX_FAILURES", 5),
            login_lock_seconds=env_int("LOGIN_LOCK_SECONDS", 900),
            rate_key=_rate("RATE_LIMIT_KEY", "50/100"),
            rate_staff=_rate("RATE_LIMIT_STAFF", "20/40"),
            rate_member=_rate("RATE_LIMIT_MEMBER", "5/20"),
            rate_ip=_rate("RATE_LIMIT_IP", "10/30"),
            max_body_bytes=env_int("MAX_BODY_BYTES", 1_048_576),
            max_import_bytes=env_int("MAX_IMPORT_BYTES", 2 << 30),
            idempotency_hours=max(env_int("IDEMPOTENCY_HOURS", 48), 24),
            otp_delivery=env("OTP_DELIVERY", "none"),
            otp_seconds=env_int("OTP_SECONDS", 300),
            bootstrap_admin_user=os.environ.get("BOOTSTRAP_ADMIN_USER") or None,
            bootstrap_admin_password=os.environ.get("BOOTSTRAP_ADMIN_PASSWORD") or None,
            metrics_port=None if env_int("GATEWAY_METRICS_PORT", 9100) < 0 else env_int("GATEWAY_METRICS_PORT", 9100),
            metrics_host=env("GATEWAY_METRICS_HOST", host),
            redis_url=env("RATE_LIMIT_REDIS_URL", ""),
            redis_prefix=env("RATE_LIMIT_REDIS_PREFIX", "loyalty:rl:"),
            redis_timeout_seconds=env_int("RATE_LIMIT_REDIS_TIMEOUT_MS", 100) / 1000,
            import_lease_seconds=env_float("IMPORT_LEASE_SECONDS", 60),
            import_runner=env_bool("GATEWAY_IMPORT_RUNNER", True),
            caller_signing_key=env("CALLER_SIGNING_KEY", ""),
            caller_accepted_keys=env("CALLER_ACCEPTED_KEYS", ""),
        )


def _rate(name: str, default: str) -> tuple[float, float]:
    """A rate limit as 'requests per second/burst', e.g. RATE_LIMIT_KEY=50/100."""
    raw = env(name, default)
    try:
        rate, _, burst = raw.partition("/")
        return float(rate), float(burst or rate)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must look like 50/100, got {raw!r}") from exc


def redact_url(url: str) -> str:
    """The URL with its password replaced, for logs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


@dataclass(frozen=True)
class StoreZones:
    """Which time zone each store keeps: STORE_TIMEZONES=SH-001=Asia/Shanghai,NY-001=America/New_York;
    stores not named there use STORE_DEFAULT_TIMEZONE (default Asia/Shanghai; MEMBERS_TIMEZONE is
    read as an older name of it)."""

    named: dict[str, str]
    default: str

    @classmethod
    def from_env(cls) -> "StoreZones":
        return _store_zones(env("STORE_TIMEZONES", ""), env("STORE_DEFAULT_TIMEZONE", env("MEMBERS_TIMEZONE",
                                                                                          "Asia/Shanghai")))

    @classmethod
    def parse(cls, spec: str, default: str) -> "StoreZones":
        named = {}
        for item in filter(None, spec.split(",")):
            store_code, _, zone = item.partition("=")
            named[store_code.strip()] = zone.strip()
        zones = cls(named, default)
        for zone in zones.zones():
            try:
                ZoneInfo(zone)
            except (ValueError, ZoneInfoNotFoundError):
                raise InvalidInput(f"unknown time zone {zone!r} in STORE_TIMEZONES/STORE_DEFAULT_TIMEZONE", "zone") \
                    from None
        return zones

    def zones(self) -> set[str]:
        return set(self.named.values()) | {self.default}

    def zone_of(self, store_code: str | None) -> str:
        return self.named.get(store_code or "", self.default)


@functools.lru_cache(maxsize=8)
def _store_zones(spec: str, default: str) -> StoreZones:
    """Parsed once per distinct setting (the POS path asks for every sale)."""
    return StoreZones.parse(spec, default)


class SettingsError(ValueError):
    """An environment variable that does not parse, named with what it should be."""


class EnvSettings(BaseModel):
    """A service's own settings, typed, each field naming its variable as its alias:

        class FilesSettings(EnvSettings):
            lease_seconds: float = Field(120.0, alias="FILES_LEASE_SECONDS", gt=0)

    An unset or empty variable keeps the default; a malformed one is a SettingsError naming it.
    Read once when the service starts (``service_runtime.base.SettingsProvider``); the
    alternatives considered are in docs/decisions/0029-shape-leftovers.md."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        source = os.environ if environ is None else environ
        given = {f.alias: source[f.alias] for f in cls.model_fields.values() if f.alias and source.get(f.alias)}
        try:
            return cls.model_validate(given)
        except ValidationError as exc:
            raise SettingsError("; ".join(f"environment variable {'.'.join(map(str, e['loc']))}: {e['msg']} "
                                          f"(got {e['input']!r})" for e in exc.errors())) from None
