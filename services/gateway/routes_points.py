"""/v1/points and /v1/members/{id}/points: sales, refunds, offline batches, holds, the ledger,
adjustments, activities, the program, bonus rules, reports and jobs.

Each route checks who may call it and for which store or member, then makes one RPC to the
points service and relays its answer (the service checks the caller again itself).
"""
from __future__ import annotations

from fastapi import APIRouter

from services.gateway import (
    routes_points_admin,
    routes_points_members,
    routes_points_reports,
    routes_points_till,
)

router = APIRouter()
# in this order: the OpenAPI document lists the paths as the routes were added
for _part in (routes_points_till, routes_points_members, routes_points_admin, routes_points_reports):
    router.include_router(_part.router)
