"""Reading import files: spooled to disk while uploading, decoded (UTF-8 or GBK/GB18030),
and read back in batches, so memory stays flat whatever the file size. Used by the gateway's
member imports and the catalog's files adapter (a service never imports the gateway)."""
from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from typing import IO, Any

from contracts.imports import IMPORT_COLUMNS, header_problem

ENCODINGS = ("utf-8", "gb18030")  # GB18030 is a superset of GBK and GB2312
_SAMPLE = 1 << 20
_MAX_RECORD = 1 << 20  # one JSON record larger than this is refused instead of buffered


class FileProblem(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def detect_encoding(spool: IO[bytes], requested: str) -> str:
    """The encoding to read with: the one requested, or UTF-8 (BOM or valid) else GB18030."""
    spool.seek(0)
    sample = spool.read(_SAMPLE)
    spool.seek(0)
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's "Unicode text"
        raise FileProblem("encoding", "the file is UTF-16 text: save it as UTF-8 (or GBK) and send it again")
    if requested != "auto":
        name = {"gbk": "gb18030", "gb2312": "gb18030", "utf8": "utf-8"}.get(requested, requested)
        if name not in ENCODINGS:
            raise FileProblem("encoding", "auto, utf-8, gbk or gb18030")
        if name == "utf-8" and sample.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        candidates = [name]
    elif sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    else:
        candidates = list(ENCODINGS)
    for name in candidates:
        try:
            codecs.getincrementaldecoder(name)().decode(sample, final=len(sample) < _SAMPLE)
            return name
        except UnicodeDecodeError:
            continue
    raise FileProblem("encoding", "the file is neither UTF-8 nor GBK/GB18030 text; say which with ?encoding=")


def _json_objects(text: IO[str]) -> Iterator[dict[str, Any]]:
    """Objects of a JSON array, or of NDJSON, read incrementally."""
    decoder = json.JSONDecoder()
    buffer, position, started, done = "", 0, False, False
    while True:
        chunk = text.read(1 << 16)
        buffer = buffer[position:] + chunk
        position = 0
        while True:
            while position < len(buffer) and buffer[position] in " \t\r\n,":
                position += 1
            if position >= len(buffer):
                break
            if not started and buffer[position] == "[":
                started, position = True, position + 1
                continue
            if buffer[position] == "]":
                done, position = True, position + 1
                continue
            try:
                value, end = decoder.raw_decode(buffer, position)
            except json.JSONDecodeError:
                if not chunk or len(buffer) - position > _MAX_RECORD:
                    raise FileProblem("body", "malformed JSON, or a record over 1 MiB") from None
                break  # the object continues in the next chunk
            except (ValueError, RecursionError):  # a number of thousands of digits, nesting past the limit
                raise FileProblem("body", "a JSON record too deeply nested or with a number too long") from None
            if not isinstance(value, dict):
                raise FileProblem("body", "each record must be a JSON object")
            yield value
            position = end
        if not chunk:
            if started and not done:
                raise FileProblem("body", "the JSON array is not closed")
            return


class ImportReader:
    """Rows of a spooled import file, each as (line number, fields)."""

    def __init__(self, spool: IO[bytes], fmt: str, encoding: str) -> None:
        self.text = io.TextIOWrapper(spool, encoding=encoding, newline="", errors="strict")
        self.fmt = fmt
        if fmt == "csv":
            self._csv = csv.reader(self.text)
            try:
                header = next(self._csv)
            except StopIteration:
                raise FileProblem("header", "the file is empty") from None
            except UnicodeDecodeError:
                raise FileProblem("encoding", f"the header is not valid {encoding}") from None
            except csv.Error as exc:  # NUL bytes, a field past the limit (an unclosed quote, a binary file)
                raise FileProblem("header", _csv_problem(exc, "the header line")) from None
            problem = header_problem(header)
            if problem:
                raise FileProblem("header", problem)
            self.columns = [c.strip().lower() for c in header]
            self._rows: Iterator[tuple[int, dict[str, Any]]] = self._csv_rows()
        else:
            self._rows = self._json_rows()

    def _csv_rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for values in self._csv:
            if not any(v.strip() for v in values):
                continue
            line = self._csv.line_num
            if len(values) != len(self.columns):
                yield line, {"__error__": f"{len(values)} values for {len(self.columns)} columns"}
                continue
            yield line, dict(zip(self.columns, values, strict=True))

    def _json_rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for number, record in enumerate(_json_objects(self.text), start=1):
            unknown = sorted(set(record) - set(IMPORT_COLUMNS))
            if unknown:
                yield number, {"__error__": f"unknown fields {unknown}"}
                continue
            yield number, {k: (v if isinstance(v, list) else None if v is None else str(v)) for k, v in record.items()}

    def batch(self, size: int) -> list[tuple[int, dict[str, Any]]]:
        """The next rows (fewer than size at the end; empty when done). UnicodeDecodeError
        surfaces as FileProblem with the position."""
        rows: list[tuple[int, dict[str, Any]]] = []
        try:
            for row in self._rows:
                rows.append(row)
                if len(rows) >= size:
                    break
        except UnicodeDecodeError as exc:
            where = f"after line {rows[-1][0]}" if rows else "in this part of the file"
            raise FileProblem("encoding", f"bytes that are not valid text {where} ({exc.reason})") from None
        except csv.Error as exc:
            where = f"after line {rows[-1][0]}" if rows else "in this part of the file"
            raise FileProblem("body", _csv_problem(exc, where)) from None
        return rows


def check_file(spool: IO[bytes], fmt: str, encoding: str) -> None:
    """Raise FileProblem if the file cannot even start (an empty file, a bad CSV header)."""
    ImportReader(spool, fmt, encoding).text.detach()  # detached: the reader going away must not close the spool
    spool.seek(0)


def _csv_problem(exc: csv.Error, where: str) -> str:
    """csv's complaint, said for a person who sent a file ("field larger than field limit" means a
    value past 128 KiB, usually an unclosed quote or a file that is not CSV at all)."""
    reason = str(exc)
    if "field limit" in reason:
        reason = (f"a value longer than {csv.field_size_limit() // 1024} KiB (an unclosed quote, or not a CSV "
                  "file?)")
    elif "NUL" in reason:
        reason = "NUL bytes (a binary file, or UTF-16 text: save it as UTF-8 CSV)"
    return f"malformed CSV {where}: {reason}"
