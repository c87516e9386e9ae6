"""Engine setup and the one transaction helper: the only place that talks to drivers.

SQLite gets WAL (set once on a database we own, see :mod:`.schema`), foreign
keys on, a busy timeout and ``synchronous=NORMAL`` on every connection. The
driver's own transaction handling is switched off and SQLAlchemy emits the
``BEGIN`` (SQLAlchemy's documented recipe): DDL is then transactional, and a
write transaction starts with ``BEGIN IMMEDIATE``, taking the write lock up
front, so two writers queue on the busy timeout instead of one of them failing
with "database is locked" when it upgrades a read lock.

Read-only stores open SQLite through a ``file:...?mode=ro`` URI, which can
neither create nor write the file (``immutable=1`` in a folder the reader
cannot write, where WAL's shared memory cannot be created); other backends get
read-only transactions where the driver supports them.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from scratchlab.core.keys import DB_ENV_VAR, DEFAULT_DB_FILE
from scratchlab.db.errors import (
    CorruptDatabaseError,
    DatabaseError,
    DatabaseLockedError,
    DatabaseNotFoundError,
    InvalidValueError,
    ReadOnlyDatabaseError,
)

log = logging.getLogger(__name__)

#: seconds a connection waits for another process's lock before giving up
BUSY_TIMEOUT_S = 60.0

#: execution option naming the SQLite BEGIN mode of a transaction
BEGIN_OPTION = "scratchlab_sqlite_begin"


def resolve_url(
    value: str | os.PathLike[str] | None,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> str:
    """The results database's SQLAlchemy URL: the one rule for the CLI, the engine, the
    notebook API and the app.

    ``value`` (``--db``, a ``db=`` argument) wins; when it is None or empty,
    ``SCRATCHLAB_DB`` from ``environ``; when that is unset or empty too,
    ``runs.db`` in ``cwd``. An empty value counts as unset everywhere (as click
    treats an empty environment variable), so ``SCRATCHLAB_DB=`` never means an
    in-memory database. A URL (anything with ``://``) is returned as given; a
    plain file path becomes ``sqlite:///<absolute path>``, relative to ``cwd``
    (default: the working directory), so a worker or the app started elsewhere
    opens the same file.
    """
    environ = os.environ if environ is None else environ
    text = os.fspath(value) if value is not None else ""
    text = text or environ.get(DB_ENV_VAR, "") or DEFAULT_DB_FILE
    if "://" in text:
        return text
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = Path(cwd if cwd is not None else Path.cwd()) / path
    return f"sqlite:///{path}"


def parse_url(url: str | URL) -> URL:
    """Parse a SQLAlchemy URL, or raise one clear line."""
    if isinstance(url, URL):
        return url
    try:
        return make_url(url)
    except sa_exc.ArgumentError:
        raise InvalidValueError(
            f"not a database URL: {url!r} (expected e.g. sqlite:///runs.db "
            "or postgresql+psycopg://user@host/dbname)"
        ) from None


def sqlite_path(url: URL) -> Path | None:
    """The absolute file path of a file-backed SQLite URL; None for memory or other backends."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def describe(url: URL) -> str:
    """How messages name a database: the file path for SQLite, else the URL without password."""
    path = sqlite_path(url)
    return str(path) if path is not None else url.render_as_string(hide_password=True)


def make_engine(url: str | URL, *, read_only: bool = False) -> Engine:
    """Create the engine for ``url``; read-only engines can never create or write a SQLite file."""
    url = parse_url(url)
    path = sqlite_path(url)
    if url.get_backend_name() == "sqlite":
        if path is None and read_only:
            raise InvalidValueError(
                f"{describe(url)}: a read-only store needs a database file, not an in-memory database"
            )
        engine = _sqlite_engine(url, path, read_only=read_only)
    else:
        try:
            engine = create_engine(url, pool_pre_ping=True)
        except (ImportError, sa_exc.NoSuchModuleError) as exc:
            raise DatabaseError(
                f"no driver for {describe(url)} ({exc}); for PostgreSQL: pip install 'scratchlab[postgres]'"
            ) from exc
        if read_only and url.get_backend_name() == "postgresql":
            engine = engine.execution_options(postgresql_readonly=True)
    return engine


def _sqlite_engine(url: URL, path: Path | None, *, read_only: bool) -> Engine:
    if path is None:
        # One shared connection, or every checkout would see its own empty memory database.
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


@contextmanager
def transaction(
    engine: Engine, *, write: bool = False, exclusive: bool = False
) -> Iterator[Connection]:
    """One unit of work: begin, yield the connection, commit; roll back on any error.

    Driver errors come out as :class:`DatabaseError` subclasses with one line.
    On SQLite ``write`` takes the write lock at BEGIN, ``exclusive`` also
    keeps readers out (creating the schema).
    """
    mode = "EXCLUSIVE" if exclusive else "IMMEDIATE" if write else "DEFERRED"
    try:
        with engine.connect() as conn:
            conn.execution_options(**{BEGIN_OPTION: mode})
            with conn.begin():
                yield conn
    except sa_exc.DBAPIError as exc:
        raise translate(exc, engine.url) from exc


def translate(exc: sa_exc.DBAPIError, url: URL) -> DatabaseError:
    """Turn a driver error into a one-line :class:`DatabaseError` naming the database."""
    where = describe(url)
    original = exc.orig if exc.orig is not None else exc
    first_line = (str(original).strip().splitlines() or [type(original).__name__])[0]
    lowered = first_line.lower()
    if "readonly" in lowered or "read-only" in lowered or "read only" in lowered:
        return ReadOnlyDatabaseError(f"{where} is read-only here: {first_line}")
    if "locked" in lowered or "busy" in lowered:
        return DatabaseLockedError(
            f"{where} stayed locked by another process for {BUSY_TIMEOUT_S:.0f} s: {first_line}"
        )
    if "not a database" in lowered or "malformed" in lowered or "encrypted" in lowered:
        return CorruptDatabaseError(
            f"{where} is not a usable SQLite database ({first_line}); left untouched"
        )
    if "unable to open database file" in lowered:
        return DatabaseNotFoundError(
            f"cannot open {where}: {first_line} (does the folder exist, is it writable?)"
        )
    if isinstance(exc, sa_exc.IntegrityError):
        return DatabaseError(f"{where}: rejected by a constraint: {first_line}")
    return DatabaseError(f"{where}: {first_line}")
