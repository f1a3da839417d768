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


def _shared_ports(gateway_port: int) -> list[str]:
    """Two of this platform's own settings naming one port: the second process could not listen."""
    named: dict[int, list[str]] = {gateway_port: ["GATEWAY_PORT"]}
    for setting in cfg.metrics_port_settings():
        default = 8081 if setting == "CONSOLE_PORT" else 9111 if setting == "CONSOLE_METRICS_PORT" else None
        if default is None:
            port = (cfg.GatewaySettings.load().metrics_port if setting == "GATEWAY_METRICS_PORT" else
                    cfg.ServiceSettings.load(setting.removesuffix("_METRICS_PORT").lower()).metrics_port)
        else:
            port = cfg.env_int(setting, default)
        if port is not None and port >= 0:
            named.setdefault(port, []).append(setting)
    return [f"port {port} is named by {' and '.join(settings)}" for port, settings in named.items()
            if len(settings) > 1]


def occupied(gateway_host: str, gateway_port: int) -> list[str]:
    """Why this platform would collide with a running one (empty: it would not)."""
    reasons = []
    if _port_taken(gateway_host, gateway_port):
        reasons.append(f"gateway port {gateway_host}:{gateway_port} is in use (GATEWAY_PORT)")
    metrics_port = cfg.GatewaySettings.load().metrics_port
    if metrics_port and _port_taken("127.0.0.1", metrics_port):
        reasons.append(f"gateway metrics port {metrics_port} is in use (GATEWAY_METRICS_PORT)")
    for service in cfg.SERVICES:
        port = cfg.ServiceSettings.load(service).metrics_port
        if port is not None and _port_taken("127.0.0.1", port):
            reasons.append(f"{service} metrics port {port} is in use ({service.upper()}_METRICS_PORT)")
    console_port = cfg.env_int("CONSOLE_PORT", 8081)
    if _port_taken(gateway_host, console_port):
        reasons.append(f"console port {gateway_host}:{console_port} is in use (CONSOLE_PORT)")
    console_metrics = cfg.env_int("CONSOLE_METRICS_PORT", 9111)
    if console_metrics >= 0 and _port_taken("127.0.0.1", console_metrics):
        reasons.append(f"console metrics port {console_metrics} is in use (CONSOLE_METRICS_PORT)")
    reasons += _shared_ports(gateway_port)
    reasons += _queue_consumers(cfg.amqp_uri())
    reasons += _database_sessions()
    return reasons
