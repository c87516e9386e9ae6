"""Where SQLite and PostgreSQL differ: every dialect branch of :mod:`scratchlab.db`, one
small function each, so the other modules never test a backend's name.

- connecting: SQLite opens its file through a ``file:`` URI (read-only stores
  with ``mode=ro``, or ``immutable=1`` where that cannot open), with foreign
  keys on, a busy timeout, ``synchronous=NORMAL``, and SQLAlchemy emitting the
  ``BEGIN`` (SQLAlchemy's documented recipe): DDL is then transactional, and a
  write transaction starts with ``BEGIN IMMEDIATE``, taking the write lock up
  front, so two writers queue on the busy timeout instead of one of them failing
  with "database is locked" when it upgrades a read lock
  (:func:`create`, :func:`sqlite_engine`, :func:`begin_options`); a server gets pre-pinged
  connections and, read-only, read-only transactions (:func:`server_engine`);
- which URL names a file (:func:`sqlite_path`) and which a database no other
  process can see (:func:`in_memory`);
- schema changes: serialised by SQLite's ``BEGIN EXCLUSIVE`` and by a
  transaction-scoped advisory lock on PostgreSQL (:func:`lock_schema`); WAL
  for a SQLite file (:func:`use_wal`); SQLite's page check (:func:`page_problems`);
- SQL: insert-unless-present (:func:`insert_ignoring_duplicates`), seconds
  between two time columns (:class:`seconds_between`);
- column types: :func:`is_sqlite` for the two per-type storage rules of
  :mod:`scratchlab.db.sqltypes` (SQLite stores a bound NaN as NULL itself and
  keeps datetimes as naive text).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, Table, create_engine, event, insert, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import Float

log = logging.getLogger(__name__)

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

#: seconds a connection waits for another process's lock before giving up
BUSY_TIMEOUT_S = 60.0
#: execution option naming the SQLite BEGIN mode of a transaction
BEGIN_OPTION = "scratchlab_sqlite_begin"
#: advisory-lock key serialising schema changes on PostgreSQL ("scratchl" in ASCII)
PG_LOCK_KEY = 0x7363726174636C


def is_sqlite(dialect: Dialect) -> bool:
    """True for SQLite's dialect (what a column type is handed at bind and result time)."""
    return dialect.name == SQLITE


# -- which database a URL names ---------------------------------------------------


def sqlite_path(url: URL) -> Path | None:
    """The absolute file path of a file-backed SQLite URL; None for memory or other backends."""
    if url.get_backend_name() != SQLITE:
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def in_memory(url: URL) -> bool:
    """True for an in-memory SQLite database: one connection no other process can see."""
    return url.get_backend_name() == SQLITE and sqlite_path(url) is None


# -- connecting -------------------------------------------------------------------


def begin_options(*, write: bool, exclusive: bool) -> dict[str, str]:
    """Execution options of a transaction: on SQLite ``write`` takes the write lock at
    BEGIN, ``exclusive`` also keeps readers out (creating the schema); other backends
    ignore them."""
    return {BEGIN_OPTION: "EXCLUSIVE" if exclusive else "IMMEDIATE" if write else "DEFERRED"}


def create(url: URL, *, read_only: bool) -> Engine:
    """The engine of ``url``: :func:`sqlite_engine` or :func:`server_engine`."""
    if url.get_backend_name() == SQLITE:
        return sqlite_engine(url, read_only=read_only)
    return server_engine(url, read_only=read_only)


def server_engine(url: URL, *, read_only: bool) -> Engine:
    """The engine of a database server; read-only transactions on PostgreSQL when ``read_only``."""
    engine = create_engine(url, pool_pre_ping=True)
    if read_only and url.get_backend_name() == POSTGRESQL:
        engine = engine.execution_options(postgresql_readonly=True)
    return engine


def sqlite_engine(url: URL, *, read_only: bool) -> Engine:
    """The engine of a SQLite URL, set up as the module docstring says (memory: one shared
    connection, or every checkout would see its own empty database)."""
    path = sqlite_path(url)
    if path is None:
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        target = f"file:{quote(str(path))}?" + (_read_only_query(path) if read_only else "mode=rwc")

        def connect() -> sqlite3.Connection:
            # isolation_level=None: SQLAlchemy emits BEGIN itself (see module docstring);
            # check_same_thread=False: the pool hands connections to Streamlit's threads.
            return sqlite3.connect(
                target,
                uri=True,
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )

        engine = create_engine(url, creator=connect)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _read_only_query(path: Path) -> str:
    """``mode=ro``, or ``immutable=1`` where ``mode=ro`` cannot open the file.

    Reading a WAL database needs its ``-shm`` file, which SQLite creates
    beside the database: in a folder the reader cannot write (another user's
    results, a read-only mount) a plain ``mode=ro`` open fails with "unable to
    open database file". ``immutable=1`` then reads the main file without
    locks or the WAL; a one-line warning says what that can miss.
    """
    if os.access(path.parent, os.W_OK) or not path.exists():
        return "mode=ro"
    try:
        with closing(sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)) as probe:
            probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return "mode=ro"
    except sqlite3.DatabaseError as exc:
        if "unable to open" not in str(exc) and "readonly" not in str(exc):
            return "mode=ro"  # not a locking problem: the normal open reports it
    wal = path.with_name(path.name + "-wal")
    pending = wal.stat().st_size if wal.exists() else 0
    log.warning(
        "%s: opened as immutable, since SQLite cannot share locks in its unwritable folder; %s",
        path,
        f"{pending} bytes in its -wal file are not read: the data may be stale"
        if pending
        else "a sweep writing to it meanwhile will not show",
    )
    return "immutable=1"


# -- the schema -------------------------------------------------------------------


def lock_schema(conn: Connection) -> None:
    """Serialise schema changes for the rest of the transaction: PostgreSQL takes an
    advisory lock; SQLite holds the database already (``BEGIN EXCLUSIVE``)."""
    if conn.dialect.name == POSTGRESQL:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})


def use_wal(engine: Engine) -> None:
    """Put a SQLite file we own into WAL mode (a persistent property of the file)."""
    if sqlite_path(engine.url) is None:
        return
    with engine.connect() as conn:
        # journal_mode cannot change inside a transaction: run it on the bare driver connection
        raw = conn.connection.driver_connection
        if raw.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            raw.execute("PRAGMA journal_mode=WAL")


def page_problems(conn: Connection) -> list[str]:
    """SQLite's ``quick_check`` (every page read; O(N), no index cross-check): up to 20
    problems, ``[]`` for a sound file; ``[]`` on a server, which checks its own pages."""
    if not is_sqlite(conn.dialect):
        return []
    try:
        problems = [row[0] for row in conn.exec_driver_sql("PRAGMA quick_check(20)")]
    except sa_exc.DatabaseError as exc:  # pages so damaged that the check itself cannot go on
        problems = [str(exc.orig or exc).strip().splitlines()[0]]
    return [] if problems == ["ok"] else problems


# -- SQL --------------------------------------------------------------------------


def insert_ignoring_duplicates(
    conn: Connection, table: Table, row: dict[str, Any], key: Sequence[str]
) -> None:
    """Insert ``row`` unless a row with the same unique ``key`` columns is there already
    (another writer's row wins a race): ``ON CONFLICT DO NOTHING`` where the dialect has
    it, else a look first."""
    if conn.dialect.name == POSTGRESQL:
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif conn.dialect.name == SQLITE:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:
        same = select(table).where(*(table.c[name] == row[name] for name in key))
        if conn.execute(same).first() is None:
            conn.execute(insert(table).values(**row))
        return
    conn.execute(dialect_insert(table).values(**row).on_conflict_do_nothing())


class seconds_between(FunctionElement):
    """Seconds from the first time column to the second, computed by the database (so sortable)."""

    type = Float()
    inherit_cache = True


@compiles(seconds_between)
def _seconds_default(element, compiler, **kw) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


@compiles(seconds_between, SQLITE)
def _seconds_sqlite(element, compiler, **kw) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"
