"""/v1/members: register, look up, search, update (optimistic concurrency), history, consent,
merge, erasure, export and bulk tags, and a member's own registration under /v1/auth."""
from __future__ import annotations

from fastapi import APIRouter

from services.gateway import (
    routes_members_care,
    routes_members_lifecycle,
    routes_members_qr,
    routes_members_record,
)

router = APIRouter()
# in this order: the OpenAPI document lists the paths as the routes were added
for _part in (routes_members_lifecycle, routes_members_qr, routes_members_record, routes_members_care):
    router.include_router(_part.router)
auth_router = routes_members_care.auth_router
