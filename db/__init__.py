"""The results database: schema, migrations, the write path and read queries.

::

    from scratchlab.db import open_store

    with open_store("sqlite:///runs.db") as store:
        sweep_id = store.create_sweep("demo", argv, spec, environment)

Read queries returning pandas DataFrames are in :mod:`scratchlab.db.queries`.
Nothing here imports torch.
"""

from __future__ import annotations

from scratchlab.db.errors import (
    CorruptDatabaseError,
    DatabaseError,
    DatabaseLockedError,
    DatabaseNotFoundError,
    ForeignDatabaseError,
    InvalidValueError,
    NewerDatabaseError,
    OutdatedDatabaseError,
    ReadOnlyDatabaseError,
    RunNotFoundError,
    SweepNotFoundError,
)
from scratchlab.db.schema import current, head_revision, revision_title, upgrade
from scratchlab.db.store import Store, open_store

__all__ = [
    "CorruptDatabaseError",
    "DatabaseError",
    "DatabaseLockedError",
    "DatabaseNotFoundError",
    "ForeignDatabaseError",
    "InvalidValueError",
    "NewerDatabaseError",
    "OutdatedDatabaseError",
    "ReadOnlyDatabaseError",
    "RunNotFoundError",
    "Store",
    "SweepNotFoundError",
    "current",
    "head_revision",
    "open_store",
    "revision_title",
    "upgrade",
]
