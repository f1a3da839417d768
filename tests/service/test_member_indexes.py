"""Every search filter can be answered from an index (EXPLAIN with sequential scans disabled;
the benchmark prints the plans PostgreSQL picks by itself at 1,000,000 members)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from service_runtime.config import database_url

QUERIES = {
    "phone": "SELECT * FROM members WHERE phone_bidx = 'x' ORDER BY created_at, id LIMIT 51",
    "member_number": "SELECT * FROM members WHERE member_number = '800000000011'",
    "name_prefix": "SELECT * FROM members WHERE lower(name) LIKE 'zh%' ORDER BY created_at, id LIMIT 51",
    # the probe a name search makes first (members/repo._few_named): a walk of the name index, no sort
    "name_probe": "SELECT id FROM members WHERE lower(name) LIKE 'zh%' ORDER BY lower(name) USING ~<~ LIMIT 2001",
    "tag": "SELECT * FROM members WHERE tags @> ARRAY['vip'] LIMIT 51",
    "store": "SELECT * FROM members WHERE registration_store = 'S-1' ORDER BY created_at, id LIMIT 51",
    "birthday_month": "SELECT * FROM members WHERE extract(month FROM birthday) = 4 LIMIT 51",
    "registered": "SELECT * FROM members WHERE created_at >= now() - interval '1 day' ORDER BY created_at, id "
                  "LIMIT 51",
}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_search_filters_use_an_index(platform_env, name):
    engine = sa.create_engine(database_url("members"), poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(conn.execute(sa.text("EXPLAIN " + QUERIES[name])).scalars())
    engine.dispose()
    assert "Seq Scan" not in plan, plan
    assert "Index" in plan, plan
