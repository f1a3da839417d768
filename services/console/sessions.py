"""Server-side sessions: the browser holds only a random session id (an HttpOnly, SameSite=Strict
cookie); the API tokens, who the user is and the CSRF token stay on the server, in a store every
console process shares (Redis, CONSOLE_SESSION_REDIS_URL) or, without one, in this process's memory."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields
from typing import Any

from services.console.session_backends import Backend, MemoryBackend

COOKIE = "console_sid"
ANONYMOUS_IDLE_SECONDS = 1800  # a session nobody logged in with (a login page opened) goes sooner
LANGS = ("zh", "en")
TOKENS = ("access_token", "refresh_token")


@dataclass
class Session:
    sid: str
    csrf: str
    lang: str = "zh"
    kind: str | None = None  # "staff" or "member" once logged in
    access_token: str | None = None
    refresh_token: str | None = None
    user_id: str | None = None
    name: str = ""
    roles: frozenset[str] = frozenset()
    stores: tuple[str, ...] | None = None  # None: the whole chain
    member_id: str | None = None
    phone: str | None = None  # the member page between "send code" and "log in"
    registering: bool = False  # that code is for a new member's registration
    notices: list[str] = field(default_factory=list)  # shown once on the next page (after a redirect)
    stored: dict[str, str] = field(default_factory=dict, repr=False, compare=False)  # as last read or written

    @property
    def staff(self) -> bool:
        return self.kind == "staff"

    @property
    def member(self) -> bool:
        return self.kind == "member"

    def csrf_ok(self, offered: str | None) -> bool:
        return bool(offered) and hmac.compare_digest(self.csrf, str(offered))


SAVED = tuple(f.name for f in fields(Session) if f.name not in ("sid", "stored"))


def encode(session: Session) -> dict[str, str]:
    """Each field as JSON text (a Redis hash of them: a request writes only the fields it changed)."""
    out = {}
    for name in SAVED:
        value: Any = getattr(session, name)
        out[name] = json.dumps(sorted(value) if isinstance(value, frozenset) else value, ensure_ascii=False)
    return out


def decode(sid: str, stored: dict[str, str]) -> Session | None:
    """The session, or None for what is not one (half a record: dropped while another request wrote)."""
    try:
        values = {name: json.loads(stored[name]) for name in SAVED}
    except (KeyError, ValueError):
        return None
    values["roles"] = frozenset(values["roles"] or ())
    values["stores"] = None if values["stores"] is None else tuple(values["stores"])
    return Session(sid=sid, stored=dict(stored), **values)


class SessionStore:
    """Sessions by id, dropped after ``idle_seconds`` without a request (the backend's expiry)."""

    def __init__(self, idle_seconds: int, backend: Backend | None = None, prefix: str = "console:session:") -> None:
        self.idle_seconds = idle_seconds
        self.backend = backend or MemoryBackend()
        self.prefix = prefix

    def _key(self, sid: str) -> str:
        # the cookie's value is never a key: a look at the store does not give anyone's session
        return self.prefix + hashlib.sha256(sid.encode()).hexdigest()

    def ttl(self, session: Session) -> int:
        return self.idle_seconds if session.kind else min(self.idle_seconds, ANONYMOUS_IDLE_SECONDS)

    def new(self, lang: str = "zh") -> Session:
        """A session stored at the end of the request that made it (``save``)."""
        return Session(sid=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), lang=lang)

    async def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        stored = await self.backend.load(self._key(sid))
        return decode(sid, stored) if stored else None

    async def save(self, session: Session) -> None:
        """The fields this request changed (others' changes to the rest stay), and the idle clock reset."""
        now = encode(session)
        changed = {name: value for name, value in now.items() if session.stored.get(name) != value}
        await self.backend.save(self._key(session.sid), changed, self.ttl(session), create=not session.stored)
        session.stored = now

    async def rotate(self, session: Session) -> Session:
        """A new id and CSRF token at login and logout (a fixed id planted before login is worthless);
        the old id ends everywhere at once."""
        await self.drop(session)
        return self.new(session.lang)

    async def drop(self, session: Session) -> None:
        await self.backend.delete(self._key(session.sid))

    @asynccontextmanager
    async def refreshing(self, session: Session) -> AsyncIterator[None]:
        """One token refresh at a time for a session, across processes (the API rotates the refresh
        token on every use: a second refresh with the old one would be refused), with the tokens as
        stored: another request may have refreshed them meanwhile."""
        async with self.backend.lock(self._key(session.sid) + ":refresh"):
            stored = await self.backend.load(self._key(session.sid)) if session.stored else None
            for name in TOKENS:
                if stored and name in stored:
                    setattr(session, name, json.loads(stored[name]))
                    session.stored[name] = stored[name]
            yield
            await self.save(session)

    async def close(self) -> None:
        await self.backend.close()
