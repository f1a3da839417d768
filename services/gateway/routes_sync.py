"""/v1/sync: the ERP connections of the catalog service, for operators. Declare a connection (its
secret stays in the setting it names), read each one's status (last run, cursor per kind, lag, rows
in and out, errors, next run) and ask for a run. Admins and ERP keys (``import:write``). One RPC each."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import PlainTextResponse

from contracts.erp_sync import ConnectionIn, ConnectionStatus, ReconciliationOut
from services.catalog.erp import reconcile
from services.gateway.pagination import Page, PageParams, page_of_all, page_params
from services.gateway.security.policy import allow
from services.gateway.security.principal import Principal

router = APIRouter(tags=["sync"])

OPERATE = allow("admin", scopes=["import:write"])  # admins; ERP keys
Name = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_\-]*$",
                           description="The connection's name (also the `source` of what it writes)")]


async def _catalog(request: Request, method: str, **kwargs: Any) -> Any:
    return await request.app.state.services.call(request, "catalog", method, **kwargs)


@router.get("/sync/connections", response_model=Page[ConnectionStatus], summary="ERP connections and their status",
            description="Each connection with its last run, cursor per kind, lag and next run, by name.")
async def list_sync_connections(request: Request, paging: PageParams = Depends(page_params),
                                caller: Principal = OPERATE) -> Any:
    items, cursor = page_of_all(await _catalog(request, "sync_connections"), paging)
    return {"items": items, "next_cursor": cursor}


@router.get("/sync/connections/{name}", response_model=ConnectionStatus, summary="One ERP connection's status",
            description="`last_run.failure_kind` is `auth` when the ERP refused the credentials: fix the secret in "
                        "the setting `credentials_ref` names, then run it again.")
async def get_sync_connection(name: Name, request: Request, caller: Principal = OPERATE) -> Any:
    return await _catalog(request, "sync_status", name=name)


@router.put("/sync/connections/{name}", response_model=ConnectionStatus, summary="Declare an ERP connection",
            description="Creates or replaces it; its cursors and runs stay. `credentials_ref` names the setting "
                        "(ERP_SECRET_...) that holds the API key; the key itself is never sent or stored here.")
async def put_sync_connection(name: Name, request: Request, body: ConnectionIn = Body(),
                              caller: Principal = OPERATE) -> Any:
    return await _catalog(request, "put_connection", name=name, connection=body.model_dump(mode="json"))


@router.post("/sync/connections/{name}/run", status_code=202, response_model=ConnectionStatus,
             summary="Run an ERP connection now",
             description="Due at once: the catalog's scheduler starts it within seconds (follow it with GET). "
                         "A connection already running finishes its run first.")
async def run_sync_connection(name: Name, request: Request, caller: Principal = OPERATE) -> Any:
    return await _catalog(request, "request_sync", name=name)


# ---- reconciliation ---------------------------------------------------------------------------------------
RECONCILE = allow("admin", "auditor", "manager", scopes=["import:write"])  # managers: their own stores
CSV_EXAMPLE = ("store,SH-001,day,2026-12-01\r\n,count,amount,points\r\nERP,412,51230.40,\r\n"
               "points ledger,188,24811.00,24811\r\nmatched,186,,\r\n\r\n"
               "difference,transaction_id,erp_amount,ledger_amount,points,erp_customer\r\n"
               "mismatched,T-20261201-000201,64.00,46.00,46,odoo-main:4711\r\n")
StoreCode = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]


@router.get("/reconciliation/stores/{code}/days/{day}", response_model=ReconciliationOut,
            summary="Reconcile a store's day: ERP sales against accrued points",
            description="The ERP's sales (from the sync) against the sales the points ledger accrued, by transaction "
                        "id: missing (in the ERP, not accrued; a non-member sale shows here too), extra (accrued, not "
                        "in the ERP) and mismatched amounts.")
async def reconcile_store_day(code: StoreCode, day: date, request: Request, caller: Principal = RECONCILE) -> Any:
    return await _catalog(request, "reconcile", store=code, day=day.isoformat())


class CsvResponse(PlainTextResponse):
    media_type = "text/csv"


@router.get("/reconciliation/stores/{code}/days/{day}/report.csv", response_class=CsvResponse,
            summary="The same reconciliation as a CSV report", description="Totals first, then one row per "
            "difference: what an accountant opens in a spreadsheet.",
            responses={200: {"content": {"text/csv": {"example": CSV_EXAMPLE}}}})
async def reconcile_store_day_csv(code: StoreCode, day: date, request: Request,
                                  caller: Principal = RECONCILE) -> Any:
    report = await _catalog(request, "reconcile", store=code, day=day.isoformat())
    return CsvResponse(reconcile.as_csv(report),
                       headers={"Content-Disposition": f'attachment; filename="{code}-{day}.csv"'})
