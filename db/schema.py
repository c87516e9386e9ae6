"""Which schema a database holds, creating it, and bringing an old one to head with Alembic.

Alembic is configured in code (no ``alembic.ini``): the revisions ship inside
the package in ``db/migrations/versions``. Our revision is kept in a table of
its own, ``scratchlab_version``, rather than Alembic's default
``alembic_version``: its presence is what marks a database as ours, so a
database of some other Alembic-managed application is recognised as foreign
instead of "made by a newer scratchlab".

Every check and every migration runs inside one transaction that first takes
a lock (SQLite: ``BEGIN EXCLUSIVE``; PostgreSQL: a transaction-scoped advisory
lock), so two processes opening the same new database create it once, and a
failed migration leaves the database as it was.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import URL

from scratchlab.db.dialects import lock_schema, page_problems, sqlite_path, use_wal
from scratchlab.db.engine import describe, make_engine, parse_url, transaction
from scratchlab.db.errors import (
    CorruptDatabaseError,
    DatabaseError,
    DatabaseNotFoundError,
    ForeignDatabaseError,
    NewerDatabaseError,
    OutdatedDatabaseError,
)

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The newest packaged revision. Opening a database already at this revision
#: (every read command, every app start), or creating a new one, then needs no
#: Alembic import, which costs ~0.25 s; a test keeps it equal to the migrations' head.
HEAD_REVISION = "0006"
VERSION_TABLE = "scratchlab_version"

SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class SchemaState:
    """What a database holds.

    ``kind``: ``empty`` (no tables at all), ``current`` (ours, at head),
    ``old`` (ours, an earlier revision), ``newer`` (ours, a revision this
    code does not know), ``incomplete`` (our version table, but not exactly
    one revision in it: ``revision`` lists what it holds) or ``foreign``
    (tables, but not ours).
    """

    kind: str
    revision: str | None = None
    tables: tuple[str, ...] = ()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations, optionally bound to a connection."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        # env.py runs the migrations on this connection, inside the caller's transaction
        config.attributes["connection"] = connection
    return config


@functools.cache
def script_directory() -> ScriptDirectory:
    """The packaged revisions."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The revision this code writes (the packaged migrations' head; a test keeps them equal)."""
    return HEAD_REVISION


def revision_title(revision: str | None) -> str:
    """The human title of a revision (its docstring's first line)."""
    if revision is None:
        return "no schema"
    script = script_directory().get_revision(revision)
    return (script.doc or revision).strip().splitlines()[0]


def known_revisions() -> list[str]:
    """Every packaged revision, oldest first."""
    return [script.revision for script in reversed(list(script_directory().walk_revisions()))]


def label(revision: str | None) -> str:
    """``0001 "initial schema"``: how messages name a revision."""
    return f'{revision} "{revision_title(revision)}"' if revision else "no schema"


def inspect_schema(conn: Connection) -> SchemaState:
    """Classify what the connected database holds; reads only."""
    inspector = inspect(conn)
    tables = tuple(sorted(inspector.get_table_names() + inspector.get_view_names()))
    if not tables:
        return SchemaState("empty")
    if VERSION_TABLE not in tables:
        return SchemaState("foreign", tables=tables)
    revisions = [row[0] for row in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))]
    if len(revisions) != 1:
        return SchemaState("incomplete", ",".join(map(str, revisions)) or None, tables)
    revision = revisions[0]
    if revision == HEAD_REVISION:
        return SchemaState("current", revision, tables)
    if revision in known_revisions():
        return SchemaState("old", revision, tables)
    return SchemaState("newer", ",".join(revisions) or None, tables)


def refusal(state: SchemaState, url: URL, *, read_only: bool) -> DatabaseError | None:
    """The error for a database that cannot be used as it is, or None."""
    where = describe(url)
    if state.kind == "foreign":
        shown = ", ".join(state.tables[:5]) + (", ..." if len(state.tables) > 5 else "")
        return ForeignDatabaseError(
            f"{where} is not a scratchlab results database (it holds tables {shown}); "
            "left untouched: pass another --db"
        )
    if state.kind == "incomplete":
        held = (
            f"{state.revision.count(',') + 1} revisions ({state.revision})"
            if state.revision
            else "no revision"
        )
        return CorruptDatabaseError(
            f"{where} is a scratchlab database whose {VERSION_TABLE} table holds {held} instead of one"
            " (an interrupted creation or a manual edit); left untouched: restore it from a backup or pass another --db"
        )
    if state.kind == "newer":
        return NewerDatabaseError(
            f"{where} was written by a newer scratchlab (schema revision {state.revision}, "
            f"this version knows up to {label(head_revision())}); left untouched: upgrade scratchlab"
        )
    if state.kind == "old":
        return OutdatedDatabaseError(
            f"{where} has schema revision {label(state.revision)}, this scratchlab needs "
            f"{label(head_revision())}: run `{upgrade_command(url)}`"
        )
    if state.kind == "empty" and read_only:
        return DatabaseNotFoundError(
            f"{where} holds no scratchlab results yet: run a sweep or `{upgrade_command(url)}` first"
        )
    return None


def upgrade_command(url: URL) -> str:
    """The command line that upgrades this database."""
    return f"runner --db '{url.render_as_string(hide_password=True)}' db upgrade"


def check_sqlite_file(url: URL, *, must_exist: bool) -> None:
    """Refuse a missing (when it must exist) or non-SQLite file before SQLite ever opens it."""
    path = sqlite_path(url)
    if path is None:
        return
    try:
        _check_file(path, must_exist=must_exist)
    except OSError as exc:  # a path longer than the OS allows, a folder we may not enter
        shown = (
            str(path)
            if len(str(path)) <= 80
            else f"{str(path)[:60]}... ({len(str(path))} characters)"
        )
        raise DatabaseNotFoundError(
            f"cannot use {shown} as a database: {exc.strerror or exc}; pass another --db"
        ) from None


def _check_file(path: Path, *, must_exist: bool) -> None:
    if not path.exists():
        if must_exist:
            raise DatabaseNotFoundError(
                f"no results database at {path}: run a sweep first, or pass --db"
            )
        if not path.parent.is_dir():
            raise DatabaseNotFoundError(
                f"cannot create {path}: folder {path.parent} does not exist"
            )
        return
    if not path.is_file():
        raise CorruptDatabaseError(f"{path} is not a file")
    with path.open("rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header and header != SQLITE_HEADER:
        raise CorruptDatabaseError(
            f"{path} is not a SQLite database; left untouched: pass another --db"
        )


def ensure_schema(
    engine: Engine, *, read_only: bool, upgrade: bool = False
) -> tuple[SchemaState, SchemaState]:
    """Check the schema; create it in an empty database; with ``upgrade``, migrate an old one.

    Returns the state before and after. Raises the refusal for anything else;
    a refused database is not written to.
    """
    # A plain read first: opening a database that is already at head (the
    # common case) then never waits for the lock behind a running sweep.
    with transaction(engine) as conn:
        state = inspect_schema(conn)
    if read_only or not _needs_change(state, upgrade):
        error = refusal(state, engine.url, read_only=read_only)
        if error is not None:
            raise error
        if not read_only:
            use_wal(engine)
        return state, state
    with transaction(engine, write=True, exclusive=True) as conn:
        lock_schema(conn)
        before = inspect_schema(
            conn
        )  # again, under the lock: another process may have just created it
        if before.kind == "empty":
            create_schema(conn)
            after = inspect_schema(conn)
        elif _needs_change(before, upgrade):
            from alembic import command

            command.upgrade(alembic_config(conn), "head")
            after = inspect_schema(conn)
        elif (error := refusal(before, engine.url, read_only=False)) is not None:
            raise error
        else:
            after = before
    use_wal(engine)
    return before, after


def create_schema(conn: Connection) -> None:
    """Create the head schema in an empty database: the models' tables, then the version table
    holding :data:`HEAD_REVISION`, as Alembic's own recipe for a new database does ("create_all,
    then stamp head"). No migration runs and Alembic is not imported (about 0.3 s of a new
    database's first sweep); a test keeps the result equal to what the migrations build."""
    from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table

    from scratchlab.db.models import metadata

    metadata.create_all(conn)
    # the table exactly as Alembic makes it (alembic.runtime.migration), so later migrations
    # find their version where they look for it
    version = Table(
        VERSION_TABLE,
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
    )
    version.create(conn)
    conn.execute(version.insert().values(version_num=HEAD_REVISION))


def _needs_change(state: SchemaState, upgrade: bool) -> bool:
    return state.kind == "empty" or (state.kind == "old" and upgrade)


def upgrade(url: str | URL) -> tuple[SchemaState, SchemaState]:
    """Create the database at head, or migrate an older one to head (``runner db upgrade``)."""
    url = parse_url(url)
    check_sqlite_file(url, must_exist=False)
    engine = make_engine(url)
    try:
        return ensure_schema(engine, read_only=False, upgrade=True)
    finally:
        engine.dispose()


def current(url: str | URL, *, check: bool = True) -> SchemaState:
    """What the database holds now (``runner db current``); never creates or changes anything.

    With ``check``, a SQLite file also gets SQLite's ``PRAGMA quick_check``
    (every page read; O(N), no index cross-check), and damage is a
    :class:`CorruptDatabaseError` naming the first problem.
    """
    url = parse_url(url)
    check_sqlite_file(url, must_exist=True)
    engine = make_engine(url, read_only=True)
    try:
        with transaction(engine) as conn:
            if check:
                quick_check(conn, url)
            return inspect_schema(conn)
    finally:
        engine.dispose()


def check_writable(engine: Engine) -> None:
    """Check what a sweep needs before it writes its first row; raise one line otherwise.

    SQLite's ``quick_check`` (every page read: damage in the middle of the file shows
    here, not halfway through the sweep), the schema revision (the head), and every
    table of the schema present (a dropped table). Reads only.
    """
    from scratchlab.db.models import metadata

    with transaction(engine) as conn:
        quick_check(conn, engine.url)
        state = inspect_schema(conn)
    if (error := refusal(state, engine.url, read_only=False)) is not None:
        raise error
    missing = sorted(set(metadata.tables) - set(state.tables))
    if missing:
        raise CorruptDatabaseError(
            f"{describe(engine.url)} lacks the table{'s' if len(missing) > 1 else ''}"
            f" {', '.join(missing)} of schema revision {state.revision} (dropped by hand?); left"
            " untouched: restore it from a backup or pass another --db"
        )


def quick_check(conn: Connection, url: URL) -> None:
    """Raise :class:`CorruptDatabaseError` when SQLite's ``quick_check`` finds damaged pages
    (:func:`scratchlab.db.dialects.page_problems`; nothing to check on a server)."""
    problems = page_problems(conn)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CorruptDatabaseError(
            f"{describe(url)} is damaged: SQLite's quick_check found {problems[0]!r}{more}; left untouched:"
            " restore it from a backup (`sqlite3 FILE .recover` may save what is readable)"
        )
