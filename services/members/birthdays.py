"""member.birthday once a year per member, on the day in their registration store's time zone."""
from __future__ import annotations

import calendar
from datetime import datetime
from zoneinfo import ZoneInfo

from contracts.events import MemberBirthday
from service_runtime import store_zones
from service_runtime.db import WorkerDb
from services.members import domain, repo, tables


def greet(db: WorkerDb, instant: datetime) -> int:
    """How many member.birthday events this run emitted (none twice for a member in a year)."""
    emitted = 0
    with db.transaction() as tx:
        zones = store_zones.current(tx, tables.store_zones)  # the catalog's, then STORE_TIMEZONES
    for zone in sorted(zones.zones()):
        local = instant.astimezone(ZoneInfo(zone)).date()
        leap_day_today = local.month == 2 and local.day == 28 and not calendar.isleap(local.year)
        with db.transaction() as tx:
            candidates = [c for c in repo.birthday_candidates(tx, local.month, local.day, leap_day_today)
                          if zones.zone_of(c.registration_store) == zone
                          and domain.birthday_today(c.birthday, local)]
            claimed = repo.claim_birthdays(tx, [str(c.id) for c in candidates], local.year)
            tx.emit_many([MemberBirthday(member_id=str(c.id), year=local.year, local_date=local,
                                         registration_store=c.registration_store)
                          for c in candidates if str(c.id) in claimed])
        emitted += len(claimed)
    return emitted
