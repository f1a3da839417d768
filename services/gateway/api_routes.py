"""The app's API routes with what they declare (who may call, body, parameters): what the OpenAPI
document and the convention tests read, so neither guesses from paths."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant

from services.gateway.security.policy import Access, access_of


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    route: routing.APIRoute
    access: Access | None  # None: open to anyone (health, login)

    @property
    def name(self) -> str:
        return self.route.name


def _access(dependant: Dependant) -> Access | None:
    for sub in dependant.dependencies:
        found = access_of(sub.call) or _access(sub)
        if found is not None:
            return found
    return None


def api_routes(app: FastAPI) -> Iterator[ApiRoute]:
    for context in routing.iter_route_contexts(app.routes):
        route: Any = context.route
        if not isinstance(route, routing.APIRoute) or not route.include_in_schema:
            continue
        for method in sorted(route.methods or ()):
            yield ApiRoute(method, str(context.path_format), route, _access(route.dependant))
