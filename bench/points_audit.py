"""What bench.points checks after its load: the ledger against the simulator's books, and which
points tables were read whole."""
from __future__ import annotations

from collections import Counter
from typing import Any

from bench.points_fleet import Books


def sequential_scans(engine: Any, requests: int) -> None:
    """Which points tables were read whole during the run: a scan per request on a table that
    grows with the members or the sales is a plan that will not scale."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT relname, seq_scan, seq_tup_read, n_live_tup FROM pg_stat_user_tables "
            "WHERE seq_tup_read > 10 * greatest(n_live_tup, 1000) ORDER BY seq_tup_read DESC LIMIT 5")).all()
    for name, scans, read, live in rows:
        print(f"# points table {name} ({live} rows) read by {scans} sequential scans, {read / 1e6:.1f}M rows in all "
              f"({scans / max(requests, 1):.2f} scans per sale or refund booked)", flush=True)


def audit(engine: Any, books: Books) -> int:
    """Balances against the ledger's sums, sales credited twice, what was sent against what
    was booked, and what the answers said against the ledger. Prints each finding."""
    import sqlalchemy as sa

    queries = {
        # every account's balance is its ledger's sum
        "balance_vs_ledger": """
            SELECT count(*) FROM accounts a
            LEFT JOIN (SELECT member_id, sum(delta) AS total FROM ledger GROUP BY member_id) l USING (member_id)
            WHERE a.balance <> coalesce(l.total, 0)""",
        # a ledger entry with no account
        "ledger_without_account": """
            SELECT count(DISTINCT l.member_id) FROM ledger l LEFT JOIN accounts a USING (member_id)
            WHERE a.member_id IS NULL""",
        # no (store, transaction_id) recorded or credited twice
        "sales_recorded_twice": """
            SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM sales GROUP BY store, transaction_id) s
            WHERE n > 1""",
        "sales_credited_twice": """
            SELECT coalesce(sum(n - 1), 0) FROM (
                SELECT count(*) AS n FROM ledger WHERE kind = 'accrual' GROUP BY at_store, reference) s
            WHERE n > 1""",
    }
    found: dict[str, int] = {}
    with engine.connect() as conn:
        for name, sql in queries.items():
            found[name] = int(conn.execute(sa.text(sql)).scalar_one())
        recorded_sales = int(conn.execute(sa.text("SELECT count(*) FROM sales")).scalar_one())
        accrued = int(conn.execute(sa.text("SELECT coalesce(sum(delta), 0) FROM ledger WHERE kind = 'accrual'"))
                      .scalar_one())
        tables = set(sa.inspect(conn).get_table_names())
        recorded_refunds = int(conn.execute(sa.text("SELECT count(*) FROM refunds")).scalar_one()) \
            if "refunds" in tables else None
        balances = {str(r[0]): int(r[1]) for r in conn.execute(sa.text("SELECT member_id, balance FROM accounts"))}
    found["sales_sent_not_recorded"] = abs(len(books.sales) - recorded_sales)
    if recorded_refunds is not None:
        found["refunds_sent_not_recorded"] = abs(len(books.refunds) - recorded_refunds)
    earned = sum(points for _, points in books.sales.values())
    found["points_answered_vs_accrued"] = int(earned != accrued)
    # each member's balance from the answers: what sales earned less what refunds took back
    expected: Counter[str] = Counter()
    for member, points in books.sales.values():
        expected[member] += points
    for member, points in books.refunds.values():
        expected[member] -= points
    found["balance_vs_answers"] = sum(1 for member, total in expected.items() if balances.get(member) != total)
    found["answers_inconsistent"] = len(books.mismatches)
    print(f"# audit: {len(balances)} accounts; {len(books.sales)} sales sent, {recorded_sales} recorded; "
          f"{len(books.refunds)} refunds sent, {recorded_refunds} recorded; {books.replays} resends answered; "
          f"points earned per the answers {earned}, accrued in the ledger {accrued}", flush=True)
    for name, count in found.items():
        if count:
            print(f"# audit: {name} {count}", flush=True)
    for text in books.mismatches[:10]:
        print(f"# answer: {text}", flush=True)
    return sum(found.values())

