"""When the secrets and certificates a process holds are due for rotation, as metrics alerts watch.

Secrets carry no date of their own, so the deployment says when each was made:
  GATEWAY_JWT_SECRET_CREATED    the gateway's JWT signing key   (rotate after GATEWAY_JWT_SECRET_MAX_AGE_DAYS, 90)
  MEMBERS_ACTIVE_KEY_CREATED    members' active encryption key  (rotate after MEMBERS_KEY_MAX_AGE_DAYS, 365)
as unix seconds or an ISO-8601 date or time (UTC when no offset is given); `make run` sets them from
its var/secrets files. Unset: that secret's series is absent (the runbook says how to set it).
The blind-index key has no rotation date: it cannot rotate without recomputing every index.
TLS_CERT_FILES=name=/path.pem,... names PEM certificates this process uses (AMQP over TLS, a client
certificate); each file is read at scrape time, so a renewed certificate shows without a restart.

    loyalty_secret_created_timestamp_seconds{secret}
    loyalty_secret_rotation_due_timestamp_seconds{secret}
    loyalty_tls_cert_not_after_timestamp_seconds{cert}   (0 when the file cannot be read or parsed)
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)
DAY = 86_400


@dataclass(frozen=True)
class SecretSpec:
    name: str  # the metric label
    created_var: str
    max_age_var: str
    default_max_age_days: int


# which process holds which secret (the label names the key, not the process)
SECRETS: dict[str, tuple[SecretSpec, ...]] = {
    "gateway": (SecretSpec("gateway_jwt_signing_key", "GATEWAY_JWT_SECRET_CREATED",
                           "GATEWAY_JWT_SECRET_MAX_AGE_DAYS", 90),),
    "members": (SecretSpec("members_encryption_key", "MEMBERS_ACTIVE_KEY_CREATED",
                           "MEMBERS_KEY_MAX_AGE_DAYS", 365),),
}


def parse_created(raw: str) -> float:
    """Unix seconds, or an ISO-8601 date or date-time (naive means UTC)."""
    text = raw.strip()
    try:
        return float(text)
    except ValueError:
        pass
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def secret_dates(owner: str, env: Mapping[str, str]) -> dict[str, tuple[float, float]]:
    """{secret: (created, rotation due)} for the secrets ``owner`` holds whose creation is known."""
    found: dict[str, tuple[float, float]] = {}
    for spec in SECRETS.get(owner, ()):
        raw = env.get(spec.created_var, "")
        if not raw:
            continue
        try:
            created = parse_created(raw)
            max_age = int(env.get(spec.max_age_var) or spec.default_max_age_days)
        except ValueError:
            log.error("%s=%r or %s is not a date / a day count: %s has no rotation metric",
                      spec.created_var, raw, spec.max_age_var, spec.name)
            continue
        found[spec.name] = (created, created + max_age * DAY)
    return found


def cert_files(env: Mapping[str, str]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for item in env.get("TLS_CERT_FILES", "").split(","):
        name, sep, path = item.strip().partition("=")
        if sep and name and path:
            found[name] = Path(path)
    return found


def cert_not_after(path: Path) -> float:
    """notAfter of the first certificate in a PEM file; 0 when it cannot be read (so the alert fires)."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        log.error("TLS certificate %s unreadable: %s", path, exc)
        return 0.0
    return cert.not_valid_after_utc.timestamp()


class ExpiryCollector(Collector):
    def __init__(self) -> None:
        self.secrets: dict[str, tuple[float, float]] = {}
        self.certs: dict[str, Path] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        created = GaugeMetricFamily("loyalty_secret_created_timestamp_seconds",
                                    "When the secret in use was made (from its *_CREATED setting)", labels=["secret"])
        due = GaugeMetricFamily("loyalty_secret_rotation_due_timestamp_seconds",
                                "When the secret in use should be rotated (created + max age)", labels=["secret"])
        for name, (made, rotate) in sorted(self.secrets.items()):
            created.add_metric([name], made)
            due.add_metric([name], rotate)
        yield created
        yield due
        if self.certs:
            certs = GaugeMetricFamily("loyalty_tls_cert_not_after_timestamp_seconds",
                                      "notAfter of a configured TLS certificate (0: unreadable)", labels=["cert"])
            for name, path in sorted(self.certs.items()):
                certs.add_metric([name], cert_not_after(path))
            yield certs


_collector: ExpiryCollector | None = None
_lock = threading.Lock()


def register(owner: str, env: Mapping[str, str] | None = None) -> ExpiryCollector:
    """Report ``owner``'s secrets (and this process's certificates) on the default registry; once per
    process, more owners add to the same collector (tests run several services in one process)."""
    global _collector
    environ = os.environ if env is None else env
    with _lock:
        if _collector is None:
            _collector = ExpiryCollector()
            REGISTRY.register(_collector)
        _collector.secrets.update(secret_dates(owner, environ))
        _collector.certs.update(cert_files(environ))
        return _collector
