"""Password hashing (argon2id), JWT access tokens, opaque refresh tokens, API key material."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
ISSUER = "loyalty-gateway"
MIN_PASSWORD_LENGTH = 12


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user exists (a missing user checks a dummy hash)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class TokenError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AccessClaims:
    subject: str
    kind: str
    claims: dict[str, Any]


def issue_access_token(secret: str, subject: str, kind: str, ttl_seconds: int, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "sub": subject, "kind": kind, "iat": now, "exp": now + ttl_seconds,
               "jti": uuid.uuid4().hex, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def decode_access_token(secret: str, token: str) -> AccessClaims:
    try:
        payload = jwt.decode(token, secret, algorithms=["HS256"], issuer=ISSUER,
                             options={"require": ["exp", "iat", "sub", "iss"]})
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired") from None
    except jwt.PyJWTError:
        raise TokenError("token invalid") from None
    return AccessClaims(subject=str(payload["sub"]), kind=str(payload.get("kind")), claims=payload)


def new_refresh_token() -> tuple[str, str]:
    """(token to hand out once, hash to store)."""
    token = "rt_" + secrets.token_urlsafe(32)
    return token, sha256_hex(token)


KEY_PREFIX = "lk_"


def new_api_key() -> tuple[str, str, str]:
    """(full key shown once, public prefix, hash of the secret part to store)."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"{KEY_PREFIX}{prefix}_{secret}", prefix, sha256_hex(secret)


def split_api_key(key: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key, else None."""
    if not key.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = key[len(KEY_PREFIX):].partition("_")
    if not sep or len(prefix) != 12 or not secret:
        return None
    return prefix, secret


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(sha256_hex(secret), stored_hash)


def new_member_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"
