"""Reading a file's rows one at a time, whatever its size (memory stays flat): CSV with a header
row (UTF-8 or GBK/GB18030), JSON Lines (one object a line) and XLSX (the first sheet, a header
row; read-only, streamed from the zip). A row that cannot be read is yielded as a RowProblem
with its line, and the rows after it go on; a file that cannot be read at all is a FileProblem."""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from service_runtime.import_files import FileProblem, detect_encoding

FORMATS = ("csv", "jsonl", "xlsx")
MAX_LINE = 1 << 20  # a JSON line longer than this is refused as a row, not buffered


@dataclass(frozen=True)
class RowProblem:
    field: str | None
    message: str


Row = tuple[int, dict[str, Any] | RowProblem]  # (line, fields) or (line, what is wrong with it)


def format_of(name: str) -> str | None:
    """The format by the file's extension (.csv, .jsonl / .ndjson, .xlsx)."""
    suffix = Path(name).suffix.lower()
    return {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx"}.get(suffix)


def rows(path: Path, fmt: str) -> Iterator[Row]:
    if fmt == "csv":
        return _csv(path)
    if fmt == "jsonl":
        return _jsonl(path)
    if fmt == "xlsx":
        return _xlsx(path)
    raise FileProblem("format", f"one of {', '.join(FORMATS)}")


def _header(names: list[Any]) -> list[str]:
    header = [str(n).strip().lower() if n is not None else "" for n in names]
    if not any(header):
        raise FileProblem("header", "the first row names the columns")
    if len(set(h for h in header if h)) != len([h for h in header if h]):
        raise FileProblem("header", "a column appears twice")
    return header


def _csv(path: Path) -> Iterator[Row]:
    with path.open("rb") as raw:
        encoding = detect_encoding(raw, "auto")
    with path.open(newline="", encoding=encoding) as text:
        reader = csv.reader(text)
        try:
            header = _header(next(reader))
        except StopIteration:
            raise FileProblem("header", "the file is empty") from None
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue  # a blank line (Excel leaves them at the end)
            if len(values) != len(header):
                yield line, RowProblem(None, f"{len(values)} values for {len(header)} columns")
                continue
            yield line, {h: (v.strip() or None) for h, v in zip(header, values, strict=True) if h}


def _jsonl(path: Path) -> Iterator[Row]:
    with path.open("rb") as raw:
        encoding = detect_encoding(raw, "auto")
    with path.open(encoding=encoding) as text:
        for line, content in enumerate(iter(lambda: text.readline(MAX_LINE + 1), ""), start=1):
            if len(content) > MAX_LINE:
                yield line, RowProblem(None, "a line over 1 MiB")
                for rest in iter(lambda: text.readline(MAX_LINE + 1), ""):  # the rest of that line
                    if rest.endswith("\n"):
                        break
                continue
            if not content.strip():
                continue
            try:
                value = json.loads(content, parse_float=Decimal)
            except (ValueError, RecursionError):
                yield line, RowProblem(None, "not a JSON object")
                continue
            if not isinstance(value, dict):
                yield line, RowProblem(None, "not a JSON object")
                continue
            yield line, {str(k).strip().lower(): v for k, v in value.items()}


def _cell(value: Any) -> Any:
    """A cell as the text a CSV would carry (dates as ISO, whole floats without '.0')."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(Decimal(repr(value))) if not value.is_integer() else str(int(value))
    text = str(value).strip()
    return text or None


def _xlsx(path: Path) -> Iterator[Row]:
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise FileProblem("body", f"not an XLSX workbook ({type(exc).__name__})") from None
    try:
        sheet = book.worksheets[0]
        values = sheet.iter_rows(values_only=True)
        try:
            header = _header(list(next(values)))
        except StopIteration:
            raise FileProblem("header", "the first sheet is empty") from None
        for line, cells in enumerate(values, start=2):
            if not any(c is not None and str(c).strip() for c in cells):
                continue
            unnamed = [c for i, c in enumerate(cells) if (i >= len(header) or not header[i]) and c is not None]
            if unnamed:  # a value in a column the header does not name
                yield line, RowProblem(None, f"values beyond the {sum(1 for h in header if h)} named columns")
                continue
            yield line, {h: _cell(c) for h, c in zip(header, cells, strict=False) if h}
    finally:
        book.close()
