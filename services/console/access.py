"""What a user may do, read from the API's own OpenAPI document ("Who may call: ..." in every
operation): the console offers an action only when the API would allow it, and never decides more
than that (the API still checks every call, store scope included)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from services.console.sessions import Session

_WHO = re.compile(r"Who may call: (?P<who>[^\n]*)")


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    member: bool


def parse(document: dict[str, Any]) -> dict[str, Rule]:
    """operationId -> who may call it, from each operation's description."""
    rules: dict[str, Rule] = {}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            found = _WHO.search(operation.get("description", ""))
            if found is None:
                continue
            roles: set[str] = set()
            member = False
            for part in found.group("who").rstrip(".").split(";"):
                part = part.strip()
                if part.endswith(" staff"):
                    roles.update(r.strip() for r in part[: -len(" staff")].split(","))
                elif part == "the member themselves":
                    member = True
            rules[operation["operationId"]] = Rule(frozenset(roles), member)
    return rules


class Permissions:
    """The rules once the gateway's /openapi.json has been read (asked again until it answers)."""

    def __init__(self) -> None:
        self.rules: dict[str, Rule] = {}

    def load(self, document: dict[str, Any]) -> None:
        self.rules = parse(document)

    @property
    def loaded(self) -> bool:
        return bool(self.rules)

    def can(self, session: Session | None, operation: str) -> bool:
        rule = self.rules.get(operation)
        if session is None or rule is None:
            return False
        if session.staff:
            return bool(rule.roles & session.roles)
        return session.member and rule.member
