"""Request signing as the Chinese cloud vendors document it (pure functions, no I/O, no clock).

Alibaba Cloud RPC APIs (Dysmsapi SendSms): signature version 1.0, HMAC-SHA1 over
``METHOD&%2F&percent(canonical query)``, keyed with ``secret + "&"``; percent-encoding is RFC 3986
(unreserved ``A-Za-z0-9-_.~`` kept, space as %20, ``*`` as %2A). Tencent Cloud API 3.0: TC3-HMAC-SHA256,
a canonical request hashed into a string to sign, keyed by a key derived from the secret, the UTC date
and the service. docs/decisions/0027-china-channels.md says why these and not the others.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime

TC3 = "TC3-HMAC-SHA256"


def percent(text: str) -> str:
    """Alibaba's (and RFC 3986's) percent-encoding of UTF-8: only A-Z a-z 0-9 - _ . ~ stay as they are."""
    return urllib.parse.quote(text, safe="-_.~")


def aliyun_canonical_query(params: Mapping[str, str]) -> str:
    """The parameters (Signature excluded) sorted by name, each name=value percent-encoded, joined by '&'."""
    return "&".join(f"{percent(k)}={percent(v)}" for k, v in sorted(params.items()) if k != "Signature")


def aliyun_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    return f"{method.upper()}&{percent('/')}&{percent(aliyun_canonical_query(params))}"


def aliyun_signature(method: str, params: Mapping[str, str], secret: str) -> str:
    """Base64 of HMAC-SHA1(secret + '&', string to sign): the value of the ``Signature`` parameter."""
    digest = hmac.new(f"{secret}&".encode(), aliyun_string_to_sign(method, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac256(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def tc3_canonical_request(method: str, content_type: str, host: str, payload: bytes, query: str = "") -> str:
    """Method, URI '/', query, the signed headers content-type and host (lower case), their names, and
    the payload's SHA-256, one per line (the headers' block ends with an empty line)."""
    headers = f"content-type:{content_type.lower()}\nhost:{host.lower()}\n"
    return "\n".join([method.upper(), "/", query, headers, "content-type;host", _sha256_hex(payload)])


def tc3_signature(secret_key: str, timestamp: int, service: str, canonical_request: str) -> tuple[str, str]:
    """(credential scope, hex signature) for a canonical request signed at ``timestamp`` (unix seconds)."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join([TC3, str(timestamp), scope, _sha256_hex(canonical_request.encode())])
    key = _hmac256(_hmac256(_hmac256(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    return scope, hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def tc3_authorization(secret_id: str, secret_key: str, timestamp: int, service: str, host: str,
                      content_type: str, payload: bytes) -> str:
    """The ``Authorization`` header of a POST with this payload."""
    canonical = tc3_canonical_request("POST", content_type, host, payload)
    scope, signature = tc3_signature(secret_key, timestamp, service, canonical)
    return f"{TC3} Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signature}"
