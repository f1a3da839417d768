"""Typed errors a service raises across RPC; the gateway maps them to HTTP by ``code``.

Nameko serialises a remote exception as ``{"exc_type", "exc_path", "exc_args", "value"}``.
These classes keep their arguments JSON-friendly (message, field) so any client, not only
Python, can read them.
"""
from __future__ import annotations


class ServiceError(Exception):
    """Base of every error a service means to send to its caller."""

    code = "service_error"
    http_status = 500

    def __init__(self, message: str, field: str | None = None) -> None:
        # no field: no second argument (Nameko would send None as the string "None")
        super().__init__(*((message,) if field is None else (message, field)))
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message if self.field is None else f"{self.field}: {self.message}"


class InvalidInput(ServiceError):
    """A field of the request is missing or malformed."""

    code = "invalid_input"
    http_status = 422


class NotFound(ServiceError):
    code = "not_found"
    http_status = 404


class Forbidden(ServiceError):
    """The caller (``nameko.caller`` context) may not do this."""

    code = "forbidden"
    http_status = 403


class UntrustedCaller(ServiceError):
    """An RPC without a caller signed by a key the service accepts, or signed too long ago
    (contracts/caller_seal.py)."""

    code = "untrusted_caller"
    http_status = 500  # the platform is misconfigured (the gateway always signs), not the client's fault


class Conflict(ServiceError):
    code = "conflict"
    http_status = 409


class Gone(ServiceError):
    """What was asked for existed and has been deleted for good (a feed cursor older than the retention)."""

    code = "gone"
    http_status = 410


class InsufficientPoints(Conflict):
    """Not enough available points for a hold or a deduction."""

    code = "insufficient_points"
    http_status = 409


class StoreNotOpen(Conflict):
    """A sale at a store the catalog has closed or suspended (docs/catalog.md); ``field`` is "store"."""

    code = "store_not_open"
    http_status = 409


class InvalidEvent(ServiceError):
    """An event that can never be processed (bad envelope or payload): dead-letter it."""

    code = "invalid_event"
    http_status = 500


class ServiceUnavailable(ServiceError):
    """A dependency of the service (its database, the broker) is briefly away: retry later."""

    code = "service_unavailable"
    http_status = 503


ERRORS: dict[str, type[ServiceError]] = {
    cls.__name__: cls
    for cls in (ServiceError, InvalidInput, NotFound, Forbidden, UntrustedCaller, Conflict, Gone, InsufficientPoints,
                StoreNotOpen,
                InvalidEvent, ServiceUnavailable)
}
