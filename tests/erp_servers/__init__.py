"""Local servers speaking the ERPs' documented wire protocols, for the adapter tests: no real Odoo,
ERPNext or Kingdee runs on these machines. Written from Odoo's external API docs (JSON-2, XML-RPC
execute_kw), Frappe's REST API docs and Kingdee's K/3 Cloud WebAPI manual, with the faults a real
deployment meets (auth refused, 429, a dropped page, a lost session, a write whose answer is lost)."""
