"""ERP connections: what an operator declares (validated here), where its secret comes from, and the
adapter it runs. The table holds only the *name* of the setting that holds the secret
(``ERP_SECRET_<NAME>``, from the environment or the deployment's secret store), never the secret."""
from __future__ import annotations

import os
import re
from typing import Any

from contracts.erp_sync import SECRET_PREFIX, ConnectionOptions
from services.catalog.erp.erpnext import ErpNextAdapter
from services.catalog.erp.http import RetryPolicy
from services.catalog.erp.interface import Adapter, AuthFailed
from services.catalog.erp.kingdee import KingdeeAdapter
from services.catalog.erp.kingdee_client import KingdeeClient
from services.catalog.erp.odoo import OdooAdapter
from services.catalog.erp.odoo_client import Json2Client, XmlRpcClient

NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,39}$")  # also the ``source`` of what it writes (catalog SOURCE rule)


def secret(ref: str) -> str:
    """The connection's secret, read when a run starts (a rotated key takes effect on the next run)."""
    if not ref.startswith(SECRET_PREFIX):
        raise AuthFailed(f"credentials_ref {ref!r} must name an {SECRET_PREFIX}* setting")
    value = os.environ.get(ref, "")
    if not value:
        raise AuthFailed(f"the setting {ref} that holds this connection's credentials is not set")
    return value


def adapter_for(row: dict[str, Any]) -> Adapter:
    """The adapter a stored connection runs."""
    options = ConnectionOptions.model_validate(row["options"] or {})
    policy = RetryPolicy(options.retry_attempts, options.retry_base_wait, options.retry_max_wait, options.timeout)
    key = secret(row["credentials_ref"])
    plain = options.model_dump()
    if row["kind"] == "odoo_json2":
        return OdooAdapter(row["name"], Json2Client(row["base_url"], row["database"], key, policy), plain)
    if row["kind"] == "odoo_xmlrpc":
        return OdooAdapter(row["name"], XmlRpcClient(row["base_url"], row["database"], row["username"], key,
                                                     policy), plain)
    if row["kind"] == "kingdee":
        return KingdeeAdapter(row["name"], KingdeeClient(row["base_url"], row["database"], row["username"], key,
                                                         options.login, options.lcid, policy), plain)
    return ErpNextAdapter(row["name"], row["base_url"], key, plain, policy)
