"""The runs a filter selects, as plain Python rows: the SQL every runs listing
shares, and a pandas-free page of runs for the command line.

``runner runs`` prints 50 rows out of up to 100,000; importing pandas costs
more than its whole query, so its table is built from :func:`run_rows`
(lists and dicts). :func:`scratchlab.db.queries.list_runs` (the DataFrame the
app, ``--json`` and the notebook API use) runs the same statements:
:func:`page_select`, :func:`params_long` and :func:`final_values`. Nothing
here imports pandas or torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.sql import Select

from scratchlab.db import models as m
from scratchlab.db.filters import RUN_COLUMNS, RunFilter
from scratchlab.db.params import COMPONENT, EXPERIMENT, decode
from scratchlab.db.scope import id_in, metric_count, run_clauses, run_ids_in, sorted_runs
from scratchlab.db.sqltypes import seconds_between

if TYPE_CHECKING:
    from scratchlab.db.store import Store

#: a param whose name is already a run column gets this suffix (``device_param``)
PARAM_SUFFIX = "_param"
#: a final metric whose name is already a column gets this suffix
METRIC_SUFFIX = "_metric"


def runs_select() -> Select:
    """SELECT of the stored run columns (every :data:`RUN_COLUMNS` but the computed ``duration_s``)."""
    r = m.runs.c
    return select(
        r.run_id,
        r.sweep_id,
        r.key,
        r.experiment,
        r.status,
        r.device,
        r.dtype,
        r.seed,
        r.repeat,
        r.started_at,
        r.finished_at,
        r.reason,
    )


def page_select(
    conn: Connection,
    scope: RunFilter | None,
    *,
    order_by: str = "run_id",
    descending: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> Select:
    """The runs ``scope`` selects, sorted by ``order_by`` (see
    :func:`scratchlab.db.scope.sorted_runs`) and paged: filtering, sorting and
    paging all in SQL, so a page of 50 never reads the other runs."""
    stmt = sorted_runs(conn, runs_select(), scope, order_by, descending).offset(offset)
    return stmt if limit is None else stmt.limit(limit)


def count_selected(store: Store, scope: RunFilter | None) -> int:
    """How many runs ``scope`` selects (for paging: "50 of 60,434 runs")."""
    with store.read() as conn:
        stmt = metric_count(conn, scope)
        if stmt is None:
            stmt = select(func.count()).select_from(m.runs).where(*run_clauses(conn, scope))
        return int(conn.execute(stmt).scalar_one())


def params_long(
    store: Store,
    run_ids: list[int],
    *,
    components_only: bool = False,
    with_experiment: bool = False,
) -> list[tuple]:
    """``(run_id, name, kind, value_text, version)`` rows of some runs, in insertion order
    (the experiment's version row is not a param: see ``queries.component_versions``;
    ``with_experiment`` keeps it, for reading the experiment's version back)."""
    if not run_ids:
        return []
    p = m.params.c
    stmt = select(p.run_id, p.name, p.kind, p.value_text, p.version).where(id_in(p.run_id, run_ids))
    if not with_experiment:
        stmt = stmt.where(p.kind != EXPERIMENT)
    if components_only:
        stmt = stmt.where(p.kind == COMPONENT)
    with store.read() as conn:
        return [tuple(row) for row in conn.execute(stmt.order_by(p.param_id))]


def final_values(
    conn: Connection, scope: RunFilter | None, names: Sequence[str] | None = None
) -> list[tuple]:
    """``(run_id, name, value)`` of the final metrics of the runs ``scope`` selects
    (``names``: only those metrics), ordered by run and name."""
    f = m.final_metrics.c
    clauses = run_ids_in(conn, f.run_id, scope)
    if names is not None:
        clauses.append(f.name.in_(list(names)))
    stmt = select(f.run_id, f.name, f.value).where(*clauses).order_by(f.run_id, f.name)
    return [tuple(row) for row in conn.execute(stmt)]


def distinct_params(conn: Connection) -> list[tuple]:
    """``(name, kind, value_text, value_num)`` of every distinct param value of every
    run (component choices included, the experiment's own row not), sorted as the
    filter widgets list them.

    A loose index scan: it hops from one ``(name, value_text)`` of the params index
    to the next, a few index seeks per distinct value, instead of reading every
    row (800,000 rows at 100,000 runs: 0.65 s for ``SELECT DISTINCT``, this a few
    hundredths). A param has one kind per value text (a sweep coerces each param
    to its default's type), so the kind is read from the first row of each value.
    """
    p = m.params.c
    same_name = select(func.min(p.value_text)).where(
        p.name == bindparam("name"), p.value_text > bindparam("text")
    )
    next_name = select(func.min(p.name)).where(p.name > bindparam("name"))
    first_text = select(func.min(p.value_text)).where(p.name == bindparam("name"))
    kind = (
        select(p.kind, p.value_num)
        .where(p.name == bindparam("name"), p.value_text == bindparam("text"))
        .limit(1)
    )
    found = []
    name = conn.execute(select(func.min(p.name))).scalar()
    text = None if name is None else conn.execute(first_text, {"name": name}).scalar()
    while name is not None:
        row = conn.execute(kind, {"name": name, "text": text}).first()
        if row is not None and row.kind != EXPERIMENT:
            found.append((name, row.kind, text, row.value_num))
        following = conn.execute(same_name, {"name": name, "text": text}).scalar()
        if following is None:
            name = conn.execute(next_name, {"name": name}).scalar()
            following = None if name is None else conn.execute(first_text, {"name": name}).scalar()
        text = following
    # by name, then numbers by value, then text (value_num is NaN where the value is no number)
    return sorted(
        found, key=lambda r: (r[0], not _is_number(r[3]), r[3] if _is_number(r[3]) else 0.0, r[2])
    )


def _is_number(value: Any) -> bool:
    return value is not None and value == value  # NaN is the only value unequal to itself


def suffixed(name: str, taken: Iterable[str], suffix: str) -> str:
    """``name``, or ``name + suffix`` where a column of that name exists already."""
    return f"{name}{suffix}" if name in set(taken) else name


@dataclass
class RunRows:
    """A page of runs as columns of Python values: the :data:`RUN_COLUMNS`, one per
    param (missing: None) and one per final metric (missing: None; a NaN value: NaN)."""

    columns: dict[str, list[Any]]
    #: the param columns that are component choices (``matmul``, ``init``, ...), in order
    categories: list[str] = field(default_factory=list)
    #: the final-metric columns, sorted by name
    metrics: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.columns["run_id"])

    def add(self, name: str, values: list[Any]) -> None:
        """Add (or replace) a column of one value per row."""
        self.columns[name] = values


def run_rows(
    store: Store,
    scope: RunFilter | None,
    *,
    order_by: str = "run_id",
    descending: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> RunRows:
    """One page of the runs ``scope`` selects, with their params and final metrics as
    columns: three queries (the page, its params, its final metrics)."""
    with store.read() as conn:
        page = [
            tuple(row)
            for row in conn.execute(
                page_select(
                    conn,
                    scope,
                    order_by=order_by,
                    descending=descending,
                    limit=limit,
                    offset=offset,
                )
            )
        ]
        ids = [row[0] for row in page]
        finals = final_values(conn, RunFilter(run_ids=ids)) if ids else []
    stored = [c for c in RUN_COLUMNS if c != "duration_s"]
    columns: dict[str, list[Any]] = {
        name: [row[i] for row in page] for i, name in enumerate(stored)
    }
    # exact to the microsecond; SQL computes the duration only to sort by it
    durations = [
        seconds_between(start, end)
        for start, end in zip(columns["started_at"], columns["finished_at"], strict=True)
    ]
    columns = {name: durations if name == "duration_s" else columns[name] for name in RUN_COLUMNS}
    position = {run_id: i for i, run_id in enumerate(ids)}
    categories: list[str] = []
    params: dict[str, list[Any]] = {}
    for run_id, name, kind, text, _version in params_long(store, ids):
        column = params.setdefault(name, [None] * len(ids))
        column[position[run_id]] = decode(kind, text)
        if kind == COMPONENT and name not in categories:
            categories.append(name)
    renamed = {name: suffixed(name, columns, PARAM_SUFFIX) for name in params}
    columns.update({renamed[name]: values for name, values in params.items()})
    metrics: dict[str, list[Any]] = {}
    for run_id, name, value in finals:
        metrics.setdefault(name, [None] * len(ids))[position[run_id]] = (
            float("nan") if value is None else float(value)
        )
    metric_columns = {name: suffixed(name, columns, METRIC_SUFFIX) for name in sorted(metrics)}
    columns.update({metric_columns[name]: metrics[name] for name in sorted(metrics)})
    return RunRows(
        columns, categories=[renamed[c] for c in categories], metrics=list(metric_columns.values())
    )


def experiment_counts(store: Store, scope: RunFilter | None) -> list[tuple[str, int]]:
    """``(experiment, runs)`` of the runs ``scope`` selects, experiments in the order
    their first run was added (``runner runs`` pages each experiment on its own)."""
    r = m.runs.c
    with store.read() as conn:
        stmt = (
            select(r.experiment, func.count())
            .where(*run_clauses(conn, scope))
            .group_by(r.experiment)
            .order_by(func.min(r.run_id))
        )
        return [(str(name), int(count)) for name, count in conn.execute(stmt)]
