"""/v1/members/imports: bulk import of members from CSV or JSON, as a durable job with progress
(the upload is stored, then run by any gateway's ImportRunner: import_runner.py)."""
from __future__ import annotations

import logging
import tempfile
import uuid
from typing import Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request

from contracts.imports import IMPORT_COLUMNS, IMPORT_REQUIRED
from contracts.rpc import ImportError_, ImportJob
from service_runtime.import_files import FileProblem, check_file, detect_encoding
from services.gateway import import_jobs
from services.gateway.errors import ApiError
from services.gateway.pagination import Page, PageParams, make_cursor, page_params
from services.gateway.security.policy import allow
from services.gateway.security.principal import Principal

router = APIRouter(tags=["members"])
log = logging.getLogger(__name__)

FORMATS = {"text/csv": "csv", "application/json": "json", "application/x-ndjson": "json"}


# the API answers with the members service's own contract models
ImportJobOut = ImportJob
ImportErrorOut = ImportError_


_CSV_EXAMPLE = ("external_id,name,phone,email,id_number,gender,birthday,registration_store,tags\r\n"
                "E-1001,Zhang San,13900001111,zhang.san@example.com,,male,1990-05-17,SH-001,vip;newsletter\r\n"
                "E-1002,Li Si,+8613900002222,,,female,,SH-002,\r\n")
_ROW_SCHEMA = {"type": "object", "additionalProperties": False, "required": list(IMPORT_REQUIRED),
               "properties": {**{c: {"type": ["string", "null"]} for c in IMPORT_COLUMNS},
                              "tags": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"},
                                                 {"type": "null"}]}}}
_ROW_EXAMPLE = {"external_id": "E-1001", "name": "Zhang San", "phone": "13900001111", "registration_store": "SH-001",
                "tags": ["vip"]}
# the route reads the body as a stream (never buffered), so FastAPI cannot see it: declared here
IMPORT_BODY = {"requestBody": {"required": True, "description": "The file itself, as the body (up to "
                                                                  "MAX_IMPORT_BYTES)", "content": {
    "text/csv": {"schema": {"type": "string", "description": "A header row naming the columns, then one member "
                                                             "per row; tags separated by ';' or '|'"},
                 "example": _CSV_EXAMPLE},
    "application/json": {"schema": {"type": "array", "items": _ROW_SCHEMA}, "example": [_ROW_EXAMPLE]},
    "application/x-ndjson": {"schema": {"type": "string", "description": "One JSON object per line, as in "
                                                                         "application/json"},
                             "example": '{"name": "Zhang San", "phone": "13900001111"}\n'},
}}}


@router.post("/members/imports", status_code=202, response_model=ImportJobOut, openapi_extra=IMPORT_BODY,
             responses={413: {"description": "The file is larger than MAX_IMPORT_BYTES"},
                        415: {"description": "Not text/csv, application/json or application/x-ndjson"}},
             summary="Import members from a CSV or JSON file (a job: poll its status)",
             description="Send the file as the body: text/csv with a header row (external_id, name, phone, "
                         "email, id_number, gender, birthday, registration_store, tags), or application/json "
                         "(an array of objects) / application/x-ndjson. Rows are checked one by one; good rows "
                         "are committed, bad ones reported with line and field. Running the same file again "
                         "creates nothing twice (same phone or external_id). Encoding: UTF-8 or GBK/GB18030, "
                         "detected unless given.")
async def start_import(request: Request,
                       source: str = Query("import", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$",
                                           description="Namespace of external_id values (e.g. the ERP's name)"),
                       encoding: Literal["auto", "utf-8", "gbk", "gb18030"] = "auto",
                       caller: Principal = allow("admin", scopes=["import:write"])) -> ImportJobOut:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in FORMATS:
        raise ApiError(415, "unsupported_media_type", f"send the file as one of {', '.join(FORMATS)}")
    limit = request.app.state.settings.max_import_bytes
    spool = await anyio.to_thread.run_sync(tempfile.TemporaryFile)
    try:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "payload_too_large", f"import files up to {limit} bytes")
            await anyio.to_thread.run_sync(spool.write, chunk)
        if size == 0:
            raise ApiError(422, "invalid_input", "the file is empty", field="body")
        try:  # the header is checked now, so a bad file is a 422 here rather than a failed job
            chosen = await anyio.to_thread.run_sync(detect_encoding, spool, encoding)
            await anyio.to_thread.run_sync(check_file, spool, FORMATS[media], chosen)
        except FileProblem as problem:
            raise ApiError(422, "invalid_input", problem.message, field=problem.field) from None
        services = request.app.state.services
        job = await services.call(request, "members", "start_import", source=source, format=FORMATS[media],
                                  encoding=chosen)
        try:  # the file and the job are kept in the gateway's database: any gateway can run or resume it
            await request.app.state.db.run(import_jobs.save_upload, job["job_id"], FORMATS[media], chosen,
                                           caller.rpc_context(), request.state.request_id, spool)
        except Exception:
            await services.call(request, "members", "finish_import", job_id=job["job_id"],
                                error="stopped: the file could not be stored; send it again")
            raise
    finally:
        spool.close()
    request.app.state.imports.wake.set()
    await request.app.state.auditor.record(request, "member.import_started", "ok", object_type="import",
                                           object_id=job["job_id"], details={"bytes": size, "format": media})
    request.state.audited = True
    return ImportJobOut(**job)


@router.get("/members/imports/{job_id}", response_model=ImportJobOut, summary="Progress and counts of an import")
async def import_status(job_id: uuid.UUID, request: Request,
                        caller: Principal = allow("admin", scopes=["import:write"])) -> ImportJobOut:
    job = await request.app.state.services.call(request, "members", "import_status", job_id=str(job_id))
    return ImportJobOut(**job)


@router.get("/members/imports/{job_id}/errors", response_model=Page[ImportErrorOut],
            summary="The rows an import refused, with line and field")
async def import_errors(job_id: uuid.UUID, request: Request, paging: PageParams = Depends(page_params),
                        caller: Principal = allow("admin", scopes=["import:write"])) -> Page[ImportErrorOut]:
    after = paging.position(int) or 0
    rows = await request.app.state.services.call(request, "members", "import_errors", job_id=str(job_id),
                                                 after_line=after, limit=paging.limit + 1)
    more = len(rows) > paging.limit
    rows = rows[:paging.limit]
    return Page[ImportErrorOut](items=[ImportErrorOut(**r) for r in rows],
                                next_cursor=make_cursor(rows[-1]["line"]) if more else None)
