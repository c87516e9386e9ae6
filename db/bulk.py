"""Bulk inserts: a Core ``insert()`` compiled once, executed with the driver's ``executemany``.

``conn.execute(insert(table), list_of_dicts)`` spends about 3 µs per row in
SQLAlchemy building and processing each row's parameter dict, three times
what SQLite needs to store the row; with ~500 rows per run that was most of
the write path (benchmarks/db_write.py measured it at 36% of raw sqlite3).
Here the statement is still built and compiled by Core for the connection's
dialect and runs on the Core connection (its transaction, events and error
wrapping), and every value still goes through its column type's bind
processor where the type has one for this dialect (``Real`` on PostgreSQL);
only the per-row dict handling is skipped: rows are tuples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert

_cache: dict[tuple[str, str, tuple[str, ...]], tuple[str, bool, tuple[str, ...], list]] = {}


def _compiled(
    conn: Connection, table: Table, columns: tuple[str, ...]
) -> tuple[str, bool, tuple[str, ...], list]:
    """SQL text, whether it is positional, the parameter order and the columns' bind processors."""
    dialect = conn.dialect
    key = (dialect.name, table.name, columns)
    if key not in _cache:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        order = tuple(compiled.positiontup) if compiled.positional else columns
        processors = [table.c[name].type.bind_processor(dialect) for name in columns]
        _cache[key] = (compiled.string, compiled.positional, order, processors)
    return _cache[key]


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` (tuples of values for ``columns``, in that order) into ``table``."""
    if not rows:
        return
    columns = tuple(columns)
    sql, positional, order, processors = _compiled(conn, table, columns)
    if any(processors):
        rows = [
            tuple(
                value if proc is None else proc(value)
                for proc, value in zip(processors, row, strict=True)
            )
            for row in rows
        ]
    if positional:
        if order != columns:
            index = [columns.index(name) for name in order]
            rows = [tuple(row[i] for i in index) for row in rows]
        conn.exec_driver_sql(sql, rows)
    else:
        conn.exec_driver_sql(sql, [dict(zip(order, row, strict=True)) for row in rows])
