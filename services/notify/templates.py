"""Message templates per kind, channel and locale: kept, checked, and previewed."""
from __future__ import annotations

from typing import Any

from contracts.errors import InvalidInput, NotFound
from contracts.notify import Preview, PreviewOut, Template
from service_runtime.db import WorkerDb
from services.notify import domain, repo


def save(db: WorkerDb, cmd: Template, editor: str | None) -> Any:
    domain.check_key(cmd.key)
    domain.check_template(cmd.key, cmd.subject, cmd.body)
    with db.transaction() as tx:
        return repo.save_template(tx, cmd.key, cmd.channel, cmd.locale, cmd.subject, cmd.body, editor)


def get(db: WorkerDb, key: str, channel: str, locale: str) -> Any:
    with db.transaction() as tx:
        row = repo.get_template(tx, key, channel, locale)
    if row is None:
        raise NotFound(f"no template {key}/{channel}/{locale}", "key")
    return row


def listed(db: WorkerDb, key: str | None) -> list[Any]:
    with db.transaction() as tx:
        return repo.list_templates(tx, key)


def delete(db: WorkerDb, key: str, channel: str, locale: str) -> bool:
    with db.transaction() as tx:
        return repo.delete_template(tx, key, channel, locale)


def preview(db: WorkerDb, cmd: Preview) -> PreviewOut:
    """A saved template, or a draft (subject/body given), rendered with the variables given; a variable
    the kind of message never has is refused like at save time; one left out is named."""
    domain.check_key(cmd.key)
    subject, body = cmd.subject, cmd.body
    if body is None:
        with db.transaction() as tx:
            row = repo.find_template(tx, cmd.key, cmd.channel, cmd.locale)
        if row is None:
            raise NotFound(f"no template {cmd.key}/{cmd.channel}/{cmd.locale}", "key")
        subject, body = row.subject, row.body
    domain.check_template(cmd.key, subject, body)
    allowed = domain.KIND_VARIABLES[domain.kind_of(cmd.key)]
    for name in cmd.variables:
        if name not in allowed:
            raise InvalidInput(f"{cmd.key} messages have no variable {name!r}", f"variables.{name}")
    try:
        return PreviewOut(subject=domain.render(subject, dict(cmd.variables)) if subject else None,
                          body=domain.render(body, dict(cmd.variables)))
    except domain.MissingVariable as exc:
        raise InvalidInput(f"give a value for {exc.name!r}", f"variables.{exc.name}") from None
