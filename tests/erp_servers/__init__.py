"""Local servers speaking the ERPs' documented wire protocols, for the adapter tests: no real Odoo or
ERPNext runs on these machines. Written from Odoo's external API docs (JSON-2, XML-RPC execute_kw) and
Frappe's REST API docs, with the faults a real deployment meets (auth refused, 429, a dropped page)."""
