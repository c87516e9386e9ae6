"""Errors the results database raises.

Every error is a :class:`DatabaseError` whose message is one line a user can
act on, so the command line shows ``str(exc)`` and nothing else. The original
driver exception, where there is one, is kept as ``__cause__`` for debugging.
"""

from __future__ import annotations


class DatabaseError(Exception):
    """Base of every error raised by :mod:`scratchlab.db`; the message is one actionable line."""


class DatabaseNotFoundError(DatabaseError):
    """A read-only open (or ``runner db current``) named a database that does not exist."""


class CorruptDatabaseError(DatabaseError):
    """The file is not a SQLite database, or SQLite reports it as damaged."""


class ForeignDatabaseError(DatabaseError):
    """The database holds tables, but it is not a scratchlab results database."""


class OutdatedDatabaseError(DatabaseError):
    """The database was made by an older scratchlab: ``runner db upgrade`` brings it up to date."""


class NewerDatabaseError(DatabaseError):
    """The database was made by a newer scratchlab than the one running."""


class ReadOnlyDatabaseError(DatabaseError):
    """A write was attempted through a store opened read-only (or on a read-only file)."""


class DatabaseLockedError(DatabaseError):
    """Another process held the database longer than the busy timeout."""


class SweepInUseError(DatabaseError):
    """Another live process is running the sweep (``--resume`` of a sweep that has not stopped)."""


class SweepNotFoundError(DatabaseError, LookupError):
    """No sweep has the requested id."""


class RunNotFoundError(DatabaseError, LookupError):
    """No run has the requested id."""


class InvalidValueError(DatabaseError, ValueError):
    """A value cannot be stored as given (unknown status, unsupported parameter type, bad filter)."""
