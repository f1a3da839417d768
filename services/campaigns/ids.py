"""Ids in the campaigns service: every id it keeps is a UUID in its canonical text form."""
from __future__ import annotations

import uuid
from typing import Any

from contracts.errors import InvalidInput


def as_uuid(value: Any, field: str) -> str:
    """The canonical form of an id given by a caller; InvalidInput naming ``field`` otherwise."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidInput("must be a UUID", field) from None


def uuid_or_none(value: str | None) -> str | None:
    """The canonical form of an id from another service's event, or None when it is not one of ours."""
    try:
        return None if value is None else str(uuid.UUID(value))
    except ValueError:
        return None
