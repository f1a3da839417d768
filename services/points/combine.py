"""Group commit for sales from tills: the sales that arrive while the process's sale
transactions are busy go into the next transaction together.

Each sale alone costs a lock, three statements, a commit and an outbox relay pass; 32 tills
at once paid that 32 times. Here up to ``WRITERS`` sale transactions run at once, each sale
written at once while one is free (a quiet till sees no delay, and sales of a moderately busy
moment still overlap); sales arriving while all are busy queue, and when a write finishes the
first of them leads the next transaction with every sale queued by then (up to ``MAX_SALES``),
through the same code as an offline upload (per-sale answers, accounts locked in order).
How many sales share a transaction is the ``loyalty_points_sales_per_transaction`` histogram;
one writer groups more and costs less CPU per sale, two keep a quiet moment's latency
(docs/decisions/0008, 0019).

A transaction that fails as a whole (not a sale's own refusal, which is that sale's answer)
is tried again sale by sale, so one sale that breaks something fails alone.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eventlet.event import Event
from nameko.extensions import DependencyProvider
from prometheus_client import Histogram

from contracts.errors import Conflict
from service_runtime.config import env_int

MAX_SALES = 50  # per transaction
WRITERS = 2  # sale transactions under way at once per process (POINTS_SALE_WRITERS)
SALES_PER_TRANSACTION = Histogram(
    "loyalty_points_sales_per_transaction", "Till sales written together in one transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, MAX_SALES))


@dataclass
class _Waiting:
    sale: Any
    done: Event = field(default_factory=Event)  # sends ("lead", None) or ("answer", outcome)


Post = Callable[[list[Any]], list[Any]]  # sales -> their outcomes, in order (an outcome may be an exception)


class SaleCombiner:
    def __init__(self, writers: int = WRITERS) -> None:
        self.writers = writers  # transactions of sales under way at once in this process
        self._busy = 0
        self._queue: list[_Waiting] = []

    def submit(self, sale: Any, post: Post) -> Any:
        """The outcome of this sale (an answer or an exception instance), written by ``post``
        alone or together with the sales queued beside it."""
        mine = _Waiting(sale)
        if self._busy < self.writers:
            self._busy += 1  # a free writer: this sale is written at once
        else:
            self._queue.append(mine)
            try:
                kind, outcome = mine.done.wait()
            except BaseException:  # this worker was stopped while waiting: leave no place taken
                if mine in self._queue:
                    self._queue.remove(mine)
                elif mine.done.ready() and mine.done.wait()[0] == "lead":
                    self._hand_on()
                raise
            if kind == "answer":
                return outcome
            # "lead": a writer that finished handed this worker its place (and took it off the queue)
        batch = [mine, *self._queue[:MAX_SALES - 1]]
        SALES_PER_TRANSACTION.observe(len(batch))
        del self._queue[:MAX_SALES - 1]
        outcomes: list[Any] | None = None
        try:
            outcomes = self._post_all(batch, post)
        finally:
            if outcomes is None:  # this worker was stopped mid-write: nothing was written
                outcomes = [Conflict("the sale's transaction was interrupted: send it again", "transaction_id")
                            for _ in batch]
            self._hand_on()
            for waiting, outcome in zip(batch[1:], outcomes[1:], strict=True):
                waiting.done.send(("answer", outcome))
        return outcomes[0]

    def _hand_on(self) -> None:
        """A writer's place goes to the first sale in line (the next write starts at once), or
        becomes free."""
        if self._queue:
            self._queue.pop(0).done.send(("lead", None))
        else:
            self._busy -= 1

    @staticmethod
    def _post_all(batch: list[_Waiting], post: Post) -> list[Any]:
        sales = [w.sale for w in batch]
        try:
            return post(sales)
        except Exception as error:
            if len(sales) == 1:
                return [error]
        outcomes: list[Any] = []
        for sale in sales:  # the transaction failed as a whole: each sale on its own
            try:
                outcomes.extend(post([sale]))
            except Exception as error:
                outcomes.append(error)
        return outcomes


class SaleCombinerProvider(DependencyProvider):
    def setup(self) -> None:
        self.combiner = SaleCombiner(env_int("POINTS_SALE_WRITERS", WRITERS))

    if TYPE_CHECKING:  # a service's attribute holds what get_dependency returns
        def __get__(self, instance: object, owner: type | None = None) -> SaleCombiner: ...

    def get_dependency(self, worker_ctx: Any) -> SaleCombiner:
        return self.combiner
