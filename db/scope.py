"""The one place a :class:`~scratchlab.db.filters.RunFilter` becomes SQL.

:func:`run_clauses` gives WHERE clauses on ``runs``; a query over a child
table (timings, metrics, ...) joins ``runs`` or restricts its ``run_id`` with
:func:`run_ids_in`. :func:`order_keys` sorts runs by a run column, a param or
a final metric. Everything stays in the database: a filter on a final metric
is ``run_id IN`` a range scan of the ``(name, value)`` index of
``final_metrics`` (kept by the write path, :mod:`scratchlab.db.final`), and a
sort joins that table, so no run is loaded into Python.

A name in ``RunFilter.fields`` (what ``--where`` gives for anything that is
not a run column) is resolved here, with at most two one-row index probes:
a param if any run stored a param of that name, else ``experiment.param``
for a dotted name, else a final metric if any run recorded one, else a
one-line :class:`~scratchlab.db.filters.FilterError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, false, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from scratchlab.db import models as m
from scratchlab.db.dialects import seconds_between
from scratchlab.db.filters import RUN_COLUMNS, Condition, FilterError, RunFilter
from scratchlab.db.params import matches

#: param kinds whose ``value_num`` compares with numbers (bools are 1/0 there but never match numbers)
NUMERIC_PARAM_KINDS = ("int", "float")
_SQL_OPS = {
    "<": lambda col, v: col < v,
    "<=": lambda col, v: col <= v,
    ">": lambda col, v: col > v,
    ">=": lambda col, v: col >= v,
}


def id_in(column, values: Iterable[int]) -> ColumnElement[bool]:
    """``column IN (ids)`` with the ids rendered inline: a selection of thousands of
    runs must not hit SQLite's limit on bound parameters."""
    return column.in_(
        bindparam(
            "ids", [int(v) for v in values], expanding=True, literal_execute=True, unique=True
        )
    )


def run_column(name: str):
    """The SQL expression of a run column (``duration_s`` is computed)."""
    r = m.runs.c
    if name == "duration_s":
        return seconds_between(r.started_at, r.finished_at)
    return r[name]


def final_value(name: str):
    """Correlated scalar: the final value of metric ``name`` for the current ``runs``
    row (one primary-key seek into ``final_metrics``, see :mod:`scratchlab.db.final`);
    NULL (NaN) when the run has no such metric or its final value is NaN."""
    f = m.final_metrics.c
    return select(f.value).where(f.run_id == m.runs.c.run_id, f.name == name).scalar_subquery()


def _metric_clauses(name: str, conds: tuple[Condition, ...]) -> list[ColumnElement[bool]]:
    """Conditions on a final metric as ``run_id IN (range scan of final_metrics' (name, value) index)``:
    the cost follows the matching runs, never one probe per run."""
    f, r = m.final_metrics.c, m.runs.c
    positive, clauses = [], []
    for c in conds:
        if c.op in _SQL_OPS:
            positive.append(_SQL_OPS[c.op](f.value, c.value))
            continue
        texts = [v for v in c.value if isinstance(v, str)]
        if texts:
            raise FilterError(f"final metric values are numbers; cannot compare with {texts[0]!r}")
        if c.op == "=":
            positive.append(f.value.in_(list(c.value)))
        else:  # != keeps runs that never recorded the metric
            clauses.append(
                r.run_id.not_in(select(f.run_id).where(f.name == name, f.value.in_(list(c.value))))
            )
    if positive:
        clauses.append(r.run_id.in_(select(f.run_id).where(f.name == name, *positive)))
    return clauses


# -- names ---------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """What a name stands for: ``kind`` is ``column``, ``param`` or ``metric``;
    ``experiment`` is set for a dotted ``experiment.param`` name."""

    kind: str
    name: str
    experiment: str | None = None


def _exists(conn: Connection, stmt) -> bool:
    return conn.execute(stmt.limit(1)).first() is not None


def resolve(conn: Connection, name: str) -> Resolved:
    """What ``name`` means in this database (see the module docstring); FilterError if nothing."""
    if name in RUN_COLUMNS:
        return Resolved("column", name)
    p, f = m.params.c, m.final_metrics.c
    if _exists(conn, select(p.run_id).where(p.name == name)):
        return Resolved("param", name)
    experiment, dot, bare = name.partition(".")
    if dot and _exists(
        conn,
        select(p.run_id)
        .where(p.name == bare)
        .where(p.run_id.in_(select(m.runs.c.run_id).where(m.runs.c.experiment == experiment))),
    ):
        return Resolved("param", bare, experiment)
    if _exists(conn, select(f.run_id).where(f.name == name)):  # the (name, value) index: one seek
        return Resolved("metric", name)
    hint = _closest(conn, name)
    raise FilterError(
        f"no run has a param, component category or final metric named {name!r}"
        + (f"; did you mean {hint!r}?" if hint else "")
    )


def _closest(conn: Connection, name: str) -> str | None:
    """The stored name (run column, param or final metric) closest to a mistyped one."""
    import difflib

    p, f = m.params.c, m.final_metrics.c
    # distinct names only: the (name, ...) indexes answer these without reading rows
    names = {*RUN_COLUMNS, *conn.execute(select(p.name).distinct()).scalars()}
    names |= set(conn.execute(select(f.name).distinct()).scalars())
    close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.6)
    return close[0] if close else None


# -- conditions ----------------------------------------------------------------


def _param_match(name: str, condition: Condition) -> ColumnElement[bool]:
    """Does a ``params`` row of ``name`` satisfy ``condition`` (ignoring ``!=``'s negation)?"""
    p = m.params.c
    if condition.op in _SQL_OPS:
        return and_(
            p.kind.in_(NUMERIC_PARAM_KINDS), _SQL_OPS[condition.op](p.value_num, condition.value)
        )
    alternatives = []
    for value in condition.value:
        column, wanted = matches(value)
        if column == "value_num":
            alternatives.append(and_(p.kind.in_(NUMERIC_PARAM_KINDS), p.value_num == wanted))
        else:
            alternatives.append(p.value_text == wanted)
    return or_(*alternatives) if alternatives else false()


def _param_clauses(name: str, conds: tuple[Condition, ...], experiment: str | None = None) -> list:
    p, r = m.params.c, m.runs.c
    clauses = [r.experiment == experiment] if experiment else []
    positive = [_param_match(name, c) for c in conds if c.op != "!="]
    if positive:
        # one row per (run, name): every condition must hold on that row
        clauses.append(r.run_id.in_(select(p.run_id).where(p.name == name, *positive)))
    for c in conds:
        if c.op == "!=":
            clauses.append(
                r.run_id.not_in(select(p.run_id).where(p.name == name, _param_match(name, c)))
            )
    return clauses


def _value_clause(expression, condition: Condition) -> ColumnElement[bool]:
    """``condition`` on a numeric or text SQL expression (a run column)."""
    if condition.op in _SQL_OPS:
        return _SQL_OPS[condition.op](expression, condition.value)
    values = list(condition.value)
    if condition.op == "=":
        return expression.in_(values)
    # != keeps rows without a value (an unfinished duration)
    return or_(expression.is_(None), expression.not_in(values))


def _column_clause(name: str, condition: Condition) -> ColumnElement[bool]:
    if condition.op not in _SQL_OPS and name not in (
        "key",
        "experiment",
        "device",
        "dtype",
        "status",
    ):
        bad = [v for v in condition.value if isinstance(v, str)]
        if bad:
            raise FilterError(f"filter {name}{condition}: {name} is a number, not {bad[0]!r}")
    return _value_clause(run_column(name), condition)


def run_clauses(
    conn: Connection, run_filter: RunFilter | None, joined: tuple[str, Any] | None = None
) -> list[ColumnElement[bool]]:
    """WHERE clauses on ``runs`` for ``run_filter`` (an empty list for None or an empty filter).

    ``conn`` is used only to resolve ``fields`` names (one-row index probes).
    ``joined`` is ``(metric name, final_metrics alias)`` when the query joins that
    metric's final value (to sort by it): conditions on it then test the joined
    value, so the database can walk the ``(name, value)`` index in order and stop
    at the page's last row.
    """
    if run_filter is None:
        return []
    r = m.runs.c
    clauses: list[ColumnElement[bool]] = []
    if run_filter.run_ids is not None:
        clauses.append(id_in(r.run_id, run_filter.run_ids) if run_filter.run_ids else false())
    if run_filter.sweep_ids:
        clauses.append(id_in(r.sweep_id, run_filter.sweep_ids))
    if run_filter.statuses:
        clauses.append(r.status.in_(run_filter.statuses))
    if run_filter.experiments:
        clauses.append(r.experiment.in_(run_filter.experiments))
    for name, conds in run_filter.columns.items():
        clauses += [_column_clause(name, c) for c in conds]
    for name, conds in run_filter.params.items():
        clauses += _param_clauses(name, conds)
    for name, conds in run_filter.metrics.items():
        clauses += _metric_or_joined(name, conds, joined)
    clauses += [_tag_clause(c) for c in run_filter.tags]
    for name, conds in run_filter.fields.items():
        target = resolve(conn, name)
        if target.kind == "param":
            clauses += _param_clauses(target.name, conds, target.experiment)
        else:
            clauses += _metric_or_joined(target.name, conds, joined)
    return clauses


def _tag_clause(condition: Condition) -> ColumnElement[bool]:
    """A run has (``=``) or lacks (``!=``) any of the condition's tags, its own or its sweep's:
    two index seeks on the ``(tag, id)`` indexes, never a scan of the runs."""
    r, rt, st = m.runs.c, m.run_tags.c, m.sweep_tags.c
    tags = list(condition.value)
    tagged = or_(
        r.run_id.in_(select(rt.run_id).where(rt.tag.in_(tags))),
        r.sweep_id.in_(select(st.sweep_id).where(st.tag.in_(tags))),
    )
    return tagged if condition.op == "=" else ~tagged


def _metric_or_joined(
    name: str, conds: tuple[Condition, ...], joined: tuple[str, Any] | None
) -> list:
    if joined is None or joined[0] != name:
        return _metric_clauses(name, conds)
    value = joined[1].c.value
    on_join = [_SQL_OPS[c.op](value, c.value) for c in conds if c.op in _SQL_OPS]
    on_join += [value.in_(list(c.value)) for c in conds if c.op == "=" and _numbers(c)]
    rest = tuple(c for c in conds if c.op == "!=" or (c.op == "=" and not _numbers(c)))
    return on_join + _metric_clauses(name, rest)


def _numbers(condition: Condition) -> bool:
    return not any(isinstance(v, str) for v in condition.value)


def metric_count(conn: Connection, run_filter: RunFilter | None) -> Any:
    """``SELECT count(*)`` driven by ``final_metrics`` when ``run_filter`` has
    conditions on exactly one final metric (``--where valid_accuracy>=0.85``): a
    range scan of its ``(name, value, run_id)`` index, narrowed by the ids of the runs
    the rest of the filter selects (``--experiment train``) when it says more. None
    for any other filter.

    Counting ``runs`` with the metric as an ``IN`` subquery instead looks every
    matching run up in two tables; on 100,000 runs with 60,000 matches that took
    0.3 s, this 0.09 s.
    """
    if run_filter is None:
        return None
    named = {**run_filter.metrics, **run_filter.fields}
    if len(named) != 1 or len(run_filter.metrics) + len(run_filter.fields) != 1:
        return None
    ((name, conds),) = named.items()
    if name in run_filter.fields and resolve(conn, name).kind != "metric":
        return None
    if any(c.op not in _SQL_OPS for c in conds):
        return None
    f = m.final_metrics.c
    stmt = (
        select(func.count())
        .select_from(m.final_metrics)
        .where(f.name == name, *(_SQL_OPS[c.op](f.value, c.value) for c in conds))
    )
    rest = dataclasses.replace(run_filter, metrics={}, fields={})
    if rest.is_empty:
        return stmt  # every such row is one run: ``runs`` need not be read
    # the runs' ids from their own index (a list subquery), not one row lookup per match
    return stmt.where(*run_ids_in(conn, f.run_id, rest))


def run_ids_in(conn: Connection, column, run_filter: RunFilter | None) -> list[ColumnElement[bool]]:
    """Clauses restricting a child table's ``run_id`` ``column`` to the runs of ``run_filter``.

    Run ids alone restrict the child table directly (its run_id index); anything
    else goes through a subquery on ``runs``.
    """
    if run_filter is None or run_filter.is_empty:
        return []
    if run_filter.run_ids is not None and run_filter == RunFilter(run_ids=run_filter.run_ids):
        return [id_in(column, run_filter.run_ids) if run_filter.run_ids else false()]
    return [column.in_(select(m.runs.c.run_id).where(*run_clauses(conn, run_filter)))]


# -- order ---------------------------------------------------------------------


def sorted_runs(
    conn: Connection, stmt: Any, run_filter: RunFilter | None, order_by: str, descending: bool
) -> Any:
    """``stmt`` (a SELECT over ``runs``) filtered by ``run_filter`` and ordered by
    ``order_by`` (see :func:`order_keys`), ties by run id. Sorting by a final metric
    joins its ``final_metrics`` row instead of looking it up per run."""
    r = m.runs.c
    tie = r.run_id.desc() if descending else r.run_id
    target = _order_target(conn, order_by)
    if target.kind != "metric":
        return stmt.where(*run_clauses(conn, run_filter)).order_by(
            *order_keys(conn, order_by, descending), tie
        )
    f = m.final_metrics.alias("sort_metric")
    stmt = stmt.select_from(
        m.runs.outerjoin(f, and_(f.c.run_id == r.run_id, f.c.name == target.name))
    )
    key = f.c.value.desc() if descending else f.c.value.asc()
    return stmt.where(*run_clauses(conn, run_filter, (target.name, f))).order_by(
        key.nulls_last(), tie
    )


def _order_target(conn: Connection, name: str) -> Resolved:
    if name == "reason":
        raise FilterError("cannot order runs by reason")
    try:
        return resolve(conn, name)
    except FilterError as exc:
        raise FilterError(f"cannot order runs by {name!r}: {exc}") from None


def order_keys(conn: Connection, name: str, descending: bool) -> list[Any]:
    """ORDER BY keys for runs sorted by ``name``: a run column, ``duration_s``, a param
    (numbers as numbers, anything else by its text) or a final metric. Runs without
    a value come last either way. FilterError for a name that is none of these."""
    target = _order_target(conn, name)
    if target.kind == "column":
        keys = [run_column(name)]
    elif target.kind == "metric":
        keys = [final_value(name)]
    else:
        p, r = m.params.c, m.runs.c
        where = (p.run_id == r.run_id, p.name == target.name)
        keys = [
            select(p.value_num).where(*where).scalar_subquery(),
            select(p.value_text).where(*where).scalar_subquery(),
        ]
    return [(k.desc() if descending else k.asc()).nulls_last() for k in keys]


__all__ = [
    "NUMERIC_PARAM_KINDS",
    "Resolved",
    "final_value",
    "id_in",
    "metric_count",
    "order_keys",
    "resolve",
    "run_clauses",
    "run_column",
    "run_ids_in",
    "sorted_runs",
]
