"""/v1/sync: the ERP connections of the catalog service, for operators. Declare a connection (its
secret stays in the setting it names), read each one's status (last run, cursor per kind, lag, rows
in and out, errors, next run) and ask for a run. Admins and ERP keys (``import:write``). One RPC each."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request

from contracts.erp_sync import ConnectionIn, ConnectionStatus
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
