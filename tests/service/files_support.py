"""Helpers for the files adapter's tests: files written to the private SFTP drop with a given
mtime, in CSV, JSON Lines or XLSX; a session-wide sshd."""
from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.sftp_support import Sftp, private_sshd

ADMIN = '{"kind":"staff","id":"a-1","roles":["admin"]}'
ADMIN_2 = '{"kind":"staff","id":"a-2","roles":["admin"]}'
ERP = '{"kind":"key","id":"k-erp","roles":["erp"]}'
CLERK = '{"kind":"staff","id":"c-1","roles":["clerk"],"stores":["S1"]}'
_clock = [1_700_000_000]


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sftp]:
    with private_sshd(tmp_path_factory.mktemp("sftp") / "server") as server:
        yield server


@pytest.fixture
def drop(sshd: Sftp, monkeypatch: pytest.MonkeyPatch) -> Sftp:
    """The SFTP connection configured for the catalog, the scheduled runs off (tests run on demand),
    and the drop emptied."""
    for name in os.listdir(sshd.drop):
        (sshd.drop / name).unlink()
    for key, value in {**sshd.env(), "FILES_SCHEDULE": "off"}.items():
        monkeypatch.setenv(key, value)
    return sshd


def _stamp(path: Path) -> Path:
    _clock[0] += 10  # each file newer than the one before: the drop is read oldest first
    os.utime(path, (_clock[0], _clock[0]))
    return path


def csv_text(header: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def put_csv(drop: Sftp, name: str, header: list[str], rows: list[list[Any]], raw_tail: str = "") -> Path:
    path = drop.drop / name
    path.write_text(csv_text(header, rows) + raw_tail)
    return _stamp(path)


def put_jsonl(drop: Sftp, name: str, rows: list[dict[str, Any] | str]) -> Path:
    path = drop.drop / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return _stamp(path)


def put_xlsx(drop: Sftp, name: str, header: list[str], rows: list[list[Any]]) -> Path:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("export")
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    path = drop.drop / name
    book.save(path)
    return _stamp(path)
