"""The points program and bonus rules."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from contracts.points import (
    BonusRuleOut,
    ProgramVersion,
)
from services.gateway.pagination import Page, PageParams, page_params
from services.gateway.routes_points_bodies import (
    BonusRuleBody,
    SetProgramBody,
)
from services.gateway.routes_points_common import (
    PROGRAM_READERS,
    PathId,
    call_points,
    paged,
)
from services.gateway.security.policy import allow
from services.gateway.security.principal import Principal

router = APIRouter(tags=["points"])


# ---- the program and bonus rules ---------------------------------------------------------------------------
@router.get("/points/program", response_model=ProgramVersion, summary="The points program in force now")
async def get_program(request: Request, caller: Principal = allow(*PROGRAM_READERS)) -> dict[str, Any]:
    result: dict[str, Any] = await call_points(request, "get_program")
    return result


@router.get("/points/program/versions", response_model=Page[ProgramVersion],
            summary="Every version of the program, past and scheduled")
async def program_versions(request: Request, paging: PageParams = Depends(page_params),
                           caller: Principal = allow(*PROGRAM_READERS)) -> dict[str, Any]:
    return paged(await call_points(request, "program_versions"), paging)


@router.put("/points/program", response_model=ProgramVersion, summary="Set a new program version (audited)",
            description="Takes effect at effective_from (default now; not in the past). Sales are evaluated by "
                        "the version in force at their time.")
async def set_program(body: SetProgramBody, request: Request,
                      caller: Principal = allow("admin", "marketer")) -> dict[str, Any]:
    result: dict[str, Any] = await call_points(request, "set_program", **body.model_dump(mode="json"))
    await request.app.state.auditor.record(request, "points.program_changed", "ok", object_type="points_program",
                                           object_id=str(result["version"]),
                                           details={"effective_from": result["effective_from"]})
    request.state.audited = True
    return result


@router.get("/points/bonus-rules", response_model=Page[BonusRuleOut], summary="Bonus rules (double points days)")
async def list_bonus_rules(request: Request, active_only: bool = False, paging: PageParams = Depends(page_params),
                           caller: Principal = allow("admin", "marketer")) -> dict[str, Any]:
    return paged(await call_points(request, "bonus_rules", active_only=active_only), paging)


@router.post("/points/bonus-rules", status_code=201, response_model=BonusRuleOut,
             summary="Create a bonus rule (audited)")
async def create_bonus_rule(body: BonusRuleBody, request: Request,
                            caller: Principal = allow("admin", "marketer")) -> dict[str, Any]:
    result: dict[str, Any] = await call_points(request, "create_bonus_rule", **body.model_dump(mode="json"))
    await request.app.state.auditor.record(request, "points.bonus_rule_created", "ok", object_type="bonus_rule",
                                           object_id=result["rule_id"],
                                           details={"name": body.name, "starts_at": result["starts_at"],
                                                    "ends_at": result["ends_at"]})
    request.state.audited = True
    return result


@router.post("/points/bonus-rules/{rule_id}/end", response_model=BonusRuleOut,
             summary="End a bonus rule now (audited)")
async def end_bonus_rule(rule_id: PathId, request: Request,
                         caller: Principal = allow("admin", "marketer")) -> dict[str, Any]:
    result: dict[str, Any] = await call_points(request, "end_bonus_rule", rule_id=rule_id)
    await request.app.state.auditor.record(request, "points.bonus_rule_ended", "ok", object_type="bonus_rule",
                                           object_id=rule_id)
    request.state.audited = True
    return result
