"""Read queries for the reports, the command line and the notebook API; each
returns a pandas DataFrame (or a plain value).

Every query over runs takes a :class:`~scratchlab.db.filters.RunFilter` as
``run_filter`` (None: every run); :mod:`scratchlab.db.scope` turns it into
SQL. Filtering, sorting, paging, downsampling and "final value" selection
happen in SQL, so a page of 50 runs or a chart of 500 points never loads a
whole table. The keyword shorthands ``sweep_ids=``, ``run_ids=``,
``statuses=``, ``experiments=`` and ``params=`` narrow the filter further.
Float columns come back with NaN for NaN (see :mod:`scratchlab.db.sqltypes`),
times as timezone-aware UTC. Queries over what runs recorded (timings,
statistics, metrics) live in :mod:`scratchlab.db.results` and are re-exported here;
what a filter widget can offer is :mod:`scratchlab.db.catalog`.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
from sqlalchemy import case, func, select

from scratchlab.core.records import DETERMINISTIC_PARAM, RUN_STATUSES, THREADS_PARAM, PlannedRun
from scratchlab.db import models as m
from scratchlab.db.engine import describe
from scratchlab.db.errors import RunNotFoundError
from scratchlab.db.filters import RUN_COLUMNS, Ids, Names, ParamFilter, RunFilter, as_filter
from scratchlab.db.histograms import activation_histograms
from scratchlab.db.params import COMPONENT, EXPERIMENT, decode
from scratchlab.db.results import (
    STAT_COLUMNS,
    TIMING_COLUMNS,
    activation_stats,
    final_metrics,
    final_metrics_wide,
    join_wide,
    metrics,
    params_long,
    params_wide,
    timing_replicates,
    timings,
)
from scratchlab.db.rows import (
    METRIC_SUFFIX,
    PARAM_SUFFIX,
    count_selected,
    page_select,
    runs_select,
)
from scratchlab.db.scope import id_in, run_clauses
from scratchlab.db.sqltypes import Damaged, seconds_between
from scratchlab.db.store import Store

SWEEP_COLUMNS = [
    "sweep_id",
    "name",
    "status",
    "started_at",
    "finished_at",
    "duration_s",
    "argv",
    "n_runs",
    *RUN_STATUSES,
]


def _timed_frame(rows, columns: list[str]) -> pd.DataFrame:
    """A frame of rows with UTC ``started_at``/``finished_at`` and ``duration_s`` computed from them."""
    records = [tuple(r) for r in rows]
    names = [c for c in columns if c != "duration_s"]
    frame = pd.DataFrame.from_records(records, columns=names)
    start, end = names.index("started_at"), names.index("finished_at")
    if any(isinstance(r[start], Damaged) or isinstance(r[end], Damaged) for r in records):
        # a damaged time stays in its column as its marked text; durations one by one
        durations = [seconds_between(r[start], r[end]) for r in records]
        frame.insert(
            columns.index("duration_s"),
            "duration_s",
            [math.nan if d is None else d for d in durations],
        )
        return frame
    for column in ("started_at", "finished_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    # computed here, exact to the microsecond; SQL computes it only to sort by it
    frame.insert(
        columns.index("duration_s"),
        "duration_s",
        (frame["finished_at"] - frame["started_at"]).dt.total_seconds(),
    )
    return frame


def _scope(
    run_filter: RunFilter | None,
    sweep_ids: Ids = None,
    statuses: Names = None,
    experiments: Names = None,
    params: Mapping[str, ParamFilter] | None = None,
    run_ids: Ids = None,
) -> RunFilter:
    return as_filter(
        run_filter,
        sweep_ids=sweep_ids,
        statuses=statuses,
        experiments=experiments,
        params=params,
        run_ids=run_ids,
    )


# -- sweeps --------------------------------------------------------------------


def list_sweeps(store: Store) -> pd.DataFrame:
    """Every sweep, newest last, with its run counts per status."""
    r = m.runs.c
    counts = (
        select(
            r.sweep_id,
            func.count().label("n_runs"),
            *(func.sum(case((r.status == s, 1), else_=0)).label(s) for s in RUN_STATUSES),
        )
        .group_by(r.sweep_id)
        .subquery()
    )
    s = m.sweeps.c
    stmt = (
        select(
            s.sweep_id,
            s.name,
            s.status,
            s.started_at,
            s.finished_at,
            s.argv_json,
            func.coalesce(counts.c.n_runs, 0),
            *(func.coalesce(counts.c[status], 0) for status in RUN_STATUSES),
        )
        .outerjoin(counts, counts.c.sweep_id == s.sweep_id)
        .order_by(s.sweep_id)
    )
    with store.read() as conn:
        frame = _timed_frame(conn.execute(stmt), SWEEP_COLUMNS)
    frame["argv"] = [shlex.join(json.loads(text)) for text in frame["argv"]]
    return frame


# -- runs ----------------------------------------------------------------------


def list_runs(
    store: Store,
    run_filter: RunFilter | None = None,
    *,
    sweep_ids: Ids = None,
    statuses: Names = None,
    experiments: Names = None,
    params: Mapping[str, ParamFilter] | None = None,
    run_ids: Ids = None,
    limit: int | None = None,
    offset: int = 0,
    order_by: str = "run_id",
    descending: bool = False,
    with_metrics: bool | Iterable[str] = False,
) -> pd.DataFrame:
    """The runs ``run_filter`` selects, one row each: the :data:`RUN_COLUMNS`, then
    one column per param name (component choices by category), then with
    ``with_metrics`` one column per final metric (True: every metric of the rows
    returned; a list: those names), holding the metric's final value.

    ``order_by`` is a run column, ``duration_s``, a param or a final metric name;
    runs without a value sort last, ties by run id. Filtering, sorting and paging
    (``limit``, ``offset``) happen in SQL; params and metrics are then read for the
    returned page only. A param or metric whose name is already a column gets a
    ``_param`` / ``_metric`` suffix. Missing values are NaN/None.
    Raises :class:`~scratchlab.db.filters.FilterError` for a name no run has.
    """
    scope = _scope(run_filter, sweep_ids, statuses, experiments, params, run_ids)
    with store.read() as conn:
        stmt = page_select(
            conn, scope, order_by=order_by, descending=descending, limit=limit, offset=offset
        )
        frame = _timed_frame(conn.execute(stmt), RUN_COLUMNS)
    ids = [int(i) for i in frame["run_id"]]
    frame = join_wide(frame, params_wide(store, ids), PARAM_SUFFIX)
    if with_metrics:
        wanted = None if with_metrics is True else list(with_metrics)
        frame = join_wide(frame, final_metrics_wide(store, ids, wanted), METRIC_SUFFIX)
    return frame


def count_runs(
    store: Store,
    run_filter: RunFilter | None = None,
    *,
    sweep_ids: Ids = None,
    statuses: Names = None,
    experiments: Names = None,
    params: Mapping[str, ParamFilter] | None = None,
    run_ids: Ids = None,
) -> int:
    """How many runs :func:`list_runs` would return with the same filter (for paging)."""
    return count_selected(
        store, _scope(run_filter, sweep_ids, statuses, experiments, params, run_ids)
    )


def component_versions(
    store: Store,
    run_filter: RunFilter | None = None,
    *,
    sweep_ids: Ids = None,
    statuses: Names = None,
    experiments: Names = None,
    params: Mapping[str, ParamFilter] | None = None,
    run_ids: Ids = None,
) -> pd.DataFrame:
    """``[run_id, category, component, version]``: the component each run used
    in each category and the version of its code then, for the runs that
    :func:`list_runs` would return with the same filter (one query). The
    experiment is a row too (category ``experiment``), where it was stored."""
    scope = _scope(run_filter, sweep_ids, statuses, experiments, params, run_ids)
    p = m.params.c
    with store.read() as conn:
        stmt = (
            select(p.run_id, p.name, p.value_text, p.version)
            .join(m.runs, m.runs.c.run_id == p.run_id)
            .where(p.kind.in_((COMPONENT, EXPERIMENT)), *run_clauses(conn, scope))
            .order_by(p.run_id, p.param_id)
        )
        rows = conn.execute(stmt).all()
    return pd.DataFrame(
        [tuple(r) for r in rows], columns=["run_id", "category", "component", "version"]
    )


# -- one run -------------------------------------------------------------------


def run_summary(store: Store, run_id: int) -> dict:
    """Everything about one run, for ``runner show`` and the run page.

    Keys: the run's columns (as in :func:`list_runs`), ``sweep_name``,
    ``components`` (category -> name), ``component_versions``, ``params``,
    ``timings`` (DataFrame), ``stats`` (last-step activation statistics,
    DataFrame), ``first_nonfinite`` (model -> first layer with non-finite
    activations, or None), ``metrics`` (name -> final value), ``reason``,
    ``note`` (a person's note, or None) and ``tags`` (its own and its sweep's, sorted).
    """
    from scratchlab.db.annotations import note_of, run_tags

    r = m.runs.c
    stmt = (
        runs_select().add_columns(m.sweeps.c.name).join(m.sweeps, m.sweeps.c.sweep_id == r.sweep_id)
    )
    with store.read() as conn:
        row = conn.execute(stmt.where(r.run_id == int(run_id))).first()
    if row is None:
        raise RunNotFoundError(f"no run {run_id} in {describe(store.engine.url)}")
    summary: dict[str, Any] = dict(
        zip([c for c in RUN_COLUMNS if c != "duration_s"] + ["sweep_name"], row, strict=True)
    )
    summary["duration_s"] = seconds_between(summary["started_at"], summary["finished_at"])
    components, versions, values = _split_params(store, [int(run_id)])[int(run_id)]
    stats = activation_stats(store, run_ids=[run_id], final_only=True)
    final = final_metrics(store, run_ids=[run_id])
    bad = stats[stats["frac_nonfinite"] > 0].sort_values(["model", "layer"])
    summary.update(
        components=components,
        component_versions=versions,
        params=values,
        timings=timings(store, run_ids=[run_id]),
        stats=stats,
        first_nonfinite={
            model: (
                bad[bad["model"] == model]["name"].iloc[0]
                if (bad["model"] == model).any()
                else None
            )
            for model in stats["model"].unique()
        },
        metrics=dict(zip(final["name"], final["value"], strict=True)),
        note=note_of(store, run_id),
        tags=run_tags(store, [run_id]).get(int(run_id), []),
    )
    return summary


def _split_params(store: Store, run_ids: list[int]) -> dict[int, tuple[dict, dict, dict]]:
    """Per run: (category -> component, category -> version, param -> value)."""
    split: dict[int, tuple[dict, dict, dict]] = {i: ({}, {}, {}) for i in run_ids}
    for run_id, name, kind, text, version in params_long(store, run_ids, with_experiment=True):
        components, versions, values = split[run_id]
        if kind == EXPERIMENT:
            if version is not None:  # runs stored before experiments had versions have none
                versions[EXPERIMENT] = version
        elif kind == COMPONENT:
            components[name] = text
            versions[name] = version
        else:
            values[name] = decode(kind, text)
    return split


def planned_runs(store: Store, run_ids: Iterable[int]) -> list[PlannedRun]:
    """Stored runs as the :class:`PlannedRun` they were planned as (components,
    params, versions), in the order of ``run_ids``; two queries however many runs
    (``runner sweep --rerun-failed`` re-plans hundreds at once).
    Raises RunNotFoundError naming the first id that is not stored."""
    ids = [int(i) for i in run_ids]
    if not ids:
        return []
    r = m.runs.c
    with store.read() as conn:
        rows = {row.run_id: row for row in conn.execute(runs_select().where(id_in(r.run_id, ids)))}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise RunNotFoundError(f"no run {missing[0]} in {describe(store.engine.url)}")
    split = _split_params(store, ids)
    # the thread count and --deterministic are params rows; no row is auto (None), not deterministic
    threads = {i: split[i][2].pop(THREADS_PARAM, None) for i in ids}
    deterministic = {i: bool(split[i][2].pop(DETERMINISTIC_PARAM, False)) for i in ids}
    return [
        PlannedRun(
            key=rows[i].key,
            experiment=rows[i].experiment,
            components=split[i][0],
            params=split[i][2],
            device=rows[i].device,
            dtype=rows[i].dtype,
            seed=int(rows[i].seed),
            repeat=int(rows[i].repeat),
            component_versions=split[i][1],
            threads=threads[i] if isinstance(threads[i], int) else None,
            deterministic=deterministic[i],
        )
        for i in ids
    ]


__all__ = [
    "RUN_COLUMNS",
    "STAT_COLUMNS",
    "SWEEP_COLUMNS",
    "TIMING_COLUMNS",
    "RunFilter",
    "activation_histograms",
    "activation_stats",
    "component_versions",
    "count_runs",
    "final_metrics",
    "list_runs",
    "list_sweeps",
    "metrics",
    "planned_runs",
    "run_summary",
    "timing_replicates",
    "timings",
]
