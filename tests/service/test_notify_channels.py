"""The channel adapters against real servers: SMTP with STARTTLS (aiosmtpd requiring TLS, our own CA),
and the HTTP adapter's split between errors worth retrying and refusals."""
from __future__ import annotations

import datetime as dt
import http.server
import threading
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.notify.channels import HttpChannel, Outgoing, PermanentError, ProviderError, SmtpChannel
from tests.helpers import wait_for
from tests.ports import free_port
from tests.service.notify_support import ProviderStub, SmtpServer


def _certificate(directory: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def _mail(to: str = "ann@example.test") -> Outgoing:
    return Outgoing(message_id=str(uuid.uuid4()), channel="email", to=to, subject="Hello", body="Hi Ann, 200 points")


def test_email_over_starttls_to_a_server_that_requires_it(tmp_path):
    cert, key = _certificate(tmp_path)
    server = SmtpServer(tls=(cert, key))
    try:
        plain = SmtpChannel(host="localhost", port=server.port, sender="loyalty@example.test")
        with pytest.raises(PermanentError):  # 530: STARTTLS required; retrying would not help
            plain.send(_mail())
        channel = SmtpChannel(host="localhost", port=server.port, sender="loyalty@example.test",
                              security="starttls", ca_file=cert)
        message = _mail()
        provider_id = channel.send(message)
        [mail] = wait_for(lambda: [m for m in server.messages() if m["X-Loyalty-Message-Id"] == message.message_id],
                          message="the mail")
        assert mail["Message-ID"] == provider_id and mail["To"] == "ann@example.test"
        assert "200 points" in mail.get_payload(decode=True).decode()
        untrusted = SmtpChannel(host="localhost", port=server.port, sender="loyalty@example.test",
                                security="starttls")
        with pytest.raises(ProviderError):  # a certificate we do not trust is not sent to
            untrusted.send(_mail())
    finally:
        server.close()


def test_an_smtp_server_that_is_not_there_is_worth_retrying():
    channel = SmtpChannel(host="127.0.0.1", port=free_port(), sender="loyalty@example.test", timeout=2)
    with pytest.raises(ProviderError):
        channel.send(_mail())


class _Refusing(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(400 if self.path == "/bad" else 429)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_the_http_adapter_retries_5xx_429_and_timeouts_but_not_4xx():
    stub = ProviderStub()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    sms = Outgoing(message_id=str(uuid.uuid4()), channel="sms", to="+8613900000000", body="code 1234")
    try:
        stub.always_fail(500)
        with pytest.raises(ProviderError):
            HttpChannel(name="sms", url=stub.url, secret="s").send(sms)
        stub.always_fail(None)
        assert HttpChannel(name="sms", url=stub.url, secret="s").send(sms).startswith("prov-")
        with pytest.raises(PermanentError):
            HttpChannel(name="sms", url=base + "/bad", secret="s").send(sms)
        with pytest.raises(ProviderError):
            HttpChannel(name="sms", url=base + "/busy", secret="s").send(sms)
        with pytest.raises(ProviderError):
            HttpChannel(name="sms", url=f"http://127.0.0.1:{free_port()}/", secret="s", timeout=2).send(sms)
    finally:
        stub.close()
        server.shutdown()
        server.server_close()
