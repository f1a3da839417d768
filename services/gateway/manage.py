"""Operator commands for the gateway's own data (run where the gateway's database is reachable).

    python -m services.gateway.manage create-staff USERNAME --role admin [--role ...] [--store S ...]
        (the password comes from STAFF_PASSWORD, or is asked for)
    python -m services.gateway.manage create-key NAME --kind pos --store SH-001 [--scope ...]
        (prints the key once)
    python -m services.gateway.manage set-password USERNAME
        (sets a new password, clears a lockout and revokes the user's refresh tokens)
    python -m services.gateway.manage verify-audit

Every change is written to the audit log with the actor "system/cli".
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys

import sqlalchemy as sa

from service_runtime.config import database_url
from services.gateway import audit, repo
from services.gateway.security import secrets
from services.gateway.security.principal import DEFAULT_KEY_SCOPES, KEY_SCOPES, STAFF_ROLES


def _engine() -> sa.Engine:
    return sa.create_engine(database_url("gateway"), poolclass=sa.pool.NullPool)


def _record(engine: sa.Engine, action: str, object_type: str, object_id: str, details: dict[str, object]) -> None:
    audit.append(engine, audit.AuditEntry(actor_kind="system", actor_name="cli", action=action, outcome="ok",
                                          object_type=object_type, object_id=object_id, details=details))


def _password(prompt: str) -> str | None:
    """STAFF_PASSWORD, or asked for; None (after saying why) when it is too short."""
    password = os.environ.get("STAFF_PASSWORD") or getpass.getpass(prompt)
    if len(password) < secrets.MIN_PASSWORD_LENGTH:
        print(f"the password needs at least {secrets.MIN_PASSWORD_LENGTH} characters", file=sys.stderr)
        return None
    return password


def create_staff(args: argparse.Namespace) -> int:
    password = _password(f"password for {args.username}: ")
    if password is None:
        return 1
    if "admin" in args.role and args.store:
        print("admins act for the whole chain; leave out --store", file=sys.stderr)
        return 1
    engine = _engine()
    stores = sorted(set(args.store)) if args.store else None
    row = repo.create_staff(engine, args.username, secrets.hash_password(password), sorted(set(args.role)), stores)
    if row is None:
        print(f"username {args.username!r} is taken", file=sys.stderr)
        return 1
    _record(engine, "staff.created", "staff", str(row.id),
            {"username": row.username, "roles": list(row.roles), "stores": stores})
    print(f"created {row.username} ({', '.join(row.roles)}) id {row.id}")
    return 0


def set_password(args: argparse.Namespace) -> int:
    password = _password(f"new password for {args.username}: ")
    if password is None:
        return 1
    engine = _engine()
    row = repo.staff_by_username(engine, args.username)
    if row is None:
        print(f"no staff user {args.username!r}", file=sys.stderr)
        return 1
    repo.update_staff(engine, str(row.id), {"password_hash": secrets.hash_password(password), "locked_until": None,
                                             "failed_logins": 0})
    repo.revoke_subject_tokens(engine, "staff", str(row.id))
    _record(engine, "staff.updated", "staff", str(row.id), {"changed": ["password", "unlock"]})
    print(f"password of {row.username} set")
    return 0


def create_key(args: argparse.Namespace) -> int:
    if (args.kind == "pos") != (args.store is not None):
        print("a POS key needs --store; an ERP key must not have one", file=sys.stderr)
        return 1
    scopes = sorted(set(args.scope or DEFAULT_KEY_SCOPES[args.kind]))
    engine = _engine()
    key, prefix, secret_hash = secrets.new_api_key()
    row = repo.create_api_key(engine, prefix=prefix, secret_hash=secret_hash, name=args.name, kind=args.kind,
                               store=args.store, scopes=scopes, created_by="cli")
    _record(engine, "api_key.created", "api_key", str(row.id), {"kind": args.kind, "scopes": scopes,
                                                                 "prefix": prefix})
    print(key)
    print(f"(id {row.id}; this key is shown only once)", file=sys.stderr)
    return 0


def verify_audit(args: argparse.Namespace) -> int:
    return audit.main(["verify"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.gateway.manage", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    staff = commands.add_parser("create-staff")
    staff.add_argument("username")
    staff.add_argument("--role", action="append", choices=STAFF_ROLES, required=True)
    staff.add_argument("--store", action="append")
    staff.set_defaults(run=create_staff)
    key = commands.add_parser("create-key")
    key.add_argument("name")
    key.add_argument("--kind", choices=("pos", "erp"), required=True)
    key.add_argument("--store")
    key.add_argument("--scope", action="append", choices=KEY_SCOPES)
    key.set_defaults(run=create_key)
    password = commands.add_parser("set-password")
    password.add_argument("username")
    password.set_defaults(run=set_password)
    commands.add_parser("verify-audit").set_defaults(run=verify_audit)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
