"""ERP adapters of the catalog service: Odoo (JSON-2 and XML-RPC) and ERPNext, behind one interface."""
