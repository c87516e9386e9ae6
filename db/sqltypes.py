"""Column types that keep floats and times exact on every backend.

``Real``: a double-precision float column that stores NaN as SQL ``NULL`` and
gives NaN back. SQLite cannot hold a NaN at all (it turns a bound NaN into
``NULL`` itself); PostgreSQL can, but then sorts NaN above every number and
treats ``NaN = NaN`` as true, so a filter such as ``value > 0.1`` would match
NaNs there and not on SQLite. Storing NULL on both makes NaN behave the same
everywhere: it never satisfies a comparison and aggregates skip it, as
pandas does. Infinities are stored natively (both backends hold IEEE
infinities). The columns using it never hold a Python ``None`` with a
different meaning, except ``timings.flops``, where "unknown" and NaN are the
same thing to a reader (both are NaN in a DataFrame).

``UTCDateTime``: timezone-aware UTC datetimes in, timezone-aware UTC
datetimes out, on SQLite (which has no time zones) as on PostgreSQL. SQLite
keeps whatever text was written, so a time edited by hand or half-written may
not parse: it is read back as :class:`Damaged` (the text, marked), so that a
listing shows that row as damaged instead of failing on it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Float
from sqlalchemy.types import TypeDecorator

from scratchlab.db.dialects import is_sqlite


def _nan_to_null(value: Any) -> Any:
    if value is not None and value != value:  # only NaN differs from itself
        return None
    return value


def _null_to_nan(value: Any) -> float:
    return math.nan if value is None else value


class Real(TypeDecorator):
    """A float column (53-bit precision) where NaN is stored as NULL and read back as NaN."""

    impl = Float(precision=53)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect) -> Any:
        """Store NaN as NULL."""
        return _nan_to_null(value)

    def process_result_value(self, value: Any, dialect) -> float:
        """Give NULL back as NaN."""
        return _null_to_nan(value)

    def bind_processor(self, dialect):
        """No per-value call on SQLite: it stores a bound NaN as NULL by itself.

        Records carry plain Python floats (see ``scratchlab.core.records``), so
        Float's float() coercion is not needed either. This column is on the
        bulk-write path, where a Python call per value cost more than SQLite
        needs to store the row.
        """
        if is_sqlite(dialect):
            return None
        return super().bind_processor(dialect)

    def process_literal_param(self, value, dialect):
        """Render a literal (offline migrations): NaN as NULL."""
        value = _nan_to_null(value)
        return "NULL" if value is None else repr(float(value))

    @property
    def python_type(self) -> type:
        """Values are Python floats."""
        return float


class Damaged(str):
    """A stored value that cannot be read as its column's type: the text as stored, shown
    as ``damaged: '<text>'`` (a ``str``, so JSON and tables print it as it is); it is no
    datetime, so no duration is computed from it (:func:`seconds_between`)."""

    @classmethod
    def of(cls, raw: Any) -> Damaged:
        """``raw`` (the stored value) marked as damaged. (pandas keeps the text of a
        ``str`` subclass but not its class: frames detect damage on the rows they are built from.)"""
        text = str(raw)
        shown = text if len(text) <= 40 else text[:37] + "..."
        return cls(f"damaged: {shown!r}")


def seconds_between(start: Any, end: Any) -> float | None:
    """``end - start`` in seconds when both are datetimes; None when either is missing or damaged."""
    if isinstance(start, datetime) and isinstance(end, datetime):
        return (end - start).total_seconds()
    return None


def _sqlite_datetime(value: Any) -> datetime | Damaged | None:
    """A SQLite DATETIME text as an aware UTC datetime, or :class:`Damaged`."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        return Damaged.of(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class UTCDateTime(TypeDecorator):
    """A datetime column that always holds UTC and always returns aware datetimes.

    Naive datetimes handed in are taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        """Normalise to UTC; SQLite gets a naive UTC value, since it cannot store an offset."""
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if is_sqlite(dialect) else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect, coltype):
        """On SQLite, parse the stored text here, a malformed one becoming :class:`Damaged`
        (SQLAlchemy's own parser raises ``ValueError`` and fails the whole query)."""
        if is_sqlite(dialect):
            return _sqlite_datetime
        return super().result_processor(dialect, coltype)

    @property
    def python_type(self) -> type:
        """Values are datetimes."""
        return datetime


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
