"""What a platform already running on this machine holds that a second one would share.

Two platforms on one set of databases and queues would take each other's messages (and a
second checkout brings its own encryption keys), so `make run` refuses if any is taken.
"""
from __future__ import annotations

import socket
from urllib.parse import urlsplit, urlunsplit

from service_runtime import config as cfg


def _port_taken(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _queue_consumers(amqp_uri: str) -> list[str]:
    import amqp.exceptions
    from kombu import Connection

    found = []
    try:
        with Connection(amqp_uri, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
            for service in cfg.SERVICES:
                channel = conn.channel()
                try:
                    _, _, consumers = channel.queue_declare(f"rpc-{service}", passive=True)
                    if consumers:
                        found.append(f"{consumers} consumer(s) on queue rpc-{service} of virtual host "
                                     f"{cfg.amqp_vhost(amqp_uri)!r}")
                except amqp.exceptions.NotFound:
                    pass  # never declared on this virtual host: nobody runs there
                finally:
                    try:
                        channel.close()
                    except Exception:  # closed by the broker after NotFound
                        pass
    except (OSError, amqp.exceptions.AMQPError):
        pass  # the broker is not reachable: bootstrap says so
    return found


def _database_sessions() -> list[str]:
    import sqlalchemy as sa

    names = [cfg.db_prefix() + service for service in cfg.DATABASES]
    parts = urlsplit(cfg.pg_admin_url())
    engine = sa.create_engine(urlunsplit(parts), poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT datname, count(*) FROM pg_stat_activity WHERE datname = ANY(:names) "
                "AND pid <> pg_backend_pid() GROUP BY datname ORDER BY datname"), {"names": names}).all()
    except sa.exc.SQLAlchemyError:
        return []  # the database is not reachable: bootstrap says so
    finally:
        engine.dispose()
    return [f"{count} open connection(s) to database {name}" for name, count in rows]


def _own_ports(gateway_host: str, gateway_port: int) -> list[tuple[str, str, int]]:
    """(setting, host, port) of every port this platform's processes listen on."""
    ports = [("GATEWAY_PORT", gateway_host, gateway_port)]
    metrics_port = cfg.GatewaySettings.load().metrics_port
    if metrics_port:
        ports.append(("GATEWAY_METRICS_PORT", "127.0.0.1", metrics_port))
    for service in cfg.SERVICES:
        port = cfg.ServiceSettings.load(service).metrics_port
        if port is not None:
            ports.append((f"{service.upper()}_METRICS_PORT", "127.0.0.1", port))
    ports.append(("CONSOLE_PORT", gateway_host, cfg.env_int("CONSOLE_PORT", 8081)))
    console_metrics = cfg.env_int("CONSOLE_METRICS_PORT", 9111)
    if console_metrics >= 0:
        ports.append(("CONSOLE_METRICS_PORT", "127.0.0.1", console_metrics))
    return ports


def port_clashes(gateway_host: str, gateway_port: int) -> list[str]:
    """Two of this platform's own settings naming one port: the second process could not listen."""
    named: dict[int, list[str]] = {}
    for setting, _, port in _own_ports(gateway_host, gateway_port):
        named.setdefault(port, []).append(setting)
    return [f"port {port} is named by {' and '.join(settings)}" for port, settings in named.items()
            if len(settings) > 1]


def occupied(gateway_host: str, gateway_port: int) -> list[str]:
    """Why this platform would collide with a running one (empty: it would not)."""
    reasons = [f"port {host}:{port} is in use ({setting})" for setting, host, port in
               _own_ports(gateway_host, gateway_port) if _port_taken(host, port)]
    reasons += _queue_consumers(cfg.amqp_uri())
    reasons += _database_sessions()
    return reasons
