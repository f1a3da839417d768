"""/v1/fraud: cashier fraud signals, owned by the fraud service (docs/fraud.md).

Loss prevention reads the review queue: managers (store-bound ones the alerts with a fact at
their stores), admins and auditors. Managers and admins acknowledge an alert with a note; admins
change the rules' thresholds. Both changes are audited. Cashiers, keys and members have no access:
the alerts are about them. The fraud service checks each alert's stores again
(services/fraud/access.py)."""
from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from contracts.fraud import AlertOut, AlertStatus, RuleChange, RuleConfig, RuleName
from services.gateway.pagination import Page, PageParams, make_cursor, page_of_all, page_params
from services.gateway.security.policy import allow
from services.gateway.security.principal import Principal

router = APIRouter(tags=["fraud"])
READ = allow("manager", "admin", "auditor")


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=3, max_length=2000, description="What the manager found and did",
                      examples=["Checked the receipts with the cashier: refunds were customer returns"])


async def _fraud(request: Request, method: str, **kwargs: Any) -> Any:
    return await request.app.state.services.call(request, "fraud", method, **kwargs)


@router.get("/fraud/alerts", response_model=Page[AlertOut], summary="The review queue of fraud alerts, newest first",
            description="Filtered by status, rule, store and subject (a staff user id or API key id).")
async def list_fraud_alerts(request: Request, paging: PageParams = Depends(page_params),
                            status: AlertStatus | None = None, rule: RuleName | None = None,
                            store: str | None = Query(None, max_length=64),
                            subject_id: str | None = Query(None, max_length=128),
                            caller: Principal = READ) -> Page[AlertOut]:
    result = await _fraud(request, "alerts", status=status, rule=rule, store=store, subject_id=subject_id,
                          after=paging.position(str), limit=paging.limit)
    return Page[AlertOut](items=result["items"], next_cursor=make_cursor(result["next"]) if result["next"] else None)


@router.get("/fraud/alerts/{alert_id}", response_model=AlertOut, summary="One fraud alert with its evidence")
async def get_fraud_alert(alert_id: uuid.UUID, request: Request, caller: Principal = READ) -> Any:
    return await _fraud(request, "alert", alert_id=str(alert_id))


@router.post("/fraud/alerts/{alert_id}/ack", response_model=AlertOut,
             summary="Acknowledge a fraud alert with a note (audited)",
             description="The alert leaves the open queue; its facts do not raise the rule again for this subject.")
async def acknowledge_fraud_alert(alert_id: uuid.UUID, body: AckBody, request: Request,
                                  caller: Principal = allow("manager", "admin")) -> Any:
    alert: dict[str, Any] = await _fraud(request, "acknowledge", alert_id=str(alert_id), note=body.note)
    await request.app.state.auditor.record(
        request, "fraud.alert_acknowledged", "ok", object_type="fraud_alert", object_id=str(alert_id),
        store=alert["stores"][0] if len(alert["stores"]) == 1 else None,
        details={"rule": alert["rule"], "subject": f"{alert['subject_kind']}:{alert['subject_id']}",
                 "stores": alert["stores"], "note": body.note})
    request.state.audited = True
    return alert


@router.get("/fraud/rules", response_model=Page[RuleConfig], summary="The fraud rules and their thresholds")
async def list_fraud_rules(request: Request, paging: PageParams = Depends(page_params),
                           caller: Principal = READ) -> Any:
    items, cursor = page_of_all(await _fraud(request, "rules"), paging)
    return {"items": items, "next_cursor": cursor}


@router.patch("/fraud/rules/{rule}", response_model=RuleConfig, summary="Change a fraud rule's thresholds (audited)")
async def change_fraud_rule(rule: RuleName, body: RuleChange, request: Request,
                            caller: Principal = allow("admin")) -> Any:
    changes = body.model_dump(mode="json", exclude_none=True)
    updated = await _fraud(request, "set_rule", rule=rule, **changes)
    await request.app.state.auditor.record(request, "fraud.rule_changed", "ok", object_type="fraud_rule",
                                           object_id=rule, details=changes)
    request.state.audited = True
    return updated
