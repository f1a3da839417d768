"""Odd import files get a clear 4xx (or a row error in the job), never a 500 or a crash.

A corpus of files people really send by mistake goes through the gateway; hypothesis then throws
generated files at the reader itself (what the job runs after the 202) and accepts only
FileProblem, the refusal the job reports."""
from __future__ import annotations

import codecs
import json
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service_runtime.import_files import FileProblem, ImportReader, detect_encoding

HEADER = b"external_id,name,phone\r\n"
CORPUS = {
    "header over 128 KiB": b"name," + b"x" * 200_000 + b"\n",
    "one header field over 128 KiB, quoted": b'"' + b"n" * 200_000 + b'",phone\n',
    "unclosed quote in the header": b'"name,phone\nx,13900001111\n',
    "binary with NUL bytes": bytes(range(256)) * 8,
    "a PNG": b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64,
    "UTF-16 with BOM": codecs.BOM_UTF16_LE + "name,phone\n张三,13900001111\n".encode("utf-16-le"),
    "UTF-8 BOM": codecs.BOM_UTF8 + b"name,phone\n\xe5\xbc\xa0\xe4\xb8\x89,13900001111\n",
    "GBK": "name,phone\n张三,13900001111\n".encode("gbk"),
    "Latin-1 said to be UTF-8": b"name,phone\nJos\xe9,13900001111\n",
    "only whitespace": b"   \r\n\r\n",
    "only a header": b"name,phone\r\n",
    "only a header, no newline": b"name,phone",
    "CRLF rows": b"name,phone\r\nA,13900001111\r\nB,13900001112\r\n",
    "a column twice": b"name,name,phone\n",
    "unknown columns": b"nom,telephone\n",
    "thousands of unknown columns": b",".join(b"c%d" % i for i in range(20_000)) + b"\n",
    "a JSON file sent as CSV": b'[{"name": "x", "phone": "13900001111"}]',
}


@pytest.mark.parametrize("content", CORPUS.values(), ids=CORPUS.keys())
def test_odd_csv_files_are_refused_clearly_or_accepted(client, callers, content):
    response = client.post("/v1/members/imports?source=fuzz", content=content,
                           headers={**callers["admin"], "Content-Type": "text/csv"})
    # 4xx naming what is wrong; 503 means the file passed the checks and the (absent) broker was next
    assert response.status_code == 503 or 400 <= response.status_code < 500, response.text
    if response.status_code != 503:
        error = response.json()["error"]
        assert error["field"] in ("header", "encoding", "body") and len(error["message"]) < 500, error


def test_a_header_line_over_the_field_limit_is_a_422_naming_the_header(client, callers):
    response = client.post("/v1/members/imports", content=CORPUS["header over 128 KiB"],
                           headers={**callers["admin"], "Content-Type": "text/csv"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "header" and "128 KiB" in response.json()["error"]["message"]


def _read_all(content: bytes, fmt: str, encoding: str = "auto") -> list[tuple[int, dict]]:
    with tempfile.TemporaryFile() as spool:
        spool.write(content)
        try:
            reader = ImportReader(spool, fmt, detect_encoding(spool, encoding))
            rows: list[tuple[int, dict]] = []
            while batch := reader.batch(7):
                rows.extend(batch)
        except FileProblem as problem:
            assert problem.field in ("header", "encoding", "body") and problem.message
            return []
    for line, fields in rows:
        assert isinstance(line, int) and isinstance(fields, dict)
    return rows


_cell = st.one_of(st.text(max_size=20), st.just('"'), st.just('""'), st.just("\r\n"), st.just(","),
                  st.just("a" * 140_000), st.text(alphabet="张三丽・()", max_size=5))
_csv_text = st.builds(lambda rows, newline: newline.join(",".join(r) for r in rows),
                      st.lists(st.lists(_cell, min_size=1, max_size=4), max_size=6),
                      st.sampled_from(["\n", "\r\n", "\r"]))
_prefix = st.sampled_from([b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, HEADER, b"name,phone\n"])
_encoding = st.sampled_from(["utf-8", "gb18030", "utf-16-le", "latin-1"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_prefix, _csv_text, _encoding, st.binary(max_size=64))
def test_generated_csv_files_end_in_rows_or_a_file_problem(prefix, text, encoding, tail):
    body = text.encode(encoding, errors="replace")
    _read_all(prefix + body + tail, "csv")


_json_value = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                           max_leaves=10)


@settings(max_examples=200, deadline=None)
@given(st.lists(_json_value, max_size=5), st.sampled_from(["array", "ndjson", "cut"]), st.binary(max_size=16))
def test_generated_json_files_end_in_rows_or_a_file_problem(values, shape, tail):
    if shape == "array":
        content = json.dumps(values).encode()
    elif shape == "ndjson":
        content = b"\n".join(json.dumps(v).encode() for v in values)
    else:
        content = json.dumps(values).encode()[:-1] + tail
    _read_all(content, "json")


@pytest.mark.parametrize("content", [b"[" * 100_000, b'{"name": ' + b"9" * 10_000 + b"}", b"[1, 2"],
                         ids=["deep nesting", "a 10,000-digit number", "an unclosed array"])
def test_odd_json_files_are_a_file_problem(content):
    assert _read_all(content, "json") == []


