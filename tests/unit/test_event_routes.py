"""Every event the platform publishes reaches a queue: RabbitMQ drops (NO_ROUTE) an event no queue
is bound for, so each event type in the contracts, in their generated schemas, or constructed by
a service must have a handler declared in some service (whose queue bootstrap declares)."""
from __future__ import annotations

import ast
from pathlib import Path

from contracts.events import EVENTS
from service_runtime.registry import SERVICE_CLASSES, load_service
from service_runtime.topology import service_entities

ROOT = Path(__file__).resolve().parents[2]


def _subscribed() -> set[tuple[str, str]]:
    """(producer, event type) of every handler queue the services declare."""
    bound = set()
    for name in SERVICE_CLASSES:
        for entity in service_entities(load_service(name), delivery_limit=5):
            if entity.__class__.__name__ == "Queue" and entity.name.startswith("evt-"):
                bound.add((entity.exchange.name.removesuffix(".events"), entity.routing_key))
    return bound


def _constructed_in_services() -> set[str]:
    """Names of event payload classes any service module constructs (what it may emit)."""
    names = {cls.__name__ for cls in EVENTS.values()}
    found = set()
    for path in (ROOT / "services").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names:
                found.add(node.func.id)
    return found


def test_every_event_type_in_the_contracts_and_their_schemas_has_a_subscriber() -> None:
    bound = _subscribed()
    schema_types = {p.name.rsplit(".v", 1)[0] for p in (ROOT / "contracts" / "schemas" / "events").glob("*.json")}
    by_type = {cls.TYPE: cls.PRODUCER for cls in EVENTS.values()}
    assert schema_types <= set(by_type), f"schemas of events no contract defines: {schema_types - set(by_type)}"
    unrouted = sorted(t for t, producer in by_type.items() if (producer, t) not in bound)
    assert not unrouted, f"published with no queue bound (NO_ROUTE, dropped): {unrouted}"


def test_every_event_a_service_constructs_is_a_contract_with_a_subscriber() -> None:
    bound = _subscribed()
    by_name = {cls.__name__: cls for cls in EVENTS.values()}
    emitted = _constructed_in_services()
    assert emitted, "the scan found no event constructed anywhere: it is looking in the wrong place"
    unrouted = sorted(n for n in emitted if (by_name[n].PRODUCER, by_name[n].TYPE) not in bound)
    assert not unrouted, f"constructed by a service, consumed by none: {unrouted}"
