"""Read queries over what runs recorded: timings and their replicates,
activation statistics and metrics. Each takes a
:class:`~scratchlab.db.filters.RunFilter` (``run_filter``; None: every run),
applied in SQL by :mod:`scratchlab.db.scope`, and returns a pandas DataFrame.
They are re-exported by :mod:`scratchlab.db.queries`, the module callers use.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.sql import ColumnElement, Select

from scratchlab.db import models as m
from scratchlab.db.errors import InvalidValueError
from scratchlab.db.filters import RunFilter, as_filter
from scratchlab.db.params import COMPONENT, decode
from scratchlab.db.recording import STAT_COLUMNS
from scratchlab.db.rows import final_values, params_long
from scratchlab.db.scope import id_in, run_ids_in
from scratchlab.db.store import Store

TIMING_COLUMNS = [
    "timing_id",
    "run_id",
    "sweep_id",
    "experiment",
    "device",
    "label",
    "shape",
    "n",
    "median",
    "iqr",
    "mean",
    "min",
    "max",
    "flops",
    "threads",
    "number_per_run",
    "quality",
    "quality_json",
    "gflops",
]
METRIC_COLUMNS = ["run_id", "name", "step", "value"]
#: ``DataFrame.attrs`` key listing the columns of a runs or timings frame that are
#: component categories (built-in or from a plugin), in order: ``frame.attrs["categories"]``
CATEGORIES_ATTR = "categories"


def names(values: str | Iterable[str] | None) -> list[str] | None:
    """A name or names as a list (None stays None: no restriction)."""
    if values is None:
        return None
    if isinstance(values, str):
        return [values]
    return list(values)


def frame(rows, columns: list[str]) -> pd.DataFrame:
    """A DataFrame of result rows with the given column names."""
    return pd.DataFrame.from_records([tuple(r) for r in rows], columns=columns)


# -- params as columns -----------------------------------------------------------


def params_wide(store: Store, run_ids: list[int], *, components_only: bool = False) -> pd.DataFrame:
    """One row per run (indexed by run_id), one column per param name, values decoded."""
    values: dict[str, dict[int, Any]] = {}
    categories: dict[str, None] = {}
    for run_id, name, kind, text, _version in params_long(
        store, run_ids, components_only=components_only
    ):
        values.setdefault(name, {})[run_id] = decode(kind, text)
        if kind == COMPONENT:
            categories[name] = None
    wide = pd.DataFrame(
        {name: pd.Series(column, dtype=_dtype(column.values())) for name, column in values.items()}
    )
    wide.index.name = "run_id"
    wide.attrs[CATEGORIES_ATTR] = list(categories)
    return wide


def join_wide(table: pd.DataFrame, wide: pd.DataFrame, suffix: str) -> pd.DataFrame:
    """Add the per-run columns of ``wide`` to ``table``; a name ``table`` already has
    (a param called "device", say) gets ``suffix``. The result's
    ``attrs["categories"]`` lists its component-category columns."""
    categories = list(table.attrs.get(CATEGORIES_ATTR, []))
    if not wide.empty:
        renamed = {name: f"{name}{suffix}" for name in wide.columns if name in table.columns}
        categories += [renamed.get(c, c) for c in wide.attrs.get(CATEGORIES_ATTR, [])]
        table = table.join(wide.rename(columns=renamed), on="run_id")
    table.attrs[CATEGORIES_ATTR] = categories
    return table


def _dtype(values: Iterable[Any]) -> str:
    # keep ints and floats numeric, everything else (strings, lists, bools mixed with None) as objects
    values = list(values)
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "float64" if any(isinstance(v, float) for v in values) else "int64"
    return "object"


# -- timings -------------------------------------------------------------------


def timings(
    store: Store,
    run_filter: RunFilter | None = None,
    *,
    run_ids: Iterable[int] | int | None = None,
    sweep_ids: Iterable[int] | int | None = None,
) -> pd.DataFrame:
    """Timings of the runs ``run_filter`` selects, with their run's sweep, experiment
    and device, plus one column per component category.

    ``gflops`` is ``flops / median / 1e9`` (NaN where flops are unknown).
    ``run_ids``/``sweep_ids`` narrow the filter further (shorthands).
    """
    scope = as_filter(run_filter, run_ids=run_ids, sweep_ids=sweep_ids)
    t, r = m.timings.c, m.runs.c
    with store.read() as conn:
        stmt = (
            select(
                t.timing_id,
                t.run_id,
                r.sweep_id,
                r.experiment,
                r.device,
                t.label,
                t.shape,
                t.n,
                t.median,
                t.iqr,
                t.mean,
                t.min,
                t.max,
                t.flops,
                t.threads,
                t.number_per_run,
                t.quality,
                t.quality_json,
            )
            .join(m.runs, r.run_id == t.run_id)
            .where(*run_ids_in(conn, t.run_id, scope))
            .order_by(t.timing_id)
        )
        table = frame(conn.execute(stmt), TIMING_COLUMNS[:-1])
    table["gflops"] = table["flops"].astype(float) / table["median"].astype(float) / 1e9
    components = params_wide(store, sorted(set(table["run_id"])), components_only=True)
    return join_wide(table, components, "_component")


def timing_replicates(store: Store, timing_ids: Iterable[int] | int) -> pd.DataFrame:
    """Every replicate (seconds per call) of some timings."""
    tr = m.timing_replicates.c
    ids = [int(timing_ids)] if isinstance(timing_ids, int) else [int(i) for i in timing_ids]
    stmt = select(tr.timing_id, tr.replicate, tr.seconds).where(id_in(tr.timing_id, ids))
    with store.read() as conn:
        return frame(
            conn.execute(stmt.order_by(tr.timing_id, tr.replicate)),
            ["timing_id", "replicate", "seconds"],
        )


# -- activation statistics -----------------------------------------------------


def activation_stats(
    store: Store,
    run_filter: RunFilter | None = None,
    *,
    run_ids: Iterable[int] | int | None = None,
    sweep_ids: Iterable[int] | int | None = None,
    models: Iterable[str] | str | None = None,
    final_only: bool = False,
) -> pd.DataFrame:
    """Per-layer activation statistics of the runs ``run_filter`` selects;
    ``final_only`` keeps each (run, model)'s last step."""
    scope = as_filter(run_filter, run_ids=run_ids, sweep_ids=sweep_ids)
    a = m.activation_stats.c
    with store.read() as conn:
        clauses = run_ids_in(conn, a.run_id, scope)
        if (wanted := names(models)) is not None:
            clauses.append(a.model.in_(wanted))
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
                and_(
                    last.c.run_id == a.run_id,
                    last.c.model == a.model,
                    last.c.last == func.coalesce(a.step, -1),
                ),
            )
        table = frame(
            conn.execute(stmt.order_by(a.run_id, a.model, a.step, a.layer)), list(STAT_COLUMNS)
        )
    table["step"] = table["step"].astype("Int64")
    return table


# -- metrics -------------------------------------------------------------------


def metrics(
    store: Store,
    run_filter: RunFilter | None = None,
    *,
    run_ids: Iterable[int] | int | None = None,
    sweep_ids: Iterable[int] | int | None = None,
    names: Iterable[str] | str | None = None,
    max_points: int | None = None,
) -> pd.DataFrame:
    """Metric histories of the runs ``run_filter`` selects, ordered by step.

    ``names`` keeps those metrics. ``max_points`` downsamples each (run, name)
    series in SQL to at most that many points, evenly spaced by position and
    always keeping the first and the last, so a chart never loads a million points.
    """
    if max_points is not None and max_points < 2:
        raise InvalidValueError(
            f"max_points must be at least 2 (first and last point), got {max_points}"
        )
    scope = as_filter(run_filter, run_ids=run_ids, sweep_ids=sweep_ids)
    x = m.metrics.c
    wanted = _names(names)
    with store.read() as conn:
        clauses = run_ids_in(conn, x.run_id, scope)
        if wanted is not None:
            clauses.append(x.name.in_(wanted))
        if max_points is None:
            stmt = (
                select(x.run_id, x.name, x.step, x.value)
                .where(*clauses)
                .order_by(x.run_id, x.name, x.step, x.metric_id)
            )
        else:
            stmt = _downsampled(clauses, max_points)
        table = frame(conn.execute(stmt), METRIC_COLUMNS)
    table["step"] = table["step"].astype("Int64")
    return table


_names = names  # metrics() has a parameter called ``names``


def _downsampled(clauses: list[ColumnElement[bool]], max_points: int) -> Select:
    """Keep, per series of n points, the first point of each of ``max_points - 1`` equal
    position buckets plus the last point: at most ``max_points`` rows."""
    x = m.metrics.c
    window = {"partition_by": (x.run_id, x.name)}
    ranked = (
        select(
            x.run_id,
            x.name,
            x.step,
            x.value,
            x.metric_id,
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
    run_filter: RunFilter | None = None,
    *,
    run_ids: Iterable[int] | int | None = None,
    sweep_ids: Iterable[int] | int | None = None,
    names: Iterable[str] | str | None = None,
) -> pd.DataFrame:
    """``[run_id, name, value]``: the final value of each metric of each run that
    ``run_filter`` selects — the value at the highest step, a step-less value
    counting as final, the last written breaking ties (kept in ``final_metrics``
    when a result is written; see :mod:`scratchlab.db.final`)."""
    scope = as_filter(run_filter, run_ids=run_ids, sweep_ids=sweep_ids)
    wanted = _names(names)
    with store.read() as conn:
        return frame(final_values(conn, scope, wanted), ["run_id", "name", "value"])


def final_metrics_wide(
    store: Store, run_ids: list[int], wanted: Iterable[str] | None = None
) -> pd.DataFrame:
    """One row per run (indexed by run_id), one column per metric name: its final value."""
    if not run_ids:
        return pd.DataFrame()
    long = final_metrics(store, RunFilter(run_ids=run_ids), names=wanted)
    if long.empty:
        return pd.DataFrame()
    wide = long.pivot(index="run_id", columns="name", values="value")
    wide.columns.name = None
    return wide.astype(float)
