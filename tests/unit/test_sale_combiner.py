"""The group commit of till sales (services/points/combine.py) on green threads: the first sale
is written at once, the ones arriving meanwhile together in the next write, each caller gets its
own answer, and a write that fails as a whole is retried sale by sale."""
from __future__ import annotations

import eventlet
import pytest

from services.points import combine


def run_all(combiner: combine.SaleCombiner, sales: list[str], post: combine.Post) -> list[object]:
    threads = [eventlet.spawn(combiner.submit, sale, post) for sale in sales]
    return [thread.wait() for thread in threads]


def test_sales_arriving_during_a_write_go_together_into_the_next_and_each_gets_its_answer():
    writes: list[list[str]] = []

    def post(sales: list[str]) -> list[object]:
        writes.append(list(sales))
        eventlet.sleep(0.01)  # the database round trips: other callers queue meanwhile
        return [f"receipt of {sale}" for sale in sales]

    answers = run_all(combine.SaleCombiner(writers=1), [f"s{i}" for i in range(6)], post)
    assert answers == [f"receipt of s{i}" for i in range(6)]
    assert writes == [["s0"], ["s1", "s2", "s3", "s4", "s5"]]


def test_with_two_writers_two_sales_are_written_at_once_and_the_rest_wait_together():
    writes: list[list[str]] = []

    def post(sales: list[str]) -> list[object]:
        writes.append(list(sales))
        eventlet.sleep(0.01)
        return list(sales)

    answers = run_all(combine.SaleCombiner(writers=2), [f"s{i}" for i in range(6)], post)
    assert answers == [f"s{i}" for i in range(6)]
    # s0 and s1 at once; s2..s5 wait; each writer that finishes hands its place to the first in
    # line, which takes everyone queued by then
    assert writes == [["s0"], ["s1"], ["s2", "s4", "s5"], ["s3"]]


def test_a_write_takes_at_most_max_sales_and_the_rest_follow(monkeypatch):
    monkeypatch.setattr(combine, "MAX_SALES", 2)
    writes: list[list[str]] = []

    def post(sales: list[str]) -> list[object]:
        writes.append(list(sales))
        eventlet.sleep(0.01)
        return list(sales)

    assert run_all(combine.SaleCombiner(writers=1), ["a", "b", "c", "d", "e"], post) == ["a", "b", "c", "d", "e"]
    assert writes == [["a"], ["b", "c"], ["d", "e"]]


def test_a_write_failing_as_a_whole_is_retried_sale_by_sale_so_only_the_culprit_fails():
    writes: list[list[str]] = []

    def post(sales: list[str]) -> list[object]:
        writes.append(list(sales))
        eventlet.sleep(0.01)
        if "poison" in sales:
            raise RuntimeError("breaks the transaction")
        return [sale.upper() for sale in sales]

    answers = run_all(combine.SaleCombiner(writers=1), ["first", "x", "poison", "y"], post)
    assert answers[:2] == ["FIRST", "X"] and answers[3] == "Y"
    assert isinstance(answers[2], RuntimeError)
    assert writes == [["first"], ["x", "poison", "y"], ["x"], ["poison"], ["y"]]


def test_a_quiet_till_is_written_at_once_and_alone():
    combiner = combine.SaleCombiner(writers=1)
    assert combiner.submit("only", lambda sales: [s + "!" for s in sales]) == "only!"
    assert combiner.submit("next", lambda sales: [s + "?" for s in sales]) == "next?"


def test_a_leader_stopped_mid_write_answers_its_followers_with_a_retryable_conflict():
    from contracts.errors import Conflict

    stopped = eventlet.greenlet.GreenletExit  # the worker killed (its transaction rolls back)

    def post(sales: list[str]) -> list[object]:
        eventlet.sleep(0.01)
        if len(sales) > 1:
            raise stopped()
        return list(sales)

    combiner = combine.SaleCombiner(writers=1)
    first = eventlet.spawn(combiner.submit, "first", post)
    eventlet.sleep(0)
    others = [eventlet.spawn(combiner.submit, s, post) for s in ("a", "b")]
    assert first.wait() == "first"
    leader, follower = others
    with pytest.raises(stopped):
        leader.wait()
    assert isinstance(follower.wait(), Conflict)
    assert combiner.submit("later", post) == "later"  # nothing is left waiting or locked


def test_a_worker_stopped_while_queued_leaves_no_place_taken():
    def post(sales: list[str]) -> list[object]:
        eventlet.sleep(0.01)
        return list(sales)

    combiner = combine.SaleCombiner(writers=1)
    first = eventlet.spawn(combiner.submit, "first", post)
    eventlet.sleep(0)
    queued = eventlet.spawn(combiner.submit, "queued", post)
    eventlet.sleep(0)
    queued.kill()  # stopped while waiting in line
    assert first.wait() == "first"
    with eventlet.Timeout(1):
        assert combiner.submit("next", post) == "next"  # the place came free
