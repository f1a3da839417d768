"""The database provider: a failed worker writes nothing, its events included."""
from __future__ import annotations

import uuid

import pytest
from nameko.rpc import rpc

from contracts.events import MemberRegistered
from service_runtime.base import ServiceBase
from services.members.tables import members
from tests.callers import entrypoint_hook
from tests.helpers import scalar


class Boom(Exception):
    pass


class ProbeService(ServiceBase):
    """Runs under the members service's settings and database."""

    name = "members"

    @rpc
    def write_then_fail(self, member_id: str, number: str) -> None:
        with self.db.transaction() as tx:
            tx.execute(members.insert().values(id=member_id, member_number=number, name="probe",
                                               phone_enc="k:unused", phone_bidx=number, channel="staff"))
            tx.emit(MemberRegistered(member_id=member_id, member_number=number, channel="staff",
                                     registered_at="2026-01-01T00:00:00Z"))
            with self.db.transaction() as nested:  # joins the outer transaction
                assert nested is tx
            raise Boom("after writing")


def test_exception_rolls_back_state_and_outbox(start_service):
    container = start_service("members", service_cls=ProbeService, outbox_relay=False)
    member_id, number = str(uuid.uuid4()), "9" + str(uuid.uuid4().int)[:11]
    with entrypoint_hook(container, "write_then_fail") as call, pytest.raises(Boom):
        call(member_id=member_id, number=number)
    assert scalar("members", "SELECT count(*) FROM members WHERE id = :id", id=member_id) == 0
    assert scalar("members", "SELECT count(*) FROM outbox WHERE body->'payload'->>'member_id' = :id",
                  id=member_id) == 0


class ReadProbe(ServiceBase):
    name = "members"

    @rpc
    def reads(self) -> dict[str, object]:
        import sqlalchemy as sa

        with self.db.read() as tx:  # each statement its own transaction: now() moves between them
            first = tx.execute(sa.text("SELECT now(), pg_sleep(0.01)")).scalar()
            second = tx.execute(sa.text("SELECT now()")).scalar()
            try:
                tx.emit(MemberRegistered(member_id=str(uuid.uuid4()), member_number="1", channel="staff",
                                         registered_at="2026-01-01T00:00:00Z"))
                emitted = True
            except RuntimeError:
                emitted = False
        with self.db.transaction() as tx:
            with self.db.read() as inside:  # joins the open transaction
                joined = inside is tx
            one = tx.execute(sa.text("SELECT now(), pg_sleep(0.01)")).scalar()
            two = tx.execute(sa.text("SELECT now()")).scalar()
        return {"autocommit": first != second, "emitted": emitted, "joined": joined, "one_snapshot": one == two}


def test_reads_run_without_a_transaction_and_never_emit(start_service):
    container = start_service("members", service_cls=ReadProbe, outbox_relay=False)
    for _ in range(3):  # the pooled connections come back in transactions after a read, every time
        with entrypoint_hook(container, "reads") as call:
            assert call() == {"autocommit": True, "emitted": False, "joined": True, "one_snapshot": True}
