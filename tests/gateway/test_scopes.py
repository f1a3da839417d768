"""Key scopes: each one opens some route, and the security guide's scope table says what the code does."""
from __future__ import annotations

import re
from pathlib import Path

from services.gateway.api_routes import api_routes
from services.gateway.security.principal import DEFAULT_KEY_SCOPES, KEY_SCOPES

SECURITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_every_scope_opens_some_route(client):
    used = {scope for r in api_routes(client.app) if r.access for scope in r.access.scopes | r.access.any_scopes}
    assert used == set(KEY_SCOPES)


def _documented_scope_table() -> dict[str, set[str]]:
    rows = re.findall(r"^\| `([a-z]+:[a-z]+)` \| [^|]+ \| ([^|]*) \|$", SECURITY_DOC.read_text(), re.MULTILINE)
    return {scope: {k.strip() for k in kinds.split(",") if k.strip()} for scope, kinds in rows}


def test_the_documented_scope_table_matches_the_scopes_and_their_defaults():
    table = _documented_scope_table()
    assert set(table) == set(KEY_SCOPES)
    for kind, defaults in DEFAULT_KEY_SCOPES.items():
        assert {scope for scope, kinds in table.items() if kind in kinds} == set(defaults), kind


def test_a_scope_no_route_uses_cannot_be_given(client, callers):
    created = client.post("/v1/api-keys", headers=callers["admin"],
                          json={"name": "erp", "kind": "erp", "scopes": ["members:read", "sync:read"]})
    assert created.status_code == 422 and created.json()["error"]["field"] == "scopes"
