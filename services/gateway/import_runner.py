"""Runs member imports as durable jobs, in any gateway replica.

Each gateway runs one runner. It takes the oldest pending job nobody holds (import_jobs.py),
reads the stored file again and sends the members service the batches not yet acknowledged.
Batches are numbered by their place in the file, and the members service takes each (job,
batch) once, so a batch sent again after a restart imports nothing twice. Progress (every
batch before ``next_batch`` is in) is saved as batches are acknowledged; the lease it renews
lets another runner take the job over when this gateway dies.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
import uuid
from typing import Any

import anyio
import anyio.to_thread

from service_runtime.faults import is_unavailable
from service_runtime.import_files import FileProblem, ImportReader
from services.gateway import import_jobs
from services.gateway.db import GatewayDb
from services.gateway.rpc import RemoteError, RpcClient, RpcTimeout, RpcUnavailable

log = logging.getLogger(__name__)

BATCH_ROWS = 500
IN_FLIGHT = 4  # batches being processed by the members service at once
POLL_SECONDS = 2.0
RETRY_SECONDS = 5.0  # after the broker or the members service failed


class LeaseLost(Exception):
    """Another runner holds the job now."""


def _transient(exc: BaseException) -> bool:
    """The broker, the members service or our database away: a later retry can succeed."""
    return isinstance(exc, (RpcUnavailable, RpcTimeout)) or is_unavailable(exc) or (
        isinstance(exc, RemoteError) and exc.exc_type == "ServiceUnavailable")


class ImportRunner:
    def __init__(self, db: GatewayDb, client: RpcClient, lease_seconds: float) -> None:
        self.db, self.client, self.lease_seconds = db, client, lease_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.wake = asyncio.Event()  # set by an upload: no need to wait for the next poll
        self._task: asyncio.Task[None] | None = None
        self._release_on_stop = True

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run_forever())

    async def stop(self) -> None:
        """Stop (the gateway is shutting down): the job in hand is released for any runner at once."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def kill(self) -> None:
        """Stop as a crash would: the job stays leased until its lease runs out (tests use this)."""
        self._release_on_stop = False
        if self._task is not None:
            self._task.cancel()

    async def _run_forever(self) -> None:
        while True:
            try:
                job = await self.db.run(import_jobs.claim_next, self.owner, self.lease_seconds)
            except Exception:  # the database may be briefly away; try again next round
                log.warning("could not look for import jobs", exc_info=True)
                job = None
            if job is not None:
                await self._run(job)
                continue
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), POLL_SECONDS)
            except TimeoutError:
                pass

    async def _run(self, job: Any) -> None:
        job_id = str(job.job_id)
        log.info("import %s: running from batch %d (attempt %d)", job_id, job.next_batch, job.attempts)
        spool = await anyio.to_thread.run_sync(tempfile.TemporaryFile)
        try:
            await self.db.run(import_jobs.copy_file, job_id, spool)
            try:
                reader = await anyio.to_thread.run_sync(ImportReader, spool, job.format, job.encoding)
                error = await self._send_batches(job, reader)
            except FileProblem as problem:  # the same file fails the same way every time: give up
                error = problem.message
            await self._call(job, "finish_import", job_id=job_id, error=error)
            await self.db.run(import_jobs.finish, job_id, self.owner, error)
            log.info("import %s finished%s", job_id, f": {error}" if error else "")
        except LeaseLost:
            log.warning("import %s: another gateway took the job over", job_id)
        except Exception as exc:
            await self._failed(job, exc)
        except asyncio.CancelledError:
            if self._release_on_stop:
                with anyio.CancelScope(shield=True):
                    await self.db.run(import_jobs.release, job_id, self.owner, "the gateway stopped", 0)
            raise
        finally:
            spool.close()

    async def _failed(self, job: Any, exc: Exception) -> None:
        job_id = str(job.job_id)
        reason = f"{type(exc).__name__}: {exc}"
        try:
            if _transient(exc):  # any runner retries later
                log.warning("import %s paused (%s); retrying in %ss", job_id, reason, RETRY_SECONDS)
                await self.db.run(import_jobs.release, job_id, self.owner, reason, RETRY_SECONDS)
                return
            log.error("import %s failed: %s", job_id, reason)
            try:
                await self._call(job, "finish_import", job_id=job_id, error=f"stopped: {type(exc).__name__}")
            except Exception:
                log.warning("could not mark import %s finished", job_id, exc_info=True)
            await self.db.run(import_jobs.finish, job_id, self.owner, reason)
        except Exception:  # the database is away too: the lease runs out and the job is taken again
            log.exception("import %s: could not record its state", job_id)

    async def _call(self, job: Any, method: str, timeout: float | None = None, **kwargs: Any) -> Any:
        context = {"request_id": job.request_id or f"import-{job.job_id}", "caller": job.caller}
        return await self.client.call("members", method, context=context, timeout=timeout, **kwargs)

    async def _send_batches(self, job: Any, reader: ImportReader) -> str | None:
        """Send every batch from ``job.next_batch`` on, IN_FLIGHT at a time, saving progress as they
        are acknowledged. A file problem met on the way is returned (the batches before it are in)."""
        slots = asyncio.Semaphore(IN_FLIGHT)
        sent: dict[int, asyncio.Task[Any]] = {}
        acknowledged: set[int] = set()
        mark = job.next_batch

        async def send(batch_no: int, rows: list[tuple[int, dict[str, Any]]]) -> None:
            try:
                payload = [{"line": line, "fields": fields} for line, fields in rows]
                await self._call(job, "import_batch", timeout=120, job_id=str(job.job_id), batch_no=batch_no,
                                 rows=payload)
                acknowledged.add(batch_no)
            finally:
                slots.release()

        async def save_progress() -> None:
            nonlocal mark
            start = mark
            while mark in acknowledged:
                acknowledged.discard(mark)
                mark += 1
            if mark != start and not await self.db.run(import_jobs.advance, str(job.job_id), self.owner, mark,
                                                        self.lease_seconds):
                raise LeaseLost()

        error = None
        try:
            batch_no = 0
            while True:
                try:
                    rows = await anyio.to_thread.run_sync(reader.batch, BATCH_ROWS)
                except FileProblem as problem:
                    error = problem.message
                    break
                if not rows:
                    break
                if batch_no >= job.next_batch:  # the batches before were acknowledged already
                    await slots.acquire()
                    for number, task in list(sent.items()):
                        if task.done():
                            task.result()  # a batch failed: stop here (raises)
                            del sent[number]
                    await save_progress()
                    sent[batch_no] = asyncio.get_running_loop().create_task(send(batch_no, rows))
                batch_no += 1
            for task in list(sent.values()):
                await task
            await save_progress()
        finally:
            for task in sent.values():  # never leave batches running behind a stopped job
                task.cancel()
            await asyncio.gather(*sent.values(), return_exceptions=True)
        return error
