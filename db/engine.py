"""Engines and the one transaction helper: which database a value names, an engine for
it, a unit of work on it, and driver errors as one line.

How each backend connects (SQLite's file URI, pragmas and ``BEGIN`` modes; a
server's read-only transactions) is :mod:`scratchlab.db.dialects`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from scratchlab.core.keys import DB_ENV_VAR, DEFAULT_DB_FILE
from scratchlab.db.dialects import (
    BUSY_TIMEOUT_S,
    begin_options,
    create,
    in_memory,
    sqlite_path,
)
from scratchlab.db.errors import (
    CorruptDatabaseError,
    DatabaseError,
    DatabaseLockedError,
    DatabaseNotFoundError,
    InvalidValueError,
    ReadOnlyDatabaseError,
)


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


def describe(url: URL) -> str:
    """How messages name a database: the file path for SQLite, else the URL without password."""
    path = sqlite_path(url)
    return str(path) if path is not None else url.render_as_string(hide_password=True)


def make_engine(url: str | URL, *, read_only: bool = False) -> Engine:
    """Create the engine for ``url``; read-only engines can never create or write a SQLite file."""
    url = parse_url(url)
    if read_only and in_memory(url):
        raise InvalidValueError(
            f"{describe(url)}: a read-only store needs a database file, not an in-memory database"
        )
    try:
        return create(url, read_only=read_only)
    except (ImportError, sa_exc.NoSuchModuleError) as exc:
        raise DatabaseError(
            f"no driver for {describe(url)} ({exc}); for PostgreSQL: pip install 'scratchlab[postgres]'"
        ) from exc


@contextmanager
def transaction(
    engine: Engine, *, write: bool = False, exclusive: bool = False
) -> Iterator[Connection]:
    """One unit of work: begin, yield the connection, commit; roll back on any error.

    Driver errors come out as :class:`DatabaseError` subclasses with one line.
    On SQLite ``write`` takes the write lock at BEGIN, ``exclusive`` also
    keeps readers out (creating the schema).
    """
    try:
        with engine.connect() as conn:
            conn.execution_options(**begin_options(write=write, exclusive=exclusive))
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
