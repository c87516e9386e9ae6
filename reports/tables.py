"""Whole result tables narrowed by a :class:`~scratchlab.db.filters.RunFilter`,
for ``runner export`` and the terminal views. Every query takes the filter
itself, so each table is one filtered SQL query."""

from __future__ import annotations

from scratchlab.db.filters import RunFilter

#: tables ``runner export`` offers -> the query that reads each
TABLES: dict[str, str] = {
    "runs": "list_runs",
    "timings": "timings",
    "stats": "activation_stats",
    "metrics": "metrics",
}


def load_table(store, table: str, run_filter: RunFilter):
    """One of :data:`TABLES` as a DataFrame, narrowed to the runs that pass ``run_filter``.

    Raises ``ValueError`` for an unknown table name.
    """
    from scratchlab.db import queries

    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}")
    return getattr(queries, TABLES[table])(store, run_filter)


def nan_is_missing(table: str, frame) -> list[str]:
    """Columns of a :func:`load_table` result whose NaN means "not recorded" rather
    than a NaN value: a run's params and unfinished duration, a timing's unknown
    flops or thread count. Statistics and metrics keep NaN as a value."""
    from scratchlab.reports.views.common import param_columns

    if table == "runs":
        return [*param_columns(frame), "duration_s"]
    if table == "timings":
        return ["flops", "threads", "gflops"]
    return []
