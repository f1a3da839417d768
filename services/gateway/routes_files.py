"""/v1/files and /v1/migrations: the files adapter (uploads through the API, on-demand runs of the
SFTP drop, runs with their per-row errors) and migration imports of a legacy program's opening
balances and tiers (created, staged, approved by another admin, applied). Thin: the catalog and
points services hold the rules."""
from __future__ import annotations

import hashlib
import uuid
from base64 import b64encode
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, Field

from services.gateway.errors import ApiError
from services.gateway.pagination import Page, PageParams, make_cursor, page_params
from services.gateway.security.policy import allow
from services.gateway.security.principal import Principal

router = APIRouter(tags=["files and migration"])
IMPORT = allow("admin", scopes=["import:write"])  # admins and ERP keys (import:write is never on a POS key)
ADMIN = allow("admin")  # approving and applying a migration: admins only, never a key
CHUNK = 1 << 20
Kind = Literal["stores", "categories", "products", "members", "sales", "balances", "tiers"]
MEDIA = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx"}
UPLOAD_BODY = {"requestBody": {"required": True, "description": "The file itself, as the body", "content": {
    "text/csv": {"schema": {"type": "string"}, "example": "code,name,time_zone,currency,status\r\n"
                                                          "SH-001,Nanjing Road,Asia/Shanghai,CNY,open\r\n"},
    "application/x-ndjson": {"schema": {"type": "string"},
                             "example": '{"store": "SH-001", "transaction_id": "T1", "member_number": '
                                        '"812345678901", "amount": "88.00", "sold_at": "2024-05-01T10:00:00+08:00"}\n'},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
        "schema": {"type": "string", "format": "binary"},
        "example": "(the workbook's bytes: the first sheet, a header row, one record a row)"}}}}


class FileRun(BaseModel):
    run_id: str
    source: str = Field(description="The SFTP connection's name, or `api` for uploads")
    name: str
    size: int
    kind: str
    mode: str | None = Field(description="Sales only: `history` (recorded, earn nothing) or `accrual`")
    format: str
    status: Literal["uploading", "pending", "done", "failed", "skipped"]
    next_batch: int = Field(description="The cursor: batches before it are in")
    rows_ok: int
    rows_failed: int
    target_ref: str | None = Field(description="The members import job, or the points migration import")
    attempts: int
    last_error: str | None
    sha256: str | None
    created_at: datetime
    finished_at: datetime | None


class RowError(BaseModel):
    line: int
    field: str | None
    message: str


class SyncOutcome(BaseModel):
    registered: int = Field(description="New files found on the drop")
    finished: int
    batches: int
    paused: bool = Field(description="Batches are left: the scheduled runs go on from the cursor")


class MigrationIn(BaseModel):
    kind: Literal["balances", "tiers"]
    source: str = Field(min_length=1, max_length=40, description="The legacy system's name")
    note: str | None = Field(default=None, max_length=400)


class MigrationRows(BaseModel):
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=2000, description="`{line, fields}` each")


class Migration(BaseModel):
    import_id: str
    kind: str
    source: str
    note: str | None
    status: Literal["staging", "approved", "applied", "rejected"]
    created_by: str
    approved_by: str | None
    rows_staged: int
    rows_failed: int
    rows_applied: int
    points_total: int
    created_at: datetime
    approved_at: datetime | None
    applied_at: datetime | None


class MigrationError(RowError):
    row_key: str | None


class StageAnswer(Migration):
    batch_staged: int
    batch_failed: int
    batch_errors: list[MigrationError]


async def _call(request: Request, service: str, method: str, **kwargs: Any) -> Any:
    return await request.app.state.services.call(request, service, method, **kwargs)


def _page(rows: list[dict[str, Any]], limit: int, key: str) -> dict[str, Any]:
    """A page of ``limit`` from ``limit + 1`` rows asked for; the cursor is the last row's ``key``."""
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_cursor": make_cursor(rows[-1][key]) if more else None}


# ---- files --------------------------------------------------------------------------------------
@router.post("/files/uploads", status_code=202, response_model=FileRun, openapi_extra=UPLOAD_BODY,
             responses={413: {"description": "Larger than MAX_IMPORT_BYTES"},
                        415: {"description": "Not CSV, JSON Lines or XLSX"}},
             summary="Upload a file for the files adapter (a run: poll it)",
             description="The same files as the SFTP drop takes, sent as the body. `kind` says what the rows "
                         "are; sales need a `mode`: `history` (recorded for RFM, analytics and reconciliation, "
                         "earning nothing) or `accrual` (earning as the till's offline upload). Rows are checked "
                         "one by one: bad ones are reported with line and field, the rest go on; sending the "
                         "same rows again creates nothing twice.")
async def upload(request: Request, kind: Kind, name: str = Query(min_length=1, max_length=200),
                 mode: Literal["history", "accrual"] | None = None, caller: Principal = IMPORT) -> Any:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in MEDIA:
        raise ApiError(415, "unsupported_media_type", f"send the file as one of {', '.join(MEDIA)}")
    run = await _call(request, "catalog", "upload_open", name=name, kind=kind, mode=mode, format=MEDIA[media])
    limit = request.app.state.settings.max_import_bytes
    digest, size, seq, buffer = hashlib.sha256(), 0, 0, bytearray()
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "payload_too_large", f"files up to {limit} bytes")
        digest.update(chunk)
        buffer += chunk
        while len(buffer) >= CHUNK:
            await _call(request, "catalog", "upload_chunk", run_id=run["run_id"], seq=seq,
                        data=b64encode(bytes(buffer[:CHUNK])).decode())
            del buffer[:CHUNK]
            seq += 1
    if size == 0:
        raise ApiError(422, "invalid_input", "the file is empty", field="body")
    if buffer:
        await _call(request, "catalog", "upload_chunk", run_id=run["run_id"], seq=seq,
                    data=b64encode(bytes(buffer)).decode())
    closed = await _call(request, "catalog", "upload_close", run_id=run["run_id"], size=size,
                         sha256=digest.hexdigest())
    await request.app.state.auditor.record(request, "files.uploaded", "ok", object_type="file_run",
                                           object_id=run["run_id"], details={"bytes": size, "kind": kind,
                                                                             "mode": mode, "name": name})
    request.state.audited = True
    return closed


@router.post("/files/sync", response_model=SyncOutcome, summary="Run the files adapter now",
             description="Scans the SFTP drop for new files and runs pending ones (uploads too) for up to "
                         "`budget` batches; the scheduled runs carry on from the cursor.")
async def sync(request: Request, budget: int = Query(20, ge=1, le=1000), caller: Principal = IMPORT) -> Any:
    return await _call(request, "catalog", "files_sync", budget=budget)


@router.get("/files/runs", response_model=Page[FileRun], summary="File runs, newest first")
async def runs(request: Request, paging: PageParams = Depends(page_params), caller: Principal = IMPORT) -> Any:
    rows = await _call(request, "catalog", "file_runs", after=paging.position(str), limit=paging.limit + 1)
    return _page(rows, paging.limit, "run_id")


@router.get("/files/runs/{run_id}", response_model=FileRun, summary="One file run: cursor, counts, status")
async def run(run_id: uuid.UUID, request: Request, caller: Principal = IMPORT) -> Any:
    return await _call(request, "catalog", "file_run", run_id=str(run_id))


@router.get("/files/runs/{run_id}/errors", response_model=Page[RowError],
            summary="The rows a run refused, with line and field")
async def run_errors(run_id: uuid.UUID, request: Request, paging: PageParams = Depends(page_params),
                     caller: Principal = IMPORT) -> Any:
    rows = await _call(request, "catalog", "file_errors", run_id=str(run_id), after_line=paging.position(int) or 0,
                       limit=paging.limit + 1)
    return _page(rows, paging.limit, "line")


# ---- migration imports --------------------------------------------------------------------------
@router.post("/migrations", status_code=201, response_model=Migration, summary="Start a migration import",
             description="Opening balances (lots keeping their own expiry) or tiers of a legacy program. Stage "
                         "rows here or by a file (`/files/uploads?kind=balances`); another admin approves, then "
                         "it is applied. Not capped by the staff's adjustment limits: the approval is the control.")
async def create_migration(body: MigrationIn, request: Request, caller: Principal = IMPORT) -> Any:
    created = await _call(request, "points", "create_migration", **body.model_dump())
    await request.app.state.auditor.record(request, "migration.created", "ok", object_type="migration",
                                           object_id=created["import_id"], details=body.model_dump())
    request.state.audited = True
    return created


@router.post("/migrations/{import_id}/rows", response_model=StageAnswer, summary="Stage rows of an import")
async def stage(import_id: uuid.UUID, request: Request, body: MigrationRows = Body(),
                caller: Principal = IMPORT) -> Any:
    return await _call(request, "points", "stage_migration", import_id=str(import_id), rows=body.rows)


@router.get("/migrations", response_model=Page[Migration], summary="Migration imports, newest first")
async def migrations(request: Request, paging: PageParams = Depends(page_params), caller: Principal = IMPORT) -> Any:
    rows = await _call(request, "points", "migrations", limit=paging.limit + 1, before=paging.position(list))
    more = len(rows) > paging.limit
    rows = rows[:paging.limit]
    return {"items": rows,
            "next_cursor": make_cursor([rows[-1]["created_at"], rows[-1]["import_id"]]) if more else None}


@router.get("/migrations/{import_id}", response_model=Migration, summary="One migration import")
async def migration(import_id: uuid.UUID, request: Request, caller: Principal = IMPORT) -> Any:
    return await _call(request, "points", "migration_status", import_id=str(import_id))


@router.get("/migrations/{import_id}/errors", response_model=Page[MigrationError],
            summary="The rows an import refused, with line and field")
async def migration_errors(import_id: uuid.UUID, request: Request, paging: PageParams = Depends(page_params),
                           caller: Principal = IMPORT) -> Any:
    rows = await _call(request, "points", "migration_errors", import_id=str(import_id),
                       after_line=paging.position(int) or 0, limit=paging.limit + 1)
    return _page(rows, paging.limit, "line")


async def _decide(request: Request, import_id: uuid.UUID, method: str, action: str, **kwargs: Any) -> Any:
    answer = await _call(request, "points", method, import_id=str(import_id), **kwargs)
    await request.app.state.auditor.record(request, action, "ok", object_type="migration", object_id=str(import_id),
                                           details={k: answer[k] for k in ("status", "rows_applied", "points_total")})
    request.state.audited = True
    return answer


@router.post("/migrations/{import_id}/approve", response_model=Migration,
             summary="Approve a staged import (another admin than its creator)")
async def approve(import_id: uuid.UUID, request: Request, caller: Principal = ADMIN) -> Any:
    return await _decide(request, import_id, "approve_migration", "migration.approved")


@router.post("/migrations/{import_id}/reject", response_model=Migration, summary="Reject a staged import")
async def reject(import_id: uuid.UUID, request: Request, caller: Principal = ADMIN) -> Any:
    return await _decide(request, import_id, "approve_migration", "migration.rejected", reject=True)


@router.post("/migrations/{import_id}/apply", response_model=Migration,
             summary="Apply an approved import (again: only what is not applied yet)")
async def apply(import_id: uuid.UUID, request: Request, caller: Principal = ADMIN) -> Any:
    return await _decide(request, import_id, "apply_migration", "migration.applied")
