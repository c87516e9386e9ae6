"""What a scope of runs holds, for the pickers of the reports: the param values and
experiments a filter can offer, and which (sweep, experiment) pairs recorded a kind
of data (:data:`DATA_KINDS`), so a page can find its data without reading it.

Each is one query over a :class:`~scratchlab.db.filters.RunFilter` (None: every run);
the lists of runs themselves are :mod:`scratchlab.db.queries`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import select

from scratchlab.db import models as m
from scratchlab.db.errors import InvalidValueError
from scratchlab.db.filters import Ids, Names, RunFilter, as_filter
from scratchlab.db.params import EXPERIMENT, decode
from scratchlab.db.rows import distinct_params
from scratchlab.db.scope import run_clauses
from scratchlab.db.store import Store


def param_values(
    store: Store,
    run_filter: RunFilter | None = None,
    *,
    sweep_ids: Ids = None,
    experiments: Names = None,
) -> pd.DataFrame:
    """Distinct ``(name, value, kind)`` rows of params and component choices of the
    runs ``run_filter`` selects, for filter widgets; ``kind`` is ``component`` for a
    component choice (``name`` is then its category), else the param's stored type."""
    scope = as_filter(run_filter, sweep_ids=sweep_ids, experiments=experiments)
    p = m.params.c
    with store.read() as conn:
        if scope.is_empty:
            rows = distinct_params(conn)
        else:
            stmt = (
                select(
                    p.name, p.kind, p.value_text, p.value_num
                )  # value_num: PostgreSQL sorts DISTINCT rows by selected columns only
                .distinct()
                .where(p.kind != EXPERIMENT)
                .where(p.run_id.in_(select(m.runs.c.run_id).where(*run_clauses(conn, scope))))
                .order_by(p.name, p.value_num, p.value_text)
            )
            rows = conn.execute(stmt).all()
    return pd.DataFrame(
        {
            "name": [row[0] for row in rows],
            "value": pd.Series([decode(row[1], row[2]) for row in rows], dtype=object),
            "kind": [row[1] for row in rows],
        }
    )


def experiment_names(
    store: Store, run_filter: RunFilter | None = None, *, sweep_ids: Ids = None
) -> list[str]:
    """The experiments that have runs ``run_filter`` selects (every run when None), sorted."""
    scope = as_filter(run_filter, sweep_ids=sweep_ids)
    r = m.runs.c
    with store.read() as conn:
        stmt = (
            select(r.experiment).distinct().where(*run_clauses(conn, scope)).order_by(r.experiment)
        )
        return list(conn.execute(stmt).scalars())


#: what a report page plots -> the rows that hold it
DATA_KINDS: dict[str, Any] = {
    "timings": lambda: select(m.timings.c.run_id),
    "stats": lambda: select(m.activation_stats.c.run_id),
    # curves: metrics recorded per step (a step-less metric is a single number)
    "curves": lambda: select(m.metrics.c.run_id).where(m.metrics.c.step.is_not(None)),
    "histograms": lambda: select(m.activation_histograms.c.run_id),
}


def data_coverage(
    store: Store, kind: str, run_filter: RunFilter | None = None, *, sweep_ids: Ids = None
) -> pd.DataFrame:
    """``[sweep_id, experiment]``: the pairs with at least one run of ``run_filter`` that recorded
    data of ``kind`` (one of :data:`DATA_KINDS`), newest sweep first, in one query
    (an index lookup per run, so a page can find its data without reading it)."""
    if kind not in DATA_KINDS:
        raise InvalidValueError(
            f"unknown kind of data {kind!r}; expected one of {', '.join(DATA_KINDS)}"
        )
    scope = as_filter(run_filter, sweep_ids=sweep_ids)
    r = m.runs.c
    rows = DATA_KINDS[kind]().subquery()
    with store.read() as conn:
        clauses = run_clauses(conn, scope)
        # each (sweep, experiment) pair asks once whether any of its runs has such data,
        # and stops at the first that does; asking per run cost 0.4 s at 100,000 runs
        pairs = select(r.sweep_id, r.experiment).distinct().where(*clauses).subquery()
        has_data = (
            select(rows.c.run_id)
            .join(m.runs, r.run_id == rows.c.run_id)
            .where(r.sweep_id == pairs.c.sweep_id, r.experiment == pairs.c.experiment, *clauses)
            .exists()
        )
        stmt = (
            select(pairs.c.sweep_id, pairs.c.experiment)
            .where(has_data)
            .order_by(pairs.c.sweep_id.desc(), pairs.c.experiment)
        )
        return pd.DataFrame(
            [tuple(row) for row in conn.execute(stmt)], columns=["sweep_id", "experiment"]
        )
