"""The ERP sync's pure pieces: exact money from ERP numbers, codes from names, stamps as versions, the
keyset domain, parents before children, and the reconciliation's comparison and CSV."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.catalog.erp import reconcile, values
from services.catalog.erp.apply import parents_first
from services.catalog.erp.erpnext import frappe_error
from services.catalog.erp.interface import Cursor, Record
from services.catalog.erp.kingdee import after_filter, literal
from services.catalog.erp.odoo import after_domain
from services.catalog.erp.outbound import customer_of, liability_entry, total_value
from services.catalog.erp.values import BadValue
from tests.erp_servers.kingdee_filter import FilterError, Parser


@pytest.mark.parametrize("raw,cents", [(8.8 * 3, 2640), (0.1 + 0.2, 30), ("12.345", 1235), (19, 1900), (-5.5, -550)])
def test_erp_floats_become_exact_cents(raw, cents):
    assert values.cents(raw, "amount") == cents


@pytest.mark.parametrize("raw", [None, False, True, "twelve", float("nan"), float("inf")])
def test_what_is_not_a_number_is_refused_naming_the_field(raw):
    with pytest.raises(BadValue) as refused:
        values.price(raw, "list_price")
    assert refused.value.field == "list_price"


def test_prices_are_decimal_strings_and_never_negative():
    assert values.price(12.3 + 1, "p") == "13.30"
    with pytest.raises(BadValue):
        values.price(-1, "p")


def test_codes_keep_what_a_catalog_code_may_hold():
    assert values.code("Stores - ACME Ltd.", "name") == "Stores-ACME-Ltd"
    assert values.code(42, "id") == "42"
    with pytest.raises(BadValue):
        values.code("  ", "name")


def test_a_later_stamp_is_a_larger_version_in_either_erps_format():
    odoo = values.stamp_version("2026-12-01 10:00:00", "write_date")
    frappe = values.stamp_version("2026-12-01 10:00:00.000001", "modified")
    assert 0 < odoo < frappe < values.stamp_version("2026-12-01 10:00:01", "write_date")
    with pytest.raises(BadValue):
        values.stamp_version("yesterday", "modified")


def test_rewind_keeps_the_erps_own_format():
    assert values.rewind("2026-12-01 00:00:30", 60) == "2026-11-30 23:59:30"
    assert values.rewind("2026-12-01 00:00:30.250000", 30) == "2026-12-01 00:00:00.250000"


def test_the_odoo_domain_takes_records_after_the_stamp_and_id():
    assert after_domain(Cursor()) == []
    assert after_domain(Cursor("2026-12-01 10:00:00", "17")) == [
        "|", ["write_date", ">", "2026-12-01 10:00:00"], "&", ["write_date", "=", "2026-12-01 10:00:00"],
        ["id", ">", 17]]


def test_categories_are_written_parents_first_and_a_loop_does_not_hang():
    def cat(code, parent):
        return Record("category", code, 1, {"code": code, "name": code, "parent": parent})
    ordered = parents_first([cat("c", "b"), cat("b", "a"), cat("x", None), cat("a", None), cat("p", "q"),
                             cat("q", "p")])
    codes = [r.data["code"] for r in ordered]
    assert codes.index("a") < codes.index("b") < codes.index("c") and sorted(codes) == ["a", "b", "c", "p", "q", "x"]


def test_frappe_errors_read_as_frappe_writes_them():
    assert frappe_error(401, {"exc_type": "AuthenticationError", "exception": "frappe.exceptions.Auth: bad"}) == \
        "frappe.exceptions.Auth: bad"
    assert frappe_error(403, {"errors": [{"type": "PermissionError", "message": "No permission"}]}) == "No permission"
    assert frappe_error(500, None) == ""


def test_reconciliation_sorts_sales_into_matched_missing_extra_and_mismatched():
    erp = [{"transaction_id": "T1", "amount_cents": 1000, "member_ref": "o:1"},
           {"transaction_id": "T2", "amount_cents": 500, "member_ref": None},
           {"transaction_id": "T3", "amount_cents": 250, "member_ref": "o:2"}]
    ledger = [{"transaction_id": "T1", "amount": "10.00", "points": 10},
              {"transaction_id": "T3", "amount": "2.40", "points": 2},
              {"transaction_id": "T4", "amount": "1.5", "points": 1}]
    report = reconcile.compare("S1", date(2026, 12, 1), erp, ledger).model_dump(mode="json")
    assert (report["erp_amount"], report["ledger_amount"], report["ledger_points"], report["matched"]) == (
        "17.50", "13.90", 13, 1)
    assert [s["transaction_id"] for s in report["missing"]] == ["T2"]
    assert [(s["transaction_id"], s["ledger_amount"]) for s in report["extra"]] == [("T4", "1.50")]
    assert [(s["erp_amount"], s["ledger_amount"]) for s in report["mismatched"]] == [("2.50", "2.40")]
    lines = reconcile.as_csv(report).splitlines()
    assert lines[0] == "store,S1,day,2026-12-01" and "mismatched,T3,2.50,2.40,2,o:2" in lines


def test_kingdee_pages_by_stamp_then_id_with_a_literal_sql_server_converts():
    assert literal("2026-12-01T09:15:00.123456") == "2026-12-01 09:15:00.123"  # datetime keeps milliseconds
    where = after_filter("FCUSTID", Cursor("2026-12-01T09:15:00.120", "7"))
    assert where == ("(FModifyDate > '2026-12-01 09:15:00.120' OR (FModifyDate = '2026-12-01 09:15:00.120' "
                     "AND FCUSTID > 7))")
    rows = [{"FCUSTID": n, "FModifyDate": stamp} for n, stamp in
            [(6, "2026-12-01T09:15:00.12"), (7, "2026-12-01T09:15:00.12"), (8, "2026-12-01T09:15:00.12"),
             (2, "2026-12-01T09:16:00")]]
    match = Parser(where, {"FCUSTID", "FModifyDate"}).parse()
    assert [r["FCUSTID"] for r in rows if match(r)] == [8, 2]  # ties on the stamp are kept by id
    with pytest.raises(FilterError):  # SQL Server's datetime takes three fractional digits at most
        Parser("FModifyDate > '2026-12-01 09:15:00.123456'", {"FModifyDate"}).parse()(rows[0])


def test_outbound_customers_and_the_liability_journal():
    item = {"type": "member.registered", "data": {"member_id": "m-1", "member_number": "7001", "channel": "pos"}}
    assert customer_of(item) == ("loyalty:m-1", {"name": "Member 7001", "member_number": "7001", "store": None})
    assert customer_of({**item, "data": {**item["data"], "channel": "erp"}}) is None  # the ERP has it already
    rows = [{"day": "2026-12-03", "value": "100.00"}, {"day": "2026-12-04", "value": "60.00"},
            {"day": "2026-12-04", "value": "15.50"}]
    after = total_value(rows, date(2026, 12, 4))
    assert after == Decimal("75.50")
    shrank = liability_entry(date(2026, 12, 4), Decimal("100.00"), after, {"expense": "6", "liability": "2"})
    assert shrank is not None and [(x.account, x.debit, x.credit) for x in shrank["lines"]] == [
        ("6", Decimal(0), Decimal("24.50")), ("2", Decimal("24.50"), Decimal(0))]  # redeemed/expired: reversed
    assert liability_entry(date(2026, 12, 4), after, after, {"expense": "6", "liability": "2"}) is None
