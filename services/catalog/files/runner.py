"""Runs the files adapter: finds new files on the SFTP drop (each registered once by source, name,
size and mtime: the durable cursor), then takes pending runs one at a time under a lease, reads
the file as a stream and sends it on in numbered batches, saving after each batch that every
batch before it is in. A run stopped anywhere (budget spent, worker killed, broker away) resumes
at its first batch not saved, and the targets take a batch sent twice only once."""
from __future__ import annotations

import hashlib
import itertools
import logging
import os
import socket
import tempfile
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import eventlet
import sqlalchemy as sa

from service_runtime.db import WorkerDb
from service_runtime.import_files import FileProblem
from services.catalog.files import formats, mapping, runs, sftp, targets
from services.catalog.files.settings import FilesSettings
from services.catalog.tables import stores

log = logging.getLogger(__name__)
LEASE_SECONDS = FilesSettings.from_env().lease_seconds  # read as the process starts
RETRY_SECONDS = 10.0


class LeaseLost(Exception):
    """Another worker holds the run now."""


@dataclass
class Outcome:
    registered: int = 0
    finished: int = 0
    batches: int = 0
    paused: bool = False  # the budget ran out with a run still pending


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def scan(db: WorkerDb, config: sftp.SftpConfig, by: str | None = None) -> int:
    """Register the drop directory's files not seen before (``by``: who asked for the scan, None for
    the schedule); how many were new."""
    with sftp.session(config) as client:
        found = sftp.listing(client, config.directory)
    new = 0
    for remote in found:
        kind, fmt = mapping.kind_of(remote.name), formats.format_of(remote.name)
        if kind is None or fmt is None:
            continue  # not ours (another system's file, a partial upload's temporary name)
        with db.transaction() as tx:
            if runs.register(tx, config.name, remote.name, remote.size, remote.mtime, kind[0], kind[1], fmt,
                             created_by=by):
                new += 1
    return new


def _batches(rows: Iterator[formats.Row], size: int) -> Iterator[list[formats.Row]]:
    while True:
        batch = list(itertools.islice(rows, size))
        if not batch:
            return
        yield batch


def _zones(db: WorkerDb) -> dict[str, str]:
    with db.transaction() as tx:
        return {r.code: r.time_zone for r in tx.execute(sa.select(stores.c.code, stores.c.time_zone))}


def _fetch(db: WorkerDb, run: Any, config: sftp.SftpConfig | None, out: IO[bytes]) -> str:
    """The run's file into ``out``: from the SFTP drop, or the chunks of an upload. Its sha256."""
    if run.source == "api":
        hasher = hashlib.sha256()
        with db.engine.connect() as conn:
            for data in runs.chunks(conn, str(run.id)):
                out.write(data)
                hasher.update(data)
        out.flush()
        return hasher.hexdigest()
    if config is None or config.name != run.source:
        raise sftp.SftpError(f"no SFTP connection {run.source!r} is configured here")
    with sftp.session(config) as client:
        size, digest = sftp.download(client, config.directory, run.name, out)
    if size != run.size:
        raise FileProblem("body", f"the file changed while it was read ({run.size} bytes listed, {size} read)")
    return digest


def run_pending(db: WorkerDb, members: Any, points: Any, config: sftp.SftpConfig | None, owner: str,
                budget: int | None = None) -> Outcome:
    """Take pending runs until none is left or ``budget`` batches were sent."""
    outcome = Outcome()
    while budget is None or outcome.batches < budget:
        with db.transaction() as tx:
            run = runs.claim(tx, owner, LEASE_SECONDS)
        if run is None:
            return outcome
        left = None if budget is None else budget - outcome.batches
        _run_one(db, members, points, config, owner, run, left, outcome)
    outcome.paused = True
    return outcome


def _run_one(db: WorkerDb, members: Any, points: Any, config: sftp.SftpConfig | None, owner: str, run: Any,
             budget: int | None, outcome: Outcome) -> None:
    run_id = str(run.id)
    with tempfile.NamedTemporaryFile(prefix="loyalty-file-", suffix=Path(run.name).suffix) as spool:
        try:
            digest = _fetch(db, run, config, spool)
            with db.transaction() as tx:
                runs.set_sha(tx, run_id, digest)
                twin = runs.same_content_done(tx, run_id, run.kind, digest) if run.next_batch == 0 else None
            if twin is not None:  # the same content was imported already: nothing to send
                _finish(db, run_id, owner, "skipped", f"same content as {twin.name!r}, already imported")
                outcome.finished += 1
                return
            target = targets.for_run(db, members, points, run, owner, _zones(db).get)
            sent, complete = _send(db, run, owner, target, Path(spool.name), budget)
            outcome.batches += sent
            if not complete:
                return  # the budget ran out mid-file: any worker continues from the cursor
            _finish(db, run_id, owner, "done", None, target.finish())
            outcome.finished += 1
        except FileProblem as problem:  # the same file fails the same way every time: give up
            _finish(db, run_id, owner, "failed", f"{problem.field}: {problem.message}")
            outcome.finished += 1
        except LeaseLost:
            log.warning("file run %s: another worker took it over", run_id)
        except Exception as exc:  # the source, the broker or a service away: any worker retries later
            log.warning("file run %s paused: %s", run_id, exc, exc_info=True)
            with db.transaction() as tx:
                runs.release(tx, run_id, owner, f"{type(exc).__name__}: {exc}", RETRY_SECONDS)


@dataclass
class _InFlight:
    batch_no: int
    rows: int
    errors: list[targets.RowError]
    sending: Any  # the green thread sending it (None: nothing in it to send)


def _send(db: WorkerDb, run: Any, owner: str, target: targets.Target, path: Path, budget: int | None
          ) -> tuple[int, bool]:
    """Send the batches from ``run.next_batch`` on, ``target.in_flight`` at a time (the next one
    is read and mapped while the target takes this one), saving the cursor in batch order: (how
    many were sent, the file's end reached). When the budget runs out first, the lease is let
    go: any worker continues at once."""
    size = mapping.BATCH_ROWS[run.kind]
    pool = eventlet.GreenPool(target.in_flight)
    flying: deque[_InFlight] = deque()
    sent = 0
    try:
        for batch_no, batch in enumerate(_batches(formats.rows(path, run.format), size)):
            if batch_no < run.next_batch:
                continue  # in before the restart
            if budget is not None and sent + len(flying) >= budget:
                while flying:
                    sent += _saved(db, run, owner, flying.popleft())
                with db.transaction() as tx:
                    runs.release(tx, str(run.id), owner, "paused: batch budget spent", 0)
                return sent, False
            good = [(line, fields) for line, fields in batch if isinstance(fields, dict)]
            errors = [(line, p.field, p.message) for line, p in batch if isinstance(p, formats.RowProblem)]
            flying.append(_InFlight(batch_no, len(batch), errors,
                                    pool.spawn(target.send, batch_no, good) if good else None))
            while len(flying) >= target.in_flight:
                sent += _saved(db, run, owner, flying.popleft())
        while flying:
            sent += _saved(db, run, owner, flying.popleft())
        return sent, True
    finally:
        for left in flying:  # stopped by an error: nothing keeps sending behind it
            if left.sending is not None:
                left.sending.kill()


def _saved(db: WorkerDb, run: Any, owner: str, batch: _InFlight) -> int:
    """Wait for a batch, then save its errors and the cursor after it."""
    errors = batch.errors + (batch.sending.wait() if batch.sending is not None else [])
    with db.transaction() as tx:
        runs.add_errors(tx, str(run.id), errors)
        failed = len({line for line, _, _ in errors})
        if not runs.advance(tx, str(run.id), owner, batch.batch_no + 1, batch.rows - failed, failed, LEASE_SECONDS):
            raise LeaseLost()
    return 1


def _finish(db: WorkerDb, run_id: str, owner: str, status: str, error: str | None,
            late_errors: list[targets.RowError] | None = None) -> None:
    with db.transaction() as tx:
        if late_errors:  # refused by the target after the batch was in (the members import's own checks)
            runs.add_errors(tx, run_id, late_errors)
            runs.recount(tx, run_id)
        runs.finish(tx, run_id, owner, status, error)
