"""Read queries for the reports and the command line; each returns a pandas DataFrame.

Filtering, paging, downsampling and "last value" selection happen in SQL, so
a page of 50 runs or a chart of 500 points never loads a whole table. Float
columns come back with NaN for NaN (see :mod:`scratchlab.db.sqltypes`),
times as timezone-aware UTC.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
from sqlalchemy import Float, and_, bindparam, case, func, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.expression import FunctionElement

from scratchlab.db import models as m
from scratchlab.db.engine import describe
from scratchlab.db.errors import InvalidValueError, RunNotFoundError
from scratchlab.db.params import COMPONENT, EXPERIMENT, decode, matches
from scratchlab.db.records import RUN_STATUSES, PlannedRun
from scratchlab.db.store import Store

RUN_COLUMNS = [
    "run_id", "sweep_id", "key", "experiment", "status", "device", "dtype", "seed", "repeat",
    "started_at", "finished_at", "duration_s", "reason",
]
SWEEP_COLUMNS = [
    "sweep_id", "name", "status", "started_at", "finished_at", "duration_s", "argv", "n_runs",
    *RUN_STATUSES,
]
TIMING_COLUMNS = [
    "timing_id", "run_id", "sweep_id", "experiment", "device", "label", "shape", "n", "median",
    "iqr", "mean", "min", "max", "flops", "threads", "number_per_run", "gflops",
]
STAT_COLUMNS = [
    "run_id", "model", "layer", "name", "step", "mean", "std", "min", "max", "frac_zero", "frac_nonfinite",
]
NUMERIC_FILTER_KINDS = ("int", "float")  # bools are 1/0 in value_num but never match numbers

#: a value (equality), a ``(low, high)`` range (None for an open end) or a list of values (any of them)
ParamFilter = Any


# -- helpers -------------------------------------------------------------------


def _ids(values: int | Iterable[int] | None) -> list[int] | None:
    if values is None:
        return None
    if isinstance(values, int):
        return [values]
    return [int(v) for v in values]


def _names(values: str | Iterable[str] | None) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        return [values]
    return list(values)


def _in(column, values: list) -> ColumnElement[bool]:
    # ids are rendered inline: a selection of thousands of runs must not hit
    # SQLite's limit on bound parameters
    return column.in_(bindparam("ids", values, expanding=True, literal_execute=True, unique=True))


class seconds_between(FunctionElement):
    """Seconds from the first time column to the second, computed by the database (so sortable)."""

    type = Float()
    inherit_cache = True


@compiles(seconds_between)
def _seconds_default(element, compiler, **kw) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element, compiler, **kw) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


def _frame(store: Store, stmt: Select, columns: list[str], *, timed: bool = False) -> pd.DataFrame:
    """Run ``stmt`` and name its columns; ``timed`` frames get UTC times and ``duration_s``."""
    with store._read() as conn:
        rows = conn.execute(stmt).all()
    if not timed:
        return pd.DataFrame.from_records([tuple(r) for r in rows], columns=columns)
    frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=[c for c in columns if c != "duration_s"])
    for column in ("started_at", "finished_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    # computed here, exact to the microsecond; SQL computes it only to sort by it
    frame.insert(columns.index("duration_s"), "duration_s", (frame["finished_at"] - frame["started_at"]).dt.total_seconds())
    return frame


def _run_scope(table, run_ids, sweep_ids) -> list[ColumnElement[bool]]:
    """Clauses restricting rows of a child table to some runs and/or sweeps."""
    clauses = []
    if (ids := _ids(run_ids)) is not None:
        clauses.append(_in(table.c.run_id, ids))
    if (ids := _ids(sweep_ids)) is not None:
        clauses.append(table.c.run_id.in_(select(m.runs.c.run_id).where(_in(m.runs.c.sweep_id, ids))))
    return clauses


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
            s.sweep_id, s.name, s.status, s.started_at, s.finished_at, s.argv_json,
            func.coalesce(counts.c.n_runs, 0),
            *(func.coalesce(counts.c[status], 0) for status in RUN_STATUSES),
        )
        .outerjoin(counts, counts.c.sweep_id == s.sweep_id)
        .order_by(s.sweep_id)
    )
    frame = _frame(store, stmt, SWEEP_COLUMNS, timed=True)
    frame["argv"] = [shlex.join(json.loads(text)) for text in frame["argv"]]
    return frame


# -- runs ----------------------------------------------------------------------


def _param_clause(name: str, condition: Any) -> ColumnElement[bool]:
    p = m.params.c
    if isinstance(condition, tuple):
        if len(condition) != 2:
            raise InvalidValueError(f"param filter {name!r}: a range is a (low, high) pair, got {condition!r}")
        low, high = condition
        match = p.kind.in_(NUMERIC_FILTER_KINDS)
        if low is not None:
            match = and_(match, p.value_num >= float(low))
        if high is not None:
            match = and_(match, p.value_num <= float(high))
    elif isinstance(condition, list | set | frozenset):
        match = or_(*(_equals(value) for value in condition)) if condition else literal(False)
    else:
        match = _equals(condition)
    return m.runs.c.run_id.in_(select(p.run_id).where(p.name == name, match))


def _equals(value: Any) -> ColumnElement[bool]:
    p = m.params.c
    column, wanted = matches(value)
    if column == "value_num":
        return and_(p.kind.in_(NUMERIC_FILTER_KINDS), p.value_num == wanted)
    return p.value_text == wanted


def _run_filters(sweep_ids, statuses, experiments, params, run_ids=None) -> list[ColumnElement[bool]]:
    r = m.runs.c
    clauses = []
    if run_ids is not None:
        clauses.append(_in(r.run_id, [int(i) for i in run_ids]))
    if (ids := _ids(sweep_ids)) is not None:
        clauses.append(_in(r.sweep_id, ids))
    if (names := _names(statuses)) is not None:
        unknown = sorted(set(names) - set(RUN_STATUSES))
        if unknown:
            raise InvalidValueError(f"unknown run status {', '.join(unknown)}; expected one of {', '.join(RUN_STATUSES)}")
        clauses.append(r.status.in_(names))
    if (names := _names(experiments)) is not None:
        clauses.append(r.experiment.in_(names))
    for name, condition in (params or {}).items():
        clauses.append(_param_clause(name, condition))
    return clauses


def _run_order(store: Store, order_by: str, descending: bool):
    r = m.runs.c
    if order_by == "duration_s":
        key = seconds_between(r.started_at, r.finished_at)
    elif order_by in r and order_by != "reason":
        key = r[order_by]
    else:
        # a param: numbers sort as numbers, anything else by its text
        with store._read() as conn:
            known = conn.execute(select(m.params.c.name).where(m.params.c.name == order_by).limit(1)).first()
        if known is None:
            raise InvalidValueError(
                f"cannot order runs by {order_by!r}: not a run column ({', '.join(RUN_COLUMNS[:-1])}) nor a param"
            )
        p = m.params.c
        number = select(p.value_num).where(p.run_id == r.run_id, p.name == order_by).scalar_subquery()
        text = select(p.value_text).where(p.run_id == r.run_id, p.name == order_by).scalar_subquery()
        keys = [number, text]
        return [k.desc() for k in keys] if descending else keys
    return [key.desc() if descending else key]


def _runs_select() -> Select:
    r = m.runs.c
    return select(
        r.run_id, r.sweep_id, r.key, r.experiment, r.status, r.device, r.dtype, r.seed, r.repeat,
        r.started_at, r.finished_at, r.reason,
    )


def list_runs(
    store: Store,
    *,
    sweep_ids: Iterable[int] | int | None = None,
    statuses: Iterable[str] | str | None = None,
    experiments: Iterable[str] | str | None = None,
    params: Mapping[str, ParamFilter] | None = None,
    run_ids: Iterable[int] | None = None,
    limit: int | None = None,
    offset: int = 0,
    order_by: str = "run_id",
    descending: bool = False,
) -> pd.DataFrame:
    """Runs matching every filter, one row each, with one column per param name.

    ``run_ids`` keeps only those runs (e.g. the runs a user picked, or the
    stale ones).
    ``params`` maps a param (or component category) name to a value
    (equality), a ``(low, high)`` numeric range (inclusive, None for an open
    end) or a list of values (any of them). ``order_by`` is a run column,
    ``duration_s`` or a param name. Param columns hold the values as written
    (numbers as numbers); a run without that param has NaN/None.
    """
    r = m.runs.c
    stmt = (
        _runs_select()
        .where(*_run_filters(sweep_ids, statuses, experiments, params, run_ids))
        .order_by(*_run_order(store, order_by, descending), r.run_id.desc() if descending else r.run_id)
        .offset(offset)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    frame = _frame(store, stmt, RUN_COLUMNS, timed=True)
    wide = _params_wide(store, frame["run_id"].tolist())
    return _join_wide(frame, wide, "_param")


def count_runs(
    store: Store,
    *,
    sweep_ids: Iterable[int] | int | None = None,
    statuses: Iterable[str] | str | None = None,
    experiments: Iterable[str] | str | None = None,
    params: Mapping[str, ParamFilter] | None = None,
    run_ids: Iterable[int] | None = None,
) -> int:
    """How many runs :func:`list_runs` would return with the same filters (for paging)."""
    stmt = select(func.count()).select_from(m.runs).where(
        *_run_filters(sweep_ids, statuses, experiments, params, run_ids)
    )
    with store._read() as conn:
        return int(conn.execute(stmt).scalar_one())


def component_versions(
    store: Store,
    *,
    sweep_ids: Iterable[int] | int | None = None,
    statuses: Iterable[str] | str | None = None,
    experiments: Iterable[str] | str | None = None,
    params: Mapping[str, ParamFilter] | None = None,
    run_ids: Iterable[int] | None = None,
) -> pd.DataFrame:
    """``[run_id, category, component, version]``: the component each run used
    in each category and the version of its code then, for the runs that
    :func:`list_runs` would return with the same filters (one query). The
    experiment is a row too (category ``experiment``), where it was stored."""
    p = m.params.c
    stmt = (
        select(p.run_id, p.name, p.value_text, p.version)
        .join(m.runs, m.runs.c.run_id == p.run_id)
        .where(p.kind.in_((COMPONENT, EXPERIMENT)), *_run_filters(sweep_ids, statuses, experiments, params, run_ids))
        .order_by(p.run_id, p.param_id)
    )
    with store._read() as conn:
        rows = conn.execute(stmt).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["run_id", "category", "component", "version"])


def _params_long(store: Store, run_ids: list[int], *, components_only: bool = False) -> list[tuple]:
    """``(run_id, name, kind, value_text, version)`` rows of some runs, in insertion order
    (the experiment's version row is not a param: see :func:`component_versions`)."""
    if not run_ids:
        return []
    p = m.params.c
    stmt = select(p.run_id, p.name, p.kind, p.value_text, p.version).where(
        _in(p.run_id, run_ids), p.kind != EXPERIMENT
    )
    if components_only:
        stmt = stmt.where(p.kind == COMPONENT)
    with store._read() as conn:
        return [tuple(row) for row in conn.execute(stmt.order_by(p.param_id))]


def _params_wide(store: Store, run_ids: list[int], *, components_only: bool = False) -> pd.DataFrame:
    """One row per run (indexed by run_id), one column per param name, values decoded."""
    values: dict[str, dict[int, Any]] = {}
    for run_id, name, kind, text, _version in _params_long(store, run_ids, components_only=components_only):
        values.setdefault(name, {})[run_id] = decode(kind, text)
    frame = pd.DataFrame({name: pd.Series(column, dtype=_dtype(column.values())) for name, column in values.items()})
    frame.index.name = "run_id"
    return frame


def _join_wide(frame: pd.DataFrame, wide: pd.DataFrame, suffix: str) -> pd.DataFrame:
    """Add the per-run columns of ``wide`` to ``frame``; a name ``frame`` already has
    (a param called "device", say) gets ``suffix``."""
    if wide.empty:
        return frame
    wide = wide.rename(columns={name: f"{name}{suffix}" for name in wide.columns if name in frame.columns})
    return frame.join(wide, on="run_id")


def _dtype(values: Iterable[Any]) -> str | None:
    # keep ints and floats numeric, everything else (strings, lists, bools mixed with None) as objects
    values = list(values)
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "float64" if any(isinstance(v, float) for v in values) else "int64"
    return "object"


def param_values(
    store: Store,
    *,
    sweep_ids: Iterable[int] | int | None = None,
    experiments: Iterable[str] | str | None = None,
) -> pd.DataFrame:
    """Distinct ``(name, value)`` pairs of params and component choices, for filter widgets."""
    p = m.params.c
    stmt = (
        select(p.name, p.kind, p.value_text, p.value_num)  # value_num: PostgreSQL sorts DISTINCT rows by selected columns only
        .distinct()
        .where(p.kind != EXPERIMENT)
        .where(p.run_id.in_(select(m.runs.c.run_id).where(*_run_filters(sweep_ids, None, experiments, None))))
        .order_by(p.name, p.value_num, p.value_text)
    )
    with store._read() as conn:
        rows = conn.execute(stmt).all()
    return pd.DataFrame(
        {"name": [row[0] for row in rows], "value": pd.Series([decode(row[1], row[2]) for row in rows], dtype=object)}
    )


# -- timings -------------------------------------------------------------------


def timings(
    store: Store,
    *,
    run_ids: Iterable[int] | int | None = None,
    sweep_ids: Iterable[int] | int | None = None,
) -> pd.DataFrame:
    """Timings with their run's sweep, experiment and device, plus one column per component category.

    ``gflops`` is ``flops / median / 1e9`` (NaN where flops are unknown).
    """
    t, r = m.timings.c, m.runs.c
    stmt = (
        select(
            t.timing_id, t.run_id, r.sweep_id, r.experiment, r.device, t.label, t.shape, t.n, t.median,
            t.iqr, t.mean, t.min, t.max, t.flops, t.threads, t.number_per_run,
        )
        .join(m.runs, r.run_id == t.run_id)
        .where(*_run_scope(m.timings, run_ids, sweep_ids))
        .order_by(t.timing_id)
    )
    frame = _frame(store, stmt, TIMING_COLUMNS[:-1])
    frame["gflops"] = frame["flops"].astype(float) / frame["median"].astype(float) / 1e9
    components = _params_wide(store, sorted(set(frame["run_id"])), components_only=True)
    return _join_wide(frame, components, "_component")


def timing_replicates(store: Store, timing_ids: Iterable[int] | int) -> pd.DataFrame:
    """Every replicate (seconds per call) of some timings."""
    tr = m.timing_replicates.c
    stmt = (
        select(tr.timing_id, tr.replicate, tr.seconds)
        .where(_in(tr.timing_id, _ids(timing_ids)))
        .order_by(tr.timing_id, tr.replicate)
    )
    return _frame(store, stmt, ["timing_id", "replicate", "seconds"])


# -- activation statistics -----------------------------------------------------


def activation_stats(
    store: Store,
    *,
    run_ids: Iterable[int] | int | None = None,
    sweep_ids: Iterable[int] | int | None = None,
    models: Iterable[str] | str | None = None,
    final_only: bool = False,
) -> pd.DataFrame:
    """Per-layer activation statistics; ``final_only`` keeps each (run, model)'s last step."""
    a = m.activation_stats.c
    clauses = _run_scope(m.activation_stats, run_ids, sweep_ids)
    if (names := _names(models)) is not None:
        clauses.append(a.model.in_(names))
    stmt = select(*(a[c] for c in STAT_COLUMNS)).where(*clauses)
    if final_only:
        # steps are NULL for stats taken once; coalesce makes "no step" the only (so the last) step
        last = (
            select(a.run_id, a.model, func.max(func.coalesce(a.step, -1)).label("last"))
            .where(*clauses)
            .group_by(a.run_id, a.model)
            .subquery()
        )
        stmt = stmt.join(
            last,
            and_(last.c.run_id == a.run_id, last.c.model == a.model, last.c.last == func.coalesce(a.step, -1)),
        )
    stmt = stmt.order_by(a.run_id, a.model, a.step, a.layer)
    frame = _frame(store, stmt, STAT_COLUMNS)
    frame["step"] = frame["step"].astype("Int64")
    return frame


# -- metrics -------------------------------------------------------------------


def metrics(
    store: Store,
    *,
    run_ids: Iterable[int] | int,
    names: Iterable[str] | str | None = None,
    max_points: int | None = None,
) -> pd.DataFrame:
    """Metric histories of some runs, ordered by step.

    ``max_points`` downsamples each (run, name) series in SQL to at most that
    many points, evenly spaced by position and always keeping the first and
    the last, so a chart never loads a million points.
    """
    x = m.metrics.c
    clauses = _run_scope(m.metrics, run_ids, None)
    if (wanted := _names(names)) is not None:
        clauses.append(x.name.in_(wanted))
    if max_points is None:
        stmt = select(x.run_id, x.name, x.step, x.value).where(*clauses).order_by(x.run_id, x.name, x.step, x.metric_id)
        frame = _frame(store, stmt, ["run_id", "name", "step", "value"])
    else:
        if max_points < 2:
            raise InvalidValueError(f"max_points must be at least 2 (first and last point), got {max_points}")
        frame = _frame(store, _downsampled(clauses, max_points), ["run_id", "name", "step", "value"])
    frame["step"] = frame["step"].astype("Int64")
    return frame


def _downsampled(clauses: list[ColumnElement[bool]], max_points: int) -> Select:
    """Keep, per series of n points, the first point of each of ``max_points - 1`` equal
    position buckets plus the last point: at most ``max_points`` rows."""
    x = m.metrics.c
    window = {"partition_by": (x.run_id, x.name)}
    ranked = (
        select(
            x.run_id, x.name, x.step, x.value, x.metric_id,
            func.row_number().over(order_by=(x.step, x.metric_id), **window).label("rn"),
            func.count().over(**window).label("n"),
        )
        .where(*clauses)
        .subquery()
    )
    rn, n = ranked.c.rn, ranked.c.n
    buckets = literal(max_points - 1)

    def bucket(position):
        # floor division of integers (renders as integer "/" on SQLite and PostgreSQL)
        return (position * buckets) // func.nullif(n - 1, 0)

    keep = or_(n <= max_points, rn == 1, rn == n, bucket(rn - 1) != bucket(rn - 2))
    return (
        select(ranked.c.run_id, ranked.c.name, ranked.c.step, ranked.c.value)
        .where(keep)
        .order_by(ranked.c.run_id, ranked.c.name, ranked.c.step, ranked.c.metric_id)
    )


def final_metrics(
    store: Store,
    *,
    run_ids: Iterable[int] | int | None = None,
    sweep_ids: Iterable[int] | int | None = None,
) -> pd.DataFrame:
    """The last value (highest step, then latest written) of each metric of each run."""
    x = m.metrics.c
    ranked = (
        select(
            x.run_id, x.name, x.value,
            func.row_number()
            .over(partition_by=(x.run_id, x.name), order_by=(func.coalesce(x.step, -1).desc(), x.metric_id.desc()))
            .label("rn"),
        )
        .where(*_run_scope(m.metrics, run_ids, sweep_ids))
        .subquery()
    )
    stmt = (
        select(ranked.c.run_id, ranked.c.name, ranked.c.value)
        .where(ranked.c.rn == 1)
        .order_by(ranked.c.run_id, ranked.c.name)
    )
    return _frame(store, stmt, ["run_id", "name", "value"])


# -- one run -------------------------------------------------------------------


def run_summary(store: Store, run_id: int) -> dict:
    """Everything about one run, for ``runner show`` and the run page.

    Keys: the run's columns (as in :func:`list_runs`), ``sweep_name``,
    ``components`` (category -> name), ``component_versions``, ``params``,
    ``timings`` (DataFrame), ``stats`` (last-step activation statistics,
    DataFrame), ``first_nonfinite`` (model -> first layer with non-finite
    activations, or None), ``metrics`` (name -> final value), ``reason``.
    """
    r = m.runs.c
    stmt = _runs_select().add_columns(m.sweeps.c.name).join(m.sweeps, m.sweeps.c.sweep_id == r.sweep_id)
    with store._read() as conn:
        row = conn.execute(stmt.where(r.run_id == int(run_id))).first()
    if row is None:
        raise RunNotFoundError(f"no run {run_id} in {describe(store.engine.url)}")
    summary: dict[str, Any] = dict(zip([c for c in RUN_COLUMNS if c != "duration_s"] + ["sweep_name"], row, strict=True))
    started, finished = summary["started_at"], summary["finished_at"]
    summary["duration_s"] = (finished - started).total_seconds() if started and finished else None
    components, versions, values = {}, {}, {}
    for _, name, kind, text, version in _params_long(store, [int(run_id)]):
        if kind == COMPONENT:
            components[name] = text
            versions[name] = version
        else:
            values[name] = decode(kind, text)
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
            model: (bad[bad["model"] == model]["name"].iloc[0] if (bad["model"] == model).any() else None)
            for model in stats["model"].unique()
        },
        metrics=dict(zip(final["name"], final["value"], strict=True)),
    )
    return summary


def experiment_names(store: Store, *, sweep_ids: Iterable[int] | int | None = None) -> list[str]:
    """The experiments that have runs in ``sweep_ids`` (every sweep when None), sorted."""
    r = m.runs.c
    stmt = select(r.experiment).distinct().order_by(r.experiment)
    if (ids := _ids(sweep_ids)) is not None:
        stmt = stmt.where(_in(r.sweep_id, ids))
    with store._read() as conn:
        return list(conn.execute(stmt).scalars())


#: what a report page plots -> the rows that hold it
DATA_KINDS: dict[str, Any] = {
    "timings": lambda: select(m.timings.c.run_id),
    "stats": lambda: select(m.activation_stats.c.run_id),
    # curves: metrics recorded per step (a step-less metric is a single number)
    "curves": lambda: select(m.metrics.c.run_id).where(m.metrics.c.step.is_not(None)),
}


def data_coverage(store: Store, kind: str, *, sweep_ids: Iterable[int] | int | None = None) -> pd.DataFrame:
    """``[sweep_id, experiment]``: the pairs with at least one run that recorded
    data of ``kind`` (one of :data:`DATA_KINDS`), newest sweep first, in one query
    (an index lookup per run, so a page can find its data without reading it)."""
    if kind not in DATA_KINDS:
        raise InvalidValueError(f"unknown kind of data {kind!r}; expected one of {', '.join(DATA_KINDS)}")
    r = m.runs.c
    rows = DATA_KINDS[kind]().subquery()
    stmt = (
        select(r.sweep_id, r.experiment)
        .distinct()
        .where(select(rows.c.run_id).where(rows.c.run_id == r.run_id).exists())
        .order_by(r.sweep_id.desc(), r.experiment)
    )
    if (ids := _ids(sweep_ids)) is not None:
        stmt = stmt.where(_in(r.sweep_id, ids))
    with store._read() as conn:
        return pd.DataFrame([tuple(row) for row in conn.execute(stmt)], columns=["sweep_id", "experiment"])


def planned_runs(store: Store, run_ids: Iterable[int]) -> list[PlannedRun]:
    """Stored runs as the :class:`PlannedRun` they were planned as (components,
    params, versions), in the order of ``run_ids``; two queries however many runs
    (``runner sweep --rerun-failed`` re-plans hundreds at once).
    Raises RunNotFoundError naming the first id that is not stored."""
    ids = [int(i) for i in run_ids]
    if not ids:
        return []
    r = m.runs.c
    with store._read() as conn:
        rows = {row.run_id: row for row in conn.execute(_runs_select().where(_in(r.run_id, ids)))}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise RunNotFoundError(f"no run {missing[0]} in {describe(store.engine.url)}")
    components: dict[int, dict[str, str]] = {i: {} for i in ids}
    versions: dict[int, dict[str, str]] = {i: {} for i in ids}
    values: dict[int, dict[str, Any]] = {i: {} for i in ids}
    for run_id, name, kind, text, version in _params_long(store, ids):
        if kind == COMPONENT:
            components[run_id][name] = text
            versions[run_id][name] = version
        else:
            values[run_id][name] = decode(kind, text)
    return [
        PlannedRun(
            key=rows[i].key,
            experiment=rows[i].experiment,
            components=components[i],
            params=values[i],
            device=rows[i].device,
            dtype=rows[i].dtype,
            seed=int(rows[i].seed),
            repeat=int(rows[i].repeat),
            component_versions=versions[i],
        )
        for i in ids
    ]


__all__ = [
    "activation_stats",
    "component_versions",
    "count_runs",
    "data_coverage",
    "experiment_names",
    "final_metrics",
    "list_runs",
    "list_sweeps",
    "metrics",
    "param_values",
    "planned_runs",
    "run_summary",
    "timing_replicates",
    "timings",
]
