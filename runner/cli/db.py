"""``runner db``: create, upgrade or inspect the results database schema.

The database package is imported inside the commands, so ``runner db --help``
stays fast (and never imports torch, which the database never needs).
"""

from __future__ import annotations

import json

import click


@click.group(name="db")
def db_group() -> None:
    """Create, upgrade or inspect the results database schema.

    The database is the global --db URL (env SCRATCHLAB_DB; default
    sqlite:///runs.db).

    \b
    Examples:
      runner db current
      runner db upgrade
      runner --db postgresql+psycopg://me@localhost/scratchlab db upgrade
    """


@db_group.command(name="upgrade")
@click.pass_obj
def db_upgrade(state) -> None:
    """Create the database at the latest schema, or migrate an older one to it.

    The migration runs in one transaction: if it fails, the database is left
    as it was. A database that is not scratchlab's, or is newer than this
    scratchlab, is refused and left untouched.
    """
    from scratchlab.db import DatabaseError
    from scratchlab.db.engine import describe, parse_url
    from scratchlab.db.schema import label, upgrade

    try:
        before, after = upgrade(state.db_url)
        where = describe(parse_url(state.db_url))
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    if before.kind == "empty":
        click.echo(f"created {where} at schema {label(after.revision)}")
    elif before.revision != after.revision:
        click.echo(
            f"upgraded {where} from schema {label(before.revision)} to {label(after.revision)}"
        )
    else:
        click.echo(f"{where} is already at the latest schema {label(after.revision)}")


@db_group.command(name="current")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a sentence.")
@click.pass_obj
def db_current(state, as_json: bool) -> None:
    """Show the database's schema revision and whether it is up to date.

    Opens the database read-only: it never creates or changes anything. A
    database that is not scratchlab's, is newer than this scratchlab, has an
    incomplete version table, or has damaged pages (SQLite's quick_check) is
    an error (exit code 1).
    """
    from scratchlab.db import DatabaseError
    from scratchlab.db.engine import describe, parse_url
    from scratchlab.db.schema import current, head_revision, label, refusal, revision_title

    try:
        url = parse_url(state.db_url)
        found = current(url)
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    if found.kind in ("foreign", "newer", "incomplete"):
        # this version cannot describe it: the same one-line refusal open_store gives
        raise click.ClickException(str(refusal(found, url, read_only=True)))
    where, head = describe(url), head_revision()
    if as_json:
        payload = {
            "database": where,
            "state": found.kind,
            "revision": found.revision,
            "title": revision_title(found.revision) if found.revision else None,
            "head": head,
            "head_title": revision_title(head),
        }
        click.echo(json.dumps(payload, indent=2))
    elif found.kind == "current":
        click.echo(f"{where}: schema {label(found.revision)} (up to date)")
    elif found.kind == "old":
        click.echo(
            f"{where}: schema {label(found.revision)}, older than {label(head)}: run `runner db upgrade`"
        )
    else:
        click.echo(f"{where}: no schema yet (`runner db upgrade` or a sweep creates {label(head)})")
