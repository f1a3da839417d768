"""One error body everywhere: {"error": {"code", "message", "field"?, "request_id"}}."""
from __future__ import annotations

import logging
import re
from typing import Any

import psycopg2
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.errors import ERRORS
from service_runtime.faults import BurstLog, is_unavailable
from services.gateway.rpc import RemoteError, RpcTimeout, RpcUnavailable

log = logging.getLogger(__name__)
_UNAVAILABLE_LOG = BurstLog(log, "answering 503: a database or service is unavailable")
RETRY_AFTER = {"Retry-After": "1"}


def _methods_for(request: Request) -> list[str]:
    """Every method the API document lists for this path, for a 405's Allow header."""
    for template, operations in request.app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), request.url.path):
            return sorted(method.upper() for method in operations if method != "parameters")
    return []


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    request_id: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


def error_body(request: Request, code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    error["request_id"] = getattr(request.state, "request_id", None)
    return {"error": error}


def _respond(request: Request, status: int, code: str, message: str, field: str | None = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(request, code, message, field), status_code=status, headers=headers)


def remote_error_status(exc: RemoteError) -> tuple[int, str]:
    """HTTP status and code for a service's typed error; unknown ones are internal errors."""
    cls = ERRORS.get(exc.exc_type)
    if cls is not None and cls.http_status == 503:
        return 503, cls.code
    if cls is None or cls.http_status >= 500:
        return 500, "internal_error"
    return cls.http_status, cls.code


def unavailable_response(request: Request, exc: BaseException) -> JSONResponse:
    """503 with Retry-After for a dependency that is briefly away (logged once per burst)."""
    _UNAVAILABLE_LOG.failed(exc)
    return _respond(request, 503, "service_unavailable", "temporarily unavailable; retry shortly",
                    headers=RETRY_AFTER)


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _respond(request, exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        if first.get("type") == "json_invalid":  # not a field's fault: the body as a whole is not JSON
            offset = (first.get("loc") or ("body", 0))[-1]
            reason = (first.get("ctx") or {}).get("error") or "JSON decode error"
            return _respond(request, 400, "invalid_json", f"the body is not valid JSON: {reason} at offset {offset}")
        named = (first.get("ctx") or {}).get("field")  # a model-level rule naming its field (validation.py)
        field = ".".join(p for p in (_field_of(first.get("loc", ())), named if isinstance(named, str) else None)
                         if p) or None
        return _respond(request, 422, "invalid_input", first.get("msg", "invalid"), field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":  # FastAPI: not UTF-8
            return _respond(request, 400, "invalid_json", "the body is not valid JSON: not UTF-8 text")
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
                 415: "unsupported_media_type"}
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405 and (methods := _methods_for(request)):  # not only the first route's methods
            headers = {**(headers or {}), "Allow": ", ".join(methods)}
        return _respond(request, exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail),
                        headers=headers)

    @app.exception_handler(RemoteError)
    async def _remote(request: Request, exc: RemoteError) -> JSONResponse:
        status, code = remote_error_status(exc)
        if status == 503:
            return unavailable_response(request, exc)
        if status >= 500:
            log.error("service error: %s", exc)
            return _respond(request, status, code, "internal error")
        return _respond(request, status, code, exc.message, exc.field)

    @app.exception_handler(RpcTimeout)
    async def _timeout(request: Request, exc: RpcTimeout) -> JSONResponse:
        return _respond(request, 504, "upstream_timeout", str(exc))

    @app.exception_handler(RpcUnavailable)
    async def _unavailable(request: Request, exc: RpcUnavailable) -> JSONResponse:
        return _respond(request, 503, "service_unavailable", str(exc),
                        headers={"Retry-After": str(exc.retry_after)})

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if is_unavailable(exc):
            return unavailable_response(request, exc)
        log.exception("unhandled database error", exc_info=exc)
        return _respond(request, 500, "internal_error", "internal error")

    for db_error in (sa.exc.DBAPIError, sa.exc.TimeoutError, psycopg2.Error):
        app.add_exception_handler(db_error, _database)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_unavailable(exc):
            return unavailable_response(request, exc)
        log.exception("unhandled error")
        return _respond(request, 500, "internal_error", "internal error")
