"""The Odoo adapter: ``search_read`` pages of each model, oldest ``write_date`` first, keyset-paged on
(write_date, id) so records sharing one stamp are never skipped, mapped to our record shapes."""
from __future__ import annotations

from typing import Any

from services.catalog.erp import values
from services.catalog.erp.interface import AdapterError, Cursor, Kind, Page, Record, Rejected
from services.catalog.erp.odoo_client import OdooClient
from services.catalog.erp.outbound import PushKind, find_or_create
from services.catalog.erp.values import BadValue

SALE_STATES = ["paid", "done", "invoiced"]
FIELDS: dict[str, list[str]] = {
    "product.category": ["id", "name", "parent_id", "write_date"],
    "pos.config": ["id", "name", "active", "write_date"],
    "stock.warehouse": ["id", "code", "name", "active", "partner_id", "write_date"],
    "product.product": ["id", "default_code", "name", "categ_id", "list_price", "active", "write_date"],
    "res.partner": ["id", "name", "phone", "mobile", "email", "ref", "write_date"],
    "pos.order": ["id", "name", "pos_reference", "config_id", "date_order", "amount_total", "partner_id",
                  "lines", "write_date"],
}
ALL = {"active_test": False}  # archived records too: an archived product or shop is news


def after_domain(after: Cursor) -> list[Any]:
    """Records modified after the cursor: (write_date, id) > (stamp, key)."""
    if after.stamp is None:
        return []
    return ["|", ["write_date", ">", after.stamp], "&", ["write_date", "=", after.stamp],
            ["id", ">", int(after.key or 0)]]


class OdooAdapter:
    def __init__(self, name: str, client: OdooClient, options: dict[str, Any]) -> None:
        self.name = name
        self.client = client
        self.store_model = str(options.get("store_model", "pos.config"))
        self.customer_domain: list[Any] = list(options.get("customer_domain", []))

    def kinds(self) -> tuple[Kind, ...]:
        return ("category", "store", "product", "customer", "sale")

    def check(self) -> None:
        self.client.check()

    def _model(self, kind: Kind) -> tuple[str, list[Any]]:
        return {"category": ("product.category", []), "store": (self.store_model, []),
                "product": ("product.product", []), "customer": ("res.partner", self.customer_domain),
                "sale": ("pos.order", [["state", "in", SALE_STATES]])}[kind]

    def _code(self, kind: str, odoo_id: int) -> str:
        return f"{self.name}-{kind}-{odoo_id}"

    def pull(self, kind: Kind, after: Cursor, limit: int) -> Page:
        model, extra = self._model(kind)
        rows = self.client.call(model, "search_read", domain=extra + after_domain(after), fields=FIELDS[model],
                                order="write_date asc, id asc", limit=limit, offset=0, context=ALL)
        if not isinstance(rows, list):
            raise BadValue("search_read", f"{model}.search_read answered {type(rows).__name__}, not a list")
        extras = self._sale_lines(rows) if kind == "sale" and rows else {}
        records: list[Record] = []
        rejected: list[Rejected] = []
        for row in rows:
            external_id = str(row.get("id")) if isinstance(row, dict) else None
            try:
                if not isinstance(row, dict) or not isinstance(row.get("id"), int):
                    raise BadValue("id", "a record without an id")
                version = values.stamp_version(row.get("write_date"), "write_date")
                records.append(Record(kind, external_id or "", version, self._map(kind, row, extras)))
            except BadValue as exc:
                rejected.append(Rejected(kind, external_id, exc.field, exc.message))
        last = next((r for r in reversed(rows) if isinstance(r, dict) and isinstance(r.get("write_date"), str)
                     and isinstance(r.get("id"), int)), None)
        cursor = Cursor(last["write_date"], str(last["id"])) if last else after
        return Page(records, rejected, cursor, more=len(rows) >= limit)

    def _map(self, kind: Kind, row: dict[str, Any], extras: dict[int, Any]) -> dict[str, Any]:
        if kind == "category":
            parent = values.many2one_id(row.get("parent_id"))
            return {"code": self._code("categ", row["id"]), "name": values.text(row.get("name")) or "",
                    "parent": self._code("categ", parent) if parent else None}
        if kind == "store":
            return self._store(row)
        if kind == "product":
            sku = values.text(row.get("default_code"))
            if sku is None:
                raise BadValue("default_code", "a product without an internal reference (our SKU)")
            categ = values.many2one_id(row.get("categ_id"))
            return {"sku": values.code(sku, "default_code"), "name": values.text(row.get("name")) or "",
                    "category": self._code("categ", categ) if categ else None,
                    "unit_price": values.price(row.get("list_price"), "list_price")}
        if kind == "customer":
            phone = values.text(row.get("mobile")) or values.text(row.get("phone"))
            if phone is None:
                raise BadValue("mobile", "a customer without a phone number (members are keyed by phone)")
            return {"external_id": str(row["id"]), "name": values.text(row.get("name")) or "",
                    "phone": phone, **({"email": e} if (e := values.text(row.get("email"))) else {})}
        return self._sale(row, extras)

    def _store(self, row: dict[str, Any]) -> dict[str, Any]:
        status = "open" if row.get("active", True) else "closed"
        if self.store_model == "stock.warehouse":
            return {"code": values.code(row.get("code"), "code"), "name": values.text(row.get("name")) or "",
                    "status": status}
        return {"code": self._code("pos", row["id"]), "name": values.text(row.get("name")) or "", "status": status}

    def _sale_store(self, config_id: int, extras: dict[int, Any]) -> str:
        if self.store_model == "stock.warehouse":
            code = extras.get(-config_id)
            if not code:
                raise BadValue("config_id", f"point of sale {config_id} has no warehouse code")
            return str(code)
        return self._code("pos", config_id)

    def _sale(self, row: dict[str, Any], extras: dict[int, Any]) -> dict[str, Any]:
        config = values.many2one_id(row.get("config_id"))
        if config is None:
            raise BadValue("config_id", "an order without its point of sale")
        occurred = values.parse_stamp(row.get("date_order"), "date_order")
        partner = values.many2one_id(row.get("partner_id"))
        return {"store": self._sale_store(config, extras),
                "transaction_id": values.text(row.get("pos_reference")) or values.text(row.get("name"))
                or str(row["id"]),
                "occurred_at": occurred.isoformat() + "+00:00",  # Odoo keeps datetimes in UTC
                "day": None, "amount_cents": values.cents(row.get("amount_total"), "amount_total"),
                "member_ref": f"{self.name}:{partner}" if partner else None,
                "lines": extras.get(row["id"], [])}

    def _sale_lines(self, rows: list[Any]) -> dict[int, Any]:
        """Each order's lines (one call for the page) with their product's SKU (one more call), and for
        warehouse stores each point of sale's warehouse code (keyed by -config id)."""
        ids = [r["id"] for r in rows if isinstance(r, dict) and isinstance(r.get("id"), int)]
        lines = self.client.call("pos.order.line", "search_read", domain=[["order_id", "in", ids]],
                                 fields=["order_id", "product_id", "qty", "price_subtotal_incl"], context=ALL)
        product_ids = sorted({p for line in lines if (p := values.many2one_id(line.get("product_id")))})
        skus = {p["id"]: values.text(p.get("default_code")) for p in self.client.call(
            "product.product", "search_read", domain=[["id", "in", product_ids]], fields=["default_code"],
            context=ALL)} if product_ids else {}
        out: dict[int, Any] = {}
        for line in lines:
            order, product = values.many2one_id(line.get("order_id")), values.many2one_id(line.get("product_id"))
            if order is None:
                continue
            try:
                entry = {"sku": skus.get(product or 0) or f"{self.name}-product-{product}",
                         "quantity": str(values.decimal(line.get("qty"), "lines.qty")),
                         "amount_cents": values.cents(line.get("price_subtotal_incl"), "lines.price_subtotal_incl")}
            except BadValue:
                continue  # the order's own amount still reconciles; a bad line is not the order's total
            out.setdefault(order, []).append(entry)
        if self.store_model == "stock.warehouse":
            for config in self.client.call("pos.config", "search_read", domain=[], fields=["id", "warehouse_id"],
                                           context=ALL):
                warehouse = values.many2one_id(config.get("warehouse_id"))
                if warehouse:
                    codes = self.client.call("stock.warehouse", "search_read", domain=[["id", "=", warehouse]],
                                             fields=["code"], context=ALL)
                    out[-int(config["id"])] = codes[0].get("code") if codes else None
        return out

    # -- outbound: found by our external id (``ref``) before anything is created ------------------
    def push(self, kind: PushKind, external_id: str, data: dict[str, Any]) -> str:
        model = "res.partner" if kind == "customer" else "account.move"

        def find() -> str | None:
            found = self.client.call(model, "search_read", domain=[["ref", "=", external_id]], fields=["id"],
                                     limit=1, context=ALL)
            return str(found[0]["id"]) if found else None

        if kind == "customer":
            vals = {"name": data["name"], "ref": external_id, "customer_rank": 1}
            known = find()
            if known is not None:
                self.client.call(model, "write", ids=[int(known)], vals=vals)
                return known
            return find_or_create(find, lambda: self._created(self.client.create(model, [vals])),
                                  self.client.policy.attempts)
        if not data.get("journal"):
            raise AdapterError("a journal push to Odoo needs options.journal (the journal's id)")
        lines = [[0, 0, {"account_id": int(line.account), "name": line.label, "debit": float(line.debit),
                         "credit": float(line.credit)}] for line in data["lines"]]  # JSON numbers, two decimals
        move = {"move_type": "entry", "ref": external_id, "date": data["date"], "journal_id": int(data["journal"]),
                "line_ids": lines}
        # a day's entry is written once; a correction is a new entry in the accountant's hands
        return find_or_create(find, lambda: self._created(self.client.create(model, [move])),
                              self.client.policy.attempts)

    @staticmethod
    def _created(answer: Any) -> str:
        ids = answer if isinstance(answer, list) else [answer]
        if not ids or not isinstance(ids[0], int):
            raise AdapterError(f"Odoo's create answered {str(answer)[:80]!r}, not the new record's id")
        return str(ids[0])
