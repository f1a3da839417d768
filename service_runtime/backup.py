"""Back up every service database and the key material that makes members' data readable;
restore them into an empty server.

    python -m service_runtime.backup create --out DIR
    python -m service_runtime.backup restore --from DIR [--db-prefix loyalty_]

``create`` writes ``<service>.dump`` (pg_dump custom format, compressed) per database of
``DATABASES`` and ``secrets.json`` (mode 0600) with MEMBERS_ENCRYPTION_KEYS, MEMBERS_ACTIVE_KEY_ID
and MEMBERS_BLIND_INDEX_KEY, from the environment or, as `make run` keeps them, $VAR_DIR/secrets.
Keep a backup encrypted at rest: it holds the keys. ``restore`` creates each database under the
prefix (refusing one that exists) and loads it with pg_restore; the keys stay in secrets.json, to
be given to the members service (its Secret on Kubernetes).
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

from service_runtime import config as cfg

KEY_VARS = ("MEMBERS_ENCRYPTION_KEYS", "MEMBERS_ACTIVE_KEY_ID", "MEMBERS_BLIND_INDEX_KEY")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: install the PostgreSQL client (apt-get install postgresql-client)")
    return found


def key_material(environ: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if environ is None else environ)
    found = {name: env[name] for name in KEY_VARS if env.get(name)}
    local = Path(cfg.env("VAR_DIR", "var")) / "secrets"
    if "MEMBERS_ENCRYPTION_KEYS" not in found and (local / "members-data-key-k1").exists():
        found["MEMBERS_ENCRYPTION_KEYS"] = "k1=" + (local / "members-data-key-k1").read_text().strip()
    if "MEMBERS_BLIND_INDEX_KEY" not in found and (local / "members-blind-index-key").exists():
        found["MEMBERS_BLIND_INDEX_KEY"] = (local / "members-blind-index-key").read_text().strip()
    missing = {"MEMBERS_ENCRYPTION_KEYS", "MEMBERS_BLIND_INDEX_KEY"} - set(found)
    if missing:
        raise SystemExit(f"no {', '.join(sorted(missing))}: a backup without them cannot be read; set them")
    return found


def create(out: Path) -> dict[str, int]:
    """Dump every database; returns the size in bytes of each file written."""
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)
    sizes = {}
    for service in cfg.DATABASES:
        target = out / f"{service}.dump"
        subprocess.run([_tool("pg_dump"), "--format=custom", "--compress=6", "--no-owner", "--no-privileges",
                        f"--file={target}", f"--dbname={cfg.database_url(service)}"], check=True)
        sizes[target.name] = target.stat().st_size
    secrets = out / "secrets.json"
    secrets.touch(mode=0o600)
    secrets.write_text(json.dumps(key_material(), indent=2))
    sizes[secrets.name] = secrets.stat().st_size
    (out / "manifest.json").write_text(json.dumps({"databases": list(cfg.DATABASES), "files": sizes}, indent=2))
    return sizes


def _url(prefix: str, service: str) -> str:
    return urlunsplit(urlsplit(cfg.pg_admin_url())._replace(path="/" + prefix + service))


def restore(source: Path, prefix: str, jobs: int = 2) -> dict[str, str]:
    """Create and load every database of the backup; returns service -> database URL."""
    manifest = json.loads((source / "manifest.json").read_text())
    admin = sa.create_engine(cfg.pg_admin_url(), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    urls = {}
    try:
        with admin.connect() as conn:
            for service in manifest["databases"]:
                name = prefix + service
                if conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                    raise SystemExit(f"database {name} exists: restore goes into an empty server (or another prefix)")
            for service in manifest["databases"]:
                conn.execute(sa.text(f'CREATE DATABASE "{prefix + service}"'))
    finally:
        admin.dispose()
    for service in manifest["databases"]:
        urls[service] = _url(prefix, service)
        subprocess.run([_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", f"--jobs={jobs}",
                        f"--dbname={urls[service]}", str(source / f"{service}.dump")], check=True)
    return urls


def restored_keys(source: Path) -> dict[str, str]:
    keys: dict[str, str] = json.loads((source / "secrets.json").read_text())
    for name in ("MEMBERS_BLIND_INDEX_KEY",):
        base64.b64decode(keys[name], validate=True)  # a damaged secrets file fails here, not at first lookup
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    made = sub.add_parser("create")
    made.add_argument("--out", type=Path, required=True)
    back = sub.add_parser("restore")
    back.add_argument("--from", dest="source", type=Path, required=True)
    back.add_argument("--db-prefix", default=cfg.db_prefix())
    args = parser.parse_args(argv)
    if args.command == "create":
        for name, size in create(args.out).items():
            print(f"{name}: {size} bytes")
        return 0
    for service, url in restore(args.source, args.db_prefix).items():
        print(f"{service}: {cfg.redact_url(url)}")
    names = ", ".join(restored_keys(args.source))
    print(f"members' keys ({names}): in {args.source / 'secrets.json'}; give them to the members service")
    return 0


if __name__ == "__main__":
    sys.exit(main())
