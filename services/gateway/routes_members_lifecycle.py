"""/v1/members/lifecycle: the thresholds of the lifecycle classes (docs/lifecycle.md)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from contracts.rpc import LifecycleSettings, LifecycleSettingsOut
from services.gateway.security.policy import allow
from services.gateway.security.principal import Principal

router = APIRouter(tags=["members"])


@router.get("/members/lifecycle/settings", response_model=LifecycleSettingsOut,
            summary="The lifecycle thresholds in force")
async def lifecycle_settings(request: Request, caller: Principal = allow("admin", "marketer")) -> dict[str, Any]:
    result: dict[str, Any] = await request.app.state.services.call(request, "members", "lifecycle_settings")
    return result


@router.put("/members/lifecycle/settings", response_model=LifecycleSettingsOut,
            summary="Set the lifecycle thresholds (audited)",
            description="Sales are classified by the new thresholds at once; the daily run moves every member "
                        "they move (and emits member.lifecycle_changed for each).")
async def set_lifecycle_settings(body: LifecycleSettings, request: Request,
                                 caller: Principal = allow("admin")) -> dict[str, Any]:
    result: dict[str, Any] = await request.app.state.services.call(
        request, "members", "set_lifecycle_settings", **body.model_dump(mode="json"))
    await request.app.state.auditor.record(request, "members.lifecycle_settings_changed", "ok",
                                           object_type="lifecycle_settings", object_id=str(result["version"]),
                                           details=body.model_dump(mode="json"))
    request.state.audited = True
    return result
