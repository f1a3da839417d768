"""The bulk import file format (members): CSV with a header row, or JSON (an array of objects,
or one object per line as NDJSON). Columns beyond these are refused; tags in CSV are
separated by ';' or '|'."""
from __future__ import annotations

IMPORT_COLUMNS = ("external_id", "name", "phone", "email", "id_number", "gender", "birthday",
                  "registration_store", "tags")
IMPORT_REQUIRED = ("name", "phone")


def header_problem(columns: list[str]) -> str | None:
    """What is wrong with an import file's columns, or None."""
    cleaned = [c.strip().lower() for c in columns]
    unknown = [c for c in cleaned if c not in IMPORT_COLUMNS]
    if unknown:
        shown = [c if len(c) <= 40 else c[:40] + "…" for c in unknown[:5]]  # never echo a huge header back
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        return f"unknown columns {shown}{more}; allowed: {', '.join(IMPORT_COLUMNS)}"
    missing = [c for c in IMPORT_REQUIRED if c not in cleaned]
    if missing:
        return f"missing required columns {missing}"
    if len(set(cleaned)) != len(cleaned):
        return "a column appears twice"
    return None
