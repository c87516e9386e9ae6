"""Whole result tables narrowed by a :class:`~scratchlab.reports.filters.RunFilter`,
for ``runner export`` and the terminal views.

``list_runs`` filters by everything; the other queries take run or sweep ids,
so their rows are narrowed to the runs ``list_runs`` selects (by sweep ids
alone when that is the whole filter, which needs no run list at all).
"""

from __future__ import annotations

from dataclasses import replace

from scratchlab.reports.filters import RunFilter, matches, unapplied

#: tables ``runner export`` offers
TABLES: tuple[str, ...] = ("runs", "timings", "stats", "metrics")


def filtered_run_ids(store, run_filter: RunFilter) -> list[int]:
    """Ids of the runs that pass ``run_filter``."""
    from scratchlab.db import queries

    return [int(r) for r in queries.list_runs(store, **run_filter.query_kwargs())["run_id"]]


def filtered_timings(store, run_filter: RunFilter):
    """The ``timings`` rows of the runs that pass ``run_filter``."""
    from scratchlab.db import queries

    frame = queries.timings(store, sweep_ids=list(run_filter.sweep_ids) or None)
    frame = frame[matches(frame, run_filter)]
    if run_filter.statuses or unapplied(frame, run_filter):
        frame = frame[frame["run_id"].isin(filtered_run_ids(store, run_filter))]
    return frame.reset_index(drop=True)


def load_table(store, table: str, run_filter: RunFilter):
    """One of :data:`TABLES` as a DataFrame, narrowed to the runs that pass ``run_filter``.

    Raises ``ValueError`` for an unknown table name.
    """
    from scratchlab.db import queries

    if table == "runs":
        return queries.list_runs(store, **run_filter.query_kwargs())
    if table == "timings":
        return filtered_timings(store, run_filter)
    only_sweeps = replace(run_filter, sweep_ids=()).is_empty
    if table == "stats":
        if only_sweeps:
            return queries.activation_stats(store, sweep_ids=list(run_filter.sweep_ids) or None)
        return queries.activation_stats(store, run_ids=filtered_run_ids(store, run_filter))
    if table == "metrics":
        # metrics() needs run ids: a whole database's metrics are read run by run id list
        return queries.metrics(store, run_ids=filtered_run_ids(store, run_filter))
    raise ValueError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}")


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
