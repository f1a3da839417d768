"""Rotation dates of secrets and certificate notAfter as the metrics the expiry alerts watch."""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from service_runtime import expiry

NOT_AFTER = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def _cert(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "amqp-client")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOT_AFTER - dt.timedelta(days=90))
            .not_valid_after(NOT_AFTER).sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.mark.parametrize("raw, expected", [
    ("1767225600", 1767225600.0),
    ("2026-01-01", 1767225600.0),
    ("2026-01-01T00:00:00Z", 1767225600.0),
    ("2026-01-01T08:00:00+08:00", 1767225600.0),
])
def test_created_accepts_unix_seconds_and_iso_dates(raw: str, expected: float) -> None:
    assert expiry.parse_created(raw) == expected


def test_rotation_due_is_created_plus_the_max_age_of_each_secret_its_process_holds() -> None:
    env = {"GATEWAY_JWT_SECRET_CREATED": "2026-01-01", "MEMBERS_ACTIVE_KEY_CREATED": "2026-01-01",
           "MEMBERS_KEY_MAX_AGE_DAYS": "30"}
    assert expiry.secret_dates("gateway", env) == {
        "gateway_jwt_signing_key": (1767225600.0, 1767225600.0 + 90 * 86400)}
    assert expiry.secret_dates("members", env) == {
        "members_encryption_key": (1767225600.0, 1767225600.0 + 30 * 86400)}
    assert expiry.secret_dates("points", env) == {}


def test_an_unset_or_malformed_date_gives_no_series_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    assert expiry.secret_dates("gateway", {}) == {}
    with caplog.at_level(logging.ERROR):
        assert expiry.secret_dates("gateway", {"GATEWAY_JWT_SECRET_CREATED": "last tuesday"}) == {}
    assert "GATEWAY_JWT_SECRET_CREATED='last tuesday'" in caplog.text


def test_the_collector_exposes_secret_dates_and_reads_certificates_at_scrape_time(tmp_path: Path) -> None:
    collector = expiry.ExpiryCollector()
    collector.secrets = expiry.secret_dates("gateway", {"GATEWAY_JWT_SECRET_CREATED": "1767225600"})
    collector.certs = expiry.cert_files({"TLS_CERT_FILES": f"amqp-client={_cert(tmp_path / 'c.pem')},"
                                                           f" smtp={tmp_path / 'missing.pem'}"})
    registry = CollectorRegistry()
    registry.register(collector)
    samples = {(s.name, tuple(s.labels.values())): s.value
               for family in text_string_to_metric_families(generate_latest(registry).decode())
               for s in family.samples}
    assert samples == {
        ("loyalty_secret_created_timestamp_seconds", ("gateway_jwt_signing_key",)): 1767225600.0,
        ("loyalty_secret_rotation_due_timestamp_seconds", ("gateway_jwt_signing_key",)): 1767225600.0 + 90 * 86400,
        ("loyalty_tls_cert_not_after_timestamp_seconds", ("amqp-client",)): NOT_AFTER.timestamp(),
        ("loyalty_tls_cert_not_after_timestamp_seconds", ("smtp",)): 0.0,
    }
    _cert(tmp_path / "missing.pem")  # renewed in place: the next scrape reads it
    assert b'cert="smtp"} 1.8039024e+09' in generate_latest(registry)
