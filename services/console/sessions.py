"""Server-side sessions: the browser holds only a random session id (an HttpOnly, SameSite=Strict
cookie); the API tokens, who the user is and the CSRF token stay here, in this process's memory."""
from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

COOKIE = "console_sid"
ANONYMOUS_IDLE_SECONDS = 1800  # a session nobody logged in with (a login page opened) goes sooner
LANGS = ("zh", "en")


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
    last_seen: float = field(default_factory=time.monotonic)
    notices: list[str] = field(default_factory=list)  # shown once on the next page (after a redirect)

    @property
    def staff(self) -> bool:
        return self.kind == "staff"

    @property
    def member(self) -> bool:
        return self.kind == "member"

    def csrf_ok(self, offered: str | None) -> bool:
        return bool(offered) and hmac.compare_digest(self.csrf, str(offered))


class SessionStore:
    """Sessions by id, dropped after ``idle_seconds`` without a request."""

    def __init__(self, idle_seconds: int) -> None:
        self.idle_seconds = idle_seconds
        self._sessions: dict[str, Session] = {}

    def new(self, lang: str = "zh") -> Session:
        self._expire()
        session = Session(sid=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), lang=lang)
        self._sessions[session.sid] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        session = self._sessions.get(sid or "")
        if session is None:
            return None
        if time.monotonic() - session.last_seen > self._idle(session):
            self._sessions.pop(session.sid, None)
            return None
        session.last_seen = time.monotonic()
        return session

    def rotate(self, session: Session) -> Session:
        """A new id and CSRF token at login and logout (a fixed id planted before login is worthless)."""
        self._sessions.pop(session.sid, None)
        fresh = self.new(session.lang)
        return fresh

    def drop(self, session: Session) -> None:
        self._sessions.pop(session.sid, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for sid in [s.sid for s in self._sessions.values() if now - s.last_seen > self._idle(s)]:
            self._sessions.pop(sid, None)

    def _idle(self, session: Session) -> int:
        return self.idle_seconds if session.kind else min(self.idle_seconds, ANONYMOUS_IDLE_SECONDS)
