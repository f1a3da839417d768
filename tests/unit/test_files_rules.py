"""The files adapter's pure rules: what a file is by its name, how each row maps (a bad one names
its field), rows read as a stream from CSV, JSON Lines and XLSX; the migration import's row checks."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.errors import InvalidInput
from service_runtime.import_files import FileProblem
from services.catalog.files import formats, mapping
from services.catalog.files.formats import RowProblem
from services.points import migration_rows

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_file_is_known_by_its_name():
    assert mapping.kind_of("sales-2024-05.csv") == ("sales", "history")
    assert mapping.kind_of("SALES.accrual-05.xlsx") == ("sales", "accrual")
    assert mapping.kind_of("stores.jsonl") == ("stores", None)
    assert mapping.kind_of("stores.accrual.csv") is None
    assert mapping.kind_of("storesX.csv") is None and mapping.kind_of("readme.txt") is None
    assert formats.format_of("a.NDJSON") == "jsonl" and formats.format_of("a.xls") is None


def test_rows_map_to_what_each_use_case_takes():
    assert mapping.catalog_item("products", {"sku": "A", "excluded_from_earning": "Yes", "version": "7",
                                             "brand": None}) == {"sku": "A", "excluded_from_earning": True,
                                                                 "version": 7}
    assert mapping.catalog_item("stores", {"code": "A", "version": "v2"}) == RowProblem("version", mapping.catalog_item(
        "stores", {"code": "A", "version": "v2"}).message)  # type: ignore[union-attr]
    assert isinstance(mapping.member_row({"name": "x", "shoe_size": "42"}), RowProblem)
    sale = mapping.sale_item({"store": "S1", "transaction_id": "T1", "amount": "9.90",
                              "sold_at": "2024-05-01 10:00:00"}, {"S1": "Asia/Tokyo"}.get)
    assert sale == {"kind": "sale", "store": "S1", "transaction_id": "T1", "amount": "9.90",
                    "sold_at": "2024-05-01T10:00:00+09:00"}  # a naive time, read in the store's zone
    unknown = mapping.sale_item({"store": "S9", "sold_at": "2024-05-01 10:00:00"}, {}.get)
    assert isinstance(unknown, RowProblem) and unknown.field == "sold_at"
    assert mapping.sale_item({"store": "S1", "sold_at": "2024-05-01T10:00Z", "items": "[oops"}, {}.get) \
        == RowProblem("items", "a JSON list")


def test_csv_jsonl_and_xlsx_stream_rows_and_name_bad_ones(tmp_path: Path):
    csv_file = tmp_path / "a.csv"
    csv_file.write_text("Code,Name\nA,Alpha\n\nB\nC, Gamma \n", encoding="utf-8")
    assert list(formats.rows(csv_file, "csv")) == [
        (2, {"code": "A", "name": "Alpha"}), (4, RowProblem(None, "1 values for 2 columns")),
        (5, {"code": "C", "name": "Gamma"})]
    gbk = tmp_path / "g.csv"
    gbk.write_bytes("code,name\nA,上海店\n".encode("gbk"))
    assert list(formats.rows(gbk, "csv")) == [(2, {"code": "A", "name": "上海店"})]
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"Code": "A", "amount": 1.50}\n[1]\n{bad\n\n{"code": "B"}\n')
    got = list(formats.rows(jsonl, "jsonl"))
    assert [line for line, _ in got] == [1, 2, 3, 5] and str(got[0][1]["amount"]) == "1.50"  # type: ignore[index]
    assert isinstance(got[1][1], RowProblem) and isinstance(got[2][1], RowProblem)
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["sku", "price", "when"])
    book.active.append(["A", 12.5, datetime(2024, 5, 1, 10, 0)])
    book.active.append(["B", 3.0, None, "extra"])
    book.save(tmp_path / "a.xlsx")
    assert list(formats.rows(tmp_path / "a.xlsx", "xlsx")) == [
        (2, {"sku": "A", "price": "12.5", "when": "2024-05-01T10:00:00"}),
        (3, RowProblem(None, "values beyond the 3 named columns"))]
    (tmp_path / "bad.xlsx").write_bytes(b"not a zip")
    with pytest.raises(FileProblem):
        list(formats.rows(tmp_path / "bad.xlsx", "xlsx"))


def test_migration_rows_are_checked_one_by_one():
    zone = {"S1": "Asia/Shanghai"}.get
    row = migration_rows.check("balances", 2, {"member_number": "81", "points": "150", "expires_at": "2030-06-30",
                                               "store": "S1"}, set(), lambda s: zone(s) or "UTC", NOW)
    assert row.row_key == "line-2" and row.by_number and row.payload == {
        "points": 150, "store": "S1", "expires_at": "2030-06-30T15:59:59.999999+00:00"}
    for fields, field in [({"points": "5"}, "member_number"), ({"member_id": "x", "points": "1.5"}, "points"),
                          ({"member_id": "x", "points": "0"}, "points"),
                          ({"member_id": "x", "points": "5", "expires_at": "2020-01-01"}, "expires_at"),
                          ({"member_id": "x", "points": "5", "expires_at": "2030-01-01T10:00"}, "expires_at"),
                          ({"member_id": "x", "points": "5", "row_key": "a b"}, "row_key")]:
        with pytest.raises(InvalidInput) as refused:
            migration_rows.check("balances", 3, fields, set(), lambda s: "UTC", NOW)
        assert refused.value.field == field
    with pytest.raises(InvalidInput) as tier:
        migration_rows.check("tiers", 4, {"member_id": "x", "tier": "diamond"}, {"gold"}, lambda s: "UTC", NOW)
    assert tier.value.field == "tier"
