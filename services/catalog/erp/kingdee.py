"""The Kingdee K/3 Cloud adapter: ``ExecuteBillQuery`` pages of each form, oldest ``FModifyDate`` first,
keyset-paged on (FModifyDate, id) as the Odoo adapter is, mapped to our record shapes.

| kind     | form                                   | id field     |
|----------|----------------------------------------|--------------|
| category | SAL_MATERIALGROUP (no modification date: read whole every run, as categories are written) |
| store    | ORG_Organizations or BD_STOCK (option ``store_form``)  | FOrgID / FStockId |
| product  | BD_MATERIAL, audited; price from a sales price list (option ``price_list``)  | FMATERIALID |
| customer | BD_Customer, audited                   | FCUSTID      |
| sale     | SAL_OUTSTOCK (sales outbound), audited, its entries in one more query a page  | FID |"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.catalog.erp import values
from services.catalog.erp.interface import AdapterError, Cursor, Kind, Page, Record, Rejected
from services.catalog.erp.kingdee_client import KingdeeClient
from services.catalog.erp.outbound import PushKind, find_or_create
from services.catalog.erp.values import BadValue

AUDITED = "FDocumentStatus = 'C'"
FORMS: dict[str, tuple[str, list[str]]] = {  # kind: (form, field keys; the id first, FModifyDate last)
    "category": ("SAL_MATERIALGROUP", ["FID", "FNumber", "FName", "FParentId"]),
    "ORG_Organizations": ("ORG_Organizations", ["FOrgID", "FNumber", "FName", "FForbidStatus", "FModifyDate"]),
    "BD_STOCK": ("BD_STOCK", ["FStockId", "FNumber", "FName", "FForbidStatus", "FModifyDate"]),
    "product": ("BD_MATERIAL", ["FMATERIALID", "FNumber", "FName", "FMaterialGroup", "FModifyDate"]),
    "customer": ("BD_Customer", ["FCUSTID", "FNumber", "FName", "FTEL", "FModifyDate"]),
    "sale": ("SAL_OUTSTOCK", ["FID", "FBillNo", "FDate", "FStockOrgId.FNumber", "FCustomerID", "FBillAllAmount",
                              "FModifyDate"]),
}
LINE_FIELDS = ["FID", "FMaterialId.FNumber", "FRealQty", "FAllAmount", "FStockID.FNumber"]


def literal(stamp: str) -> str:
    """A stamp as a filter literal SQL Server converts to its datetime (milliseconds at most)."""
    moment = values.parse_stamp(stamp, "FModifyDate")
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def after_filter(id_field: str, after: Cursor) -> str:
    """(FModifyDate, id) > (stamp, key) in Kingdee's filter language (SQL's WHERE)."""
    if after.stamp is None:
        return ""
    at = literal(after.stamp)
    return f"(FModifyDate > '{at}' OR (FModifyDate = '{at}' AND {id_field} > {int(after.key or 0)}))"


def _and(*parts: str) -> str:
    return " AND ".join(p for p in parts if p)


class KingdeeAdapter:
    def __init__(self, name: str, client: KingdeeClient, options: dict[str, Any]) -> None:
        self.name = name
        self.client = client
        self.store_form = str(options.get("store_form") or "ORG_Organizations")
        self.price_list = options.get("price_list")
        self.zone = ZoneInfo(str(options.get("time_zone", "UTC")))  # bill dates are the site's local time
        self.voucher_group = str(options.get("voucher_group") or "PRE001")  # 记 (general) in a standard install
        self.currency = str(options.get("voucher_currency") or "PRE001")  # CNY in a standard install

    def kinds(self) -> tuple[Kind, ...]:
        return ("category", "store", "product", "customer", "sale")

    def check(self) -> None:
        self.client.check()

    def pull(self, kind: Kind, after: Cursor, limit: int) -> Page:
        if kind == "category":
            return self._groups(after, limit)
        form, fields = FORMS[self.store_form if kind == "store" else kind]
        id_field = fields[0]
        audited = AUDITED if kind in ("product", "customer", "sale") else ""
        rows = self.client.query(form, fields, _and(audited, after_filter(id_field, after)),
                                 f"FModifyDate ASC, {id_field} ASC", limit)
        named = [dict(zip(fields, row, strict=True)) for row in rows]
        extras = self._extras(kind, named) if named else {}
        records: list[Record] = []
        rejected: list[Rejected] = []
        for row in named:
            external_id = str(row[id_field])
            try:
                version = values.stamp_version(row.get("FModifyDate"), "FModifyDate")
                records.append(Record(kind, external_id, version, self._map(kind, row, extras)))
            except BadValue as exc:
                rejected.append(Rejected(kind, external_id, exc.field, exc.message))
        last = next((r for r in reversed(named) if isinstance(r.get("FModifyDate"), str)), None)
        cursor = Cursor(last["FModifyDate"], str(last[id_field])) if last else after
        return Page(records, rejected, cursor, more=len(rows) >= limit)

    def _groups(self, after: Cursor, limit: int) -> Page:
        """Material groups carry no modification date: every run reads them all by id (the runner writes
        a run's categories at its end, and the last page hands back an empty cursor for the next run).
        Each is versioned by the read, and the catalog's upsert changes only what differs."""
        form, fields = FORMS["category"]
        rows = self.client.query(form, fields, f"FID > {int(after.key or 0)}", "FID ASC", limit)
        version = int(datetime.now().timestamp() * 1_000_000)
        records = [Record("category", str(r[0]), version, {
            "code": self._code("grp", r[0]), "name": values.text(r[2]) or str(r[1]),
            "parent": self._code("grp", r[3]) if r[3] else None}) for r in rows]
        more = len(rows) >= limit
        return Page(records, [], Cursor(None, str(rows[-1][0])) if more else Cursor(), more=more)

    def _code(self, kind: str, kingdee_id: Any) -> str:
        return f"{self.name}-{kind}-{kingdee_id}"

    def _map(self, kind: Kind, row: dict[str, Any], extras: dict[Any, Any]) -> dict[str, Any]:
        if kind == "store":
            return {"code": values.code(row.get("FNumber"), "FNumber"), "name": values.text(row.get("FName")) or "",
                    "status": "closed" if row.get("FForbidStatus") == "B" else "open"}
        if kind == "product":
            group = row.get("FMaterialGroup")
            product = {"sku": values.code(row.get("FNumber"), "FNumber"), "name": values.text(row.get("FName")) or "",
                       "category": self._code("grp", group) if group else None}
            if row["FMATERIALID"] in extras:
                product["unit_price"] = values.price(extras[row["FMATERIALID"]], "FPrice")
            return product
        if kind == "customer":
            phone = values.text(row.get("FTEL"))
            if phone is None:
                raise BadValue("FTEL", "a customer without a telephone number (members are keyed by phone)")
            return {"external_id": str(row["FCUSTID"]), "name": values.text(row.get("FName")) or "", "phone": phone}
        return self._sale(row, extras)

    def _sale(self, row: dict[str, Any], extras: dict[Any, Any]) -> dict[str, Any]:
        at = values.parse_stamp(row.get("FDate"), "FDate")
        lines = extras.get(row["FID"], [])
        store = row.get("FStockOrgId.FNumber") if self.store_form == "ORG_Organizations" else next(
            (line["stock"] for line in lines if line["stock"]), None)
        field = "FStockOrgId" if self.store_form == "ORG_Organizations" else "FStockID"
        if not values.text(store):
            raise BadValue(field, "a bill without its store")
        customer = row.get("FCustomerID")
        return {"store": values.code(store, field), "transaction_id": values.code(row.get("FBillNo"), "FBillNo"),
                "occurred_at": at.replace(tzinfo=self.zone).isoformat(), "day": at.date().isoformat(),
                "amount_cents": values.cents(row.get("FBillAllAmount"), "FBillAllAmount"),
                "member_ref": f"{self.name}:{customer}" if customer else None,
                "lines": [{k: v for k, v in line.items() if k != "stock"} for line in lines]}

    def _extras(self, kind: Kind, rows: list[dict[str, Any]]) -> dict[Any, Any]:
        """A page's sale entries (one query), or its materials' prices from the price list (one query)."""
        if kind == "sale":
            ids = ",".join(str(int(r["FID"])) for r in rows)
            out: dict[Any, Any] = {}
            for fid, sku, qty, amount, stock in self.client.query("SAL_OUTSTOCK", LINE_FIELDS, f"FID IN ({ids})",
                                                                  "FID ASC"):
                try:
                    line = {"sku": values.code(sku, "FMaterialId"), "quantity": str(values.decimal(qty, "FRealQty")),
                            "amount_cents": values.cents(amount, "FAllAmount"), "stock": values.text(stock)}
                except BadValue:
                    continue  # the bill's own total still reconciles; a bad entry is not the bill's total
                out.setdefault(fid, []).append(line)
            return out
        if kind == "product" and self.price_list:
            ids = ",".join(str(int(r["FMATERIALID"])) for r in rows)
            prices = self.client.query("BD_SAL_PriceList", ["FMaterialId", "FPrice"],
                                       f"FNumber = '{values.code(self.price_list, 'price_list')}' "
                                       f"AND FMaterialId IN ({ids})", "FMaterialId ASC")
            return {material: price for material, price in prices}
        return {}

    def push(self, kind: PushKind, external_id: str, data: dict[str, Any]) -> str:
        """Customers (BD_Customer, numbered by our external id) and the day's liability as a voucher
        (GL_VOUCHER, our external id as each entry's business number); each found by it before a save."""
        if kind == "journal":
            return self._voucher(external_id, data)
        number = values.code(external_id.replace("loyalty:", "LOY-"), "external_id")

        def find() -> str | None:
            rows = self.client.query("BD_Customer", ["FCUSTID"], f"FNumber = '{number}'", "FCUSTID ASC", 1)
            return str(rows[0][0]) if rows else None

        known = find()
        if known is not None:
            self.client.save("BD_Customer", {"FCUSTID": int(known), "FNumber": number, "FName": data["name"]})
            return known
        return find_or_create(find, lambda: str(self.client.save(
            "BD_Customer", {"FCUSTID": 0, "FNumber": number, "FName": data["name"]}).get("Id")),
            self.client.policy.attempts)

    def _voucher(self, external_id: str, data: dict[str, Any]) -> str:
        """Vouchers have no number of ours, so the external id travels as the entries' FBUSNO (业务编号)."""
        if not data.get("journal"):
            raise AdapterError("a journal push to Kingdee needs options.journal (the account book's number)")
        key = values.code(external_id, "external_id")
        model = voucher_model(key, data, self.voucher_group, self.currency)

        def find() -> str | None:
            rows = self.client.query("GL_VOUCHER", ["FVOUCHERID"], f"FBUSNO = '{key}'", "FVOUCHERID ASC", 1)
            return str(rows[0][0]) if rows else None

        # a day's voucher is written once; a correction is the accountant's, in Kingdee
        return find_or_create(find, lambda: str(self.client.save("GL_VOUCHER", model).get("Id")),
                              self.client.policy.attempts)


def voucher_model(key: str, data: dict[str, Any], group: str, currency: str) -> dict[str, Any]:
    """A GL_VOUCHER model from a journal entry (``outbound.liability_entry``): 记 vouchers by default."""
    day = date.fromisoformat(data["date"])
    entries = [{"FEXPLANATION": line.label[:255], "FACCOUNTID": {"FNumber": line.account},
                "FCURRENCYID": {"FNumber": currency}, "FEXCHANGERATE": 1,
                "FAMOUNTFOR": str(line.debit or line.credit), "FDEBIT": str(line.debit), "FCREDIT": str(line.credit),
                "FBUSNO": key} for line in data["lines"]]
    return {"FVOUCHERID": 0, "FAccountBookID": {"FNumber": str(data["journal"])}, "FDate": day.isoformat(),
            "FYEAR": day.year, "FPERIOD": day.month, "FVOUCHERGROUPID": {"FNumber": group},
            "FATTACHMENTS": 0, "FEntity": entries}
