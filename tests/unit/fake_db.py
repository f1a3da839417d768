"""A transaction and a database for use cases run on in-memory fakes: the transaction keeps the
events a use case emits, the database hands out that one transaction."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class FakeTx:
    def __init__(self) -> None:
        self.emitted: list[Any] = []

    def emit(self, payload: Any) -> None:
        self.emitted.append(payload)

    def emit_many(self, payloads: list[Any]) -> None:
        self.emitted.extend(payloads)


class FakeDb:
    def __init__(self) -> None:
        self.tx = FakeTx()

    @contextmanager
    def transaction(self) -> Iterator[FakeTx]:
        yield self.tx

    read = transaction  # reads outside a transaction: the same fake
