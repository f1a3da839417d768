"""catalog: ERP connections may be Kingdee K/3 Cloud

Revision ID: 0004
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("erp_connections_kind", "erp_connections", type_="check")
    op.create_check_constraint("erp_connections_kind", "erp_connections",
                               "kind IN ('odoo_json2', 'odoo_xmlrpc', 'erpnext', 'kingdee')")


def downgrade() -> None:
    op.drop_constraint("erp_connections_kind", "erp_connections", type_="check")
    op.create_check_constraint("erp_connections_kind", "erp_connections",
                               "kind IN ('odoo_json2', 'odoo_xmlrpc', 'erpnext')")
