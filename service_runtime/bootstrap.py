"""Prepare broker and databases before services start (run by `make run` and the tests).

    python -m service_runtime.bootstrap [--drop [--yes-really]]

Creates the AMQP virtual host if the URI names one, one database per service (and the
gateway's when it has one), applies each service's migrations, and declares every event
exchange, event queue and the dead-letter queue, so no event is published before the
queue that should receive it exists. Safe to run again.

``--drop`` deletes every service's database first. It runs alone only where every database
name starts with a throwaway prefix (tests, benchmarks: ``BOOTSTRAP_DROP_PREFIXES``); anywhere
else it also needs ``--yes-really``, so a wrong environment cannot wipe a chain's data.
"""
from __future__ import annotations

import argparse
import base64
import json
import logging
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import sqlalchemy as sa
from tenacity import retry, stop_after_delay, wait_fixed

from service_runtime import config as cfg
from service_runtime import inbox, migrate, topology

log = logging.getLogger("bootstrap")

# database name prefixes the test suites and benchmarks create and throw away
THROWAWAY_PREFIXES = "loyalty_test,loyalty_e2e,loyalty_ops,loyalty_bench,faults_"


class DropRefused(Exception):
    """--drop named a database that is not a throwaway one, without confirmation."""


def check_drop(names: list[str], confirmed: bool) -> None:
    """Refuse to drop a database outside the throwaway prefixes unless confirmed."""
    prefixes = tuple(p.strip() for p in cfg.env("BOOTSTRAP_DROP_PREFIXES", THROWAWAY_PREFIXES).split(",")
                     if p.strip())
    kept = [name for name in names if not name.startswith(prefixes)]
    if kept and not confirmed:
        raise DropRefused(f"refusing to drop {', '.join(kept)}: not a throwaway database (prefixes "
                          f"{', '.join(prefixes)}); add --yes-really to drop them and everything in them")


def _management(method: str, path: str, body: dict[str, str] | None = None) -> Any:
    """Call the RabbitMQ management API (credentials from the URL, guest/guest by default)."""
    parts = urlsplit(cfg.rabbit_management_url())
    netloc = (parts.hostname or "127.0.0.1") + (f":{parts.port}" if parts.port else "")
    token = base64.b64encode(f"{parts.username or 'guest'}:{parts.password or 'guest'}".encode()).decode()
    request = urllib.request.Request(
        urlunsplit(parts._replace(netloc=netloc)) + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        raw = answer.read()
    return json.loads(raw) if raw else None


def ensure_vhost(amqp_uri: str) -> None:
    vhost = cfg.amqp_vhost(amqp_uri)
    if vhost == "/":
        return
    user = urlsplit(amqp_uri).username or "guest"
    _management("PUT", f"/api/vhosts/{quote(vhost, safe='')}", {})
    _management("PUT", f"/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}",
                {"configure": ".*", "write": ".*", "read": ".*"})


def empty_vhost(amqp_uri: str) -> None:
    """Close the virtual host's connections, delete its queues and exchanges, keep the host.

    Tests start clean this way: RabbitMQ 3.10 can wedge every new AMQP handshake when virtual
    hosts holding quorum queues are deleted concurrently, so tests never delete one.
    """
    vhost = cfg.amqp_vhost(amqp_uri)
    if vhost == "/":
        raise ValueError("refusing to empty the default virtual host")
    ensure_vhost(amqp_uri)
    quoted = quote(vhost, safe="")
    # a left-over process's connections go first, as a vhost delete would close them
    for connection in _management("GET", f"/api/vhosts/{quoted}/connections?columns=name") or []:
        _delete_quietly(f"/api/connections/{quote(connection['name'], safe='')}")
    for queue in _management("GET", f"/api/queues/{quoted}?columns=name,exclusive") or []:
        if not queue.get("exclusive"):  # an exclusive queue goes with its closed connection
            _delete_quietly(f"/api/queues/{quoted}/{quote(queue['name'], safe='')}")
    for exchange in _management("GET", f"/api/exchanges/{quoted}?columns=name") or []:
        name = exchange["name"]
        if name and not name.startswith("amq."):
            _delete_quietly(f"/api/exchanges/{quoted}/{quote(name, safe='')}")


def queues(amqp_uri: str, columns: str = "name") -> list[dict[str, Any]]:
    """The virtual host's queues as the management API lists them, with only ``columns``."""
    quoted = quote(cfg.amqp_vhost(amqp_uri), safe="")
    return list(_management("GET", f"/api/queues/{quoted}?columns={columns}") or [])


def purge_queues(amqp_uri: str, name_part: str) -> int:
    """Empty (not delete) the virtual host's queues whose name holds ``name_part``; how many."""
    quoted = quote(cfg.amqp_vhost(amqp_uri), safe="")
    names = [q["name"] for q in queues(amqp_uri) if name_part in q["name"]]
    for name in names:
        _management("DELETE", f"/api/queues/{quoted}/{quote(name, safe='')}/contents")
    return len(names)


def _delete_quietly(path: str) -> None:
    try:
        _management("DELETE", path)
    except urllib.error.HTTPError as exc:
        if exc.code != 404:  # already gone (a reply queue that auto-deleted meanwhile)
            raise


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


@retry(stop=stop_after_delay(30), wait=wait_fixed(1), reraise=True)
def _admin_engine() -> sa.Engine:
    engine = sa.create_engine(cfg.pg_admin_url(), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect():
        pass
    return engine


def _reachable(url: str) -> bool:
    """Whether the database exists and answers (on Kubernetes each service's database is its own
    CloudNativePG cluster, created there: no admin URL reaches them all)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def ensure_database(url: str, drop: bool = False) -> None:
    name = _database_name(url)
    if not drop and _reachable(url):
        return
    engine = _admin_engine()
    with engine.connect() as conn:
        if drop:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def drop_database(url: str) -> None:
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{_database_name(url)}" WITH (FORCE)'))
    engine.dispose()


def declare_topology(amqp_uri: str) -> None:
    from service_runtime.registry import SERVICE_CLASSES, load_service

    limit = cfg.env_int("EVENT_DELIVERY_LIMIT", 10)
    entities = topology.dead_letter_entities()
    for name in SERVICE_CLASSES:
        entities += topology.service_entities(load_service(name), limit)
    topology.declare(amqp_uri, entities)


def bootstrap(drop: bool = False, confirmed: bool = False) -> None:
    amqp_uri = cfg.amqp_uri()
    if drop:
        check_drop([_database_name(cfg.database_url(service)) for service in cfg.DATABASES], confirmed)
    ensure_vhost(amqp_uri)
    for service in cfg.DATABASES:
        url = cfg.database_url(service)
        ensure_database(url, drop=drop)
        migrate.upgrade(service, url)
        inbox.ensure_index(url)
        log.info("database %s migrated", _database_name(url))
    declare_topology(amqp_uri)
    log.info("broker topology declared on vhost %s", cfg.amqp_vhost(amqp_uri))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drop", action="store_true", help="drop and recreate the databases first")
    parser.add_argument("--yes-really", action="store_true",
                        help="confirm --drop of databases outside the throwaway (test) prefixes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="bootstrap: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        bootstrap(drop=args.drop, confirmed=args.yes_really)
    except DropRefused as exc:
        print(f"bootstrap: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
