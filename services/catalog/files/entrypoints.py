"""The catalog's entrypoints of the files adapter: the timer that scans the SFTP drop and runs
pending files a slice at a time, runs on demand, uploads through the API (in chunks), and the
runs with their per-row errors. Thin: who may, then the use case."""
from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any

from nameko.rpc import rpc
from nameko.timer import timer

from contracts.access import IMPORTERS, parse_id, require
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from service_runtime.base import ServiceBase, SettingsProvider
from service_runtime.callers import SignedServiceRpc
from services.catalog.files import formats, mapping, runner, runs, sftp
from services.catalog.files.settings import FilesSettings

POLL_SECONDS = FilesSettings.from_env().poll_seconds  # a timer's interval is fixed when its class is made
MAX_CHUNK = 1 << 20
_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,200}$")
EXPECTED = (InvalidInput, NotFound, Forbidden, Conflict)


def view(row: Any) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None
    return {"run_id": str(row.id), "source": row.source, "name": row.name, "size": row.size, "kind": row.kind,
            "mode": row.mode, "format": row.format, "status": row.status, "next_batch": row.next_batch,
            "rows_ok": row.rows_ok, "rows_failed": row.rows_failed, "target_ref": row.target_ref,
            "attempts": row.attempts, "last_error": row.last_error, "sha256": row.sha256,
            "created_at": iso(row.created_at), "finished_at": iso(row.finished_at)}


class FilesEntrypoints(ServiceBase):
    """A base of CatalogService."""

    members = SignedServiceRpc("members")
    points = SignedServiceRpc("points")
    files_settings = SettingsProvider(FilesSettings)

    def _may_import(self) -> None:
        require(self.caller, IMPORTERS, field="files")

    def _work(self, budget: int | None, by: str | None = None) -> runner.Outcome:
        config = self.files_settings.sftp()
        registered = runner.scan(self.db, config, by) if config else 0
        outcome = runner.run_pending(self.db, self.members, self.points, config, runner.owner_name(), budget)
        outcome.registered = registered
        return outcome

    @timer(interval=POLL_SECONDS)
    def files_tick(self) -> None:
        if not self.files_settings.schedule:  # on demand only (files_sync, the API)
            return
        try:
            self._work(self.files_settings.batches_per_tick)
        except sftp.SftpError as exc:  # shown on the runs and in the log; the next tick tries again
            runner.log.warning("files: %s", exc)

    @rpc(expected_exceptions=EXPECTED)
    def files_sync(self, budget: int | None = None) -> dict[str, Any]:
        """Scan the drop and run pending files now (up to ``budget`` batches; all when None)."""
        self._may_import()
        if budget is not None and (not isinstance(budget, int) or budget < 1):
            raise InvalidInput("a positive number of batches", "budget")
        try:
            outcome = self._work(budget, self.caller.actor)
        except sftp.SftpError as exc:
            raise Conflict(str(exc), "sftp") from None
        return {"registered": outcome.registered, "finished": outcome.finished, "batches": outcome.batches,
                "paused": outcome.paused}

    @rpc(expected_exceptions=EXPECTED)
    def upload_open(self, name: str, kind: str, mode: str | None = None, format: str | None = None) -> dict[str, Any]:
        """Start an upload of a file through the API; chunks follow, then upload_close."""
        self._may_import()
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidInput("a file name (1 to 200 characters, no slashes)", "name")
        if kind not in mapping.KINDS:
            raise InvalidInput(f"one of {', '.join(mapping.KINDS)}", "kind")
        if kind == "sales" and mode not in mapping.MODES:
            raise InvalidInput(f"sales are imported in one of the modes {', '.join(mapping.MODES)}", "mode")
        if kind != "sales" and mode is not None:
            raise InvalidInput("only sales have a mode", "mode")
        fmt = format or formats.format_of(name)
        if fmt not in formats.FORMATS:
            raise InvalidInput(f"one of {', '.join(formats.FORMATS)}", "format")
        with self.db.transaction() as tx:
            row = runs.register(tx, "api", name, 0, None, kind, mode, fmt, status="uploading",
                                created_by=self.caller.actor)
            return view(row)

    @rpc(expected_exceptions=EXPECTED)
    def upload_chunk(self, run_id: str, seq: int, data: str) -> None:
        self._may_import()
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise InvalidInput("base64 data", "data") from None
        if len(raw) > MAX_CHUNK or not isinstance(seq, int) or seq < 0:
            raise InvalidInput(f"chunks of at most {MAX_CHUNK} bytes, numbered from 0", "data")
        with self.db.transaction() as tx:
            row = runs.get(tx, _run_id(run_id))
            if row is None or row.status != "uploading":
                raise Conflict("no upload in progress with this id", "run_id")
            runs.add_chunk(tx, row.id, seq, raw)

    @rpc(expected_exceptions=EXPECTED)
    def upload_close(self, run_id: str, size: int, sha256: str) -> dict[str, Any]:
        """The file is complete: its run is pending (taken by the next tick)."""
        self._may_import()
        with self.db.transaction() as tx:
            row = runs.close_upload(tx, _run_id(run_id), int(size), str(sha256))
            if row is None:
                raise Conflict("no upload in progress with this id", "run_id")
            return view(row)

    @rpc(expected_exceptions=EXPECTED)
    def file_runs(self, after: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        self._may_import()
        with self.db.transaction() as tx:
            return [view(r) for r in runs.page(tx, _run_id(after) if after else None, max(1, min(int(limit), 200)))]

    @rpc(expected_exceptions=EXPECTED)
    def file_run(self, run_id: str) -> dict[str, Any]:
        self._may_import()
        with self.db.transaction() as tx:
            row = runs.get(tx, _run_id(run_id))
        if row is None:
            raise NotFound("no such file run", "run_id")
        return view(row)

    @rpc(expected_exceptions=EXPECTED)
    def file_errors(self, run_id: str, after_line: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        self._may_import()
        with self.db.transaction() as tx:
            return [{"line": e.line, "field": e.field, "message": e.message}
                    for e in runs.errors(tx, _run_id(run_id), int(after_line), max(1, min(int(limit), 500)))]


def _run_id(value: Any) -> str:
    return parse_id(value, "run_id", "a run id")
