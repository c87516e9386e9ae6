"""The table every analysis reads: one row per run with a final value of one metric,
its component choices and scalar params as columns (``runner importance``, the
app's Analysis page, ``sl.importance``).

Two queries, however many runs: the runs with the metric (a join of ``runs``
and the ``final_metrics`` index, numbered by their position in their sweep,
which is a search's trial number), then the params of the runs kept. Past
``max_runs`` a fixed-seed uniform sample is kept, never the first N (a grid's
first runs all share its first component); the frame says so in its attrs.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd
from sqlalchemy import func, select

from scratchlab.db import models as m
from scratchlab.db.filters import RunFilter
from scratchlab.db.params import COMPONENT, decode
from scratchlab.db.scope import id_in, run_clauses

#: param kinds an analysis uses (lists, dicts and nulls are not a dimension)
SCALAR_KINDS = (COMPONENT, "int", "float", "bool", "str")
#: kinds drawn and analysed on a numeric axis
NUMERIC_KINDS = ("int", "float")
#: the columns before the params, in order
BASE_COLUMNS = ("run_id", "sweep_id", "trial", "status", "value")
#: the seed of the sample taken past ``max_runs`` (the same runs every time)
SAMPLE_SEED = 0


class Dimension(NamedTuple):
    """One column of an analysis table: a component ``category`` or a ``param``
    (``numeric`` when every value is a number, ``integer`` when every one was stored
    as an int: the column holds floats, NaN where a run lacks it), and how many values
    it takes. A named tuple: frame attrs stay JSON (Streamlit serialises them with the frame)."""

    name: str
    kind: str
    numeric: bool
    n_values: int
    integer: bool = False


def metric_table(
    store, metric: str, run_filter: RunFilter | None = None, *, max_runs: int | None = None
) -> pd.DataFrame:
    """Runs ``run_filter`` selects that have a final value of ``metric``: ``run_id``,
    ``sweep_id``, ``trial`` (1-based position among all runs of its sweep), ``status``,
    ``value`` (the metric; NaN kept), then one column per component category and scalar
    param. ``attrs``: ``metric``, ``total`` (runs with the metric), ``sampled`` (True when
    ``max_runs`` cut it down) and ``dimensions`` (a :class:`Dimension` per param column,
    categories first, constant columns included)."""
    r, f = m.runs.c, m.final_metrics.c
    trial = func.row_number().over(partition_by=r.sweep_id, order_by=r.run_id).label("trial")
    with store.read() as conn:
        clauses = run_clauses(conn, run_filter)
        # numbered within the sweeps in scope only; correlate(None): these are not per-row lookups
        sweeps_in_scope = select(r.sweep_id).where(*clauses).correlate(None)
        numbered = (
            select(r.run_id, r.sweep_id, r.status, trial)
            .where(r.sweep_id.in_(sweeps_in_scope))
            .subquery()
        )
        ids_in_scope = select(r.run_id).where(*clauses).correlate(None)
        stmt = (
            select(
                numbered.c.run_id, numbered.c.sweep_id, numbered.c.trial, numbered.c.status, f.value
            )
            .join(m.final_metrics, (f.run_id == numbered.c.run_id) & (f.name == metric))
            .where(numbered.c.run_id.in_(ids_in_scope))
            .order_by(numbered.c.run_id)
        )
        rows = conn.execute(stmt).all()
        total = len(rows)
        if max_runs is not None and total > max_runs:
            import numpy as np

            keep = np.sort(
                np.random.default_rng(SAMPLE_SEED).choice(total, max_runs, replace=False)
            )
            rows = [rows[i] for i in keep]
        params = _params(conn, [row[0] for row in rows])
    frame = pd.DataFrame([tuple(row) for row in rows], columns=list(BASE_COLUMNS))
    frame["value"] = frame["value"].astype(float)
    frame, dimensions = _widen(frame, params)
    frame.attrs.update(
        metric=metric, total=total, sampled=len(frame) < total, dimensions=dimensions
    )
    return frame


def metric_names(store, run_filter: RunFilter | None = None) -> list[str]:
    """The names of the final metrics the runs of ``run_filter`` recorded, sorted."""
    f = m.final_metrics.c
    with store.read() as conn:
        clauses = run_clauses(conn, run_filter)
        stmt = select(f.name).distinct().order_by(f.name)
        if clauses:
            stmt = stmt.where(f.run_id.in_(select(m.runs.c.run_id).where(*clauses)))
        return list(conn.execute(stmt).scalars())


def _params(conn, run_ids: list[int]) -> list[tuple]:
    p = m.params.c
    out: list[tuple] = []
    for start in range(0, len(run_ids), 5000):
        chunk = run_ids[start : start + 5000]
        out += conn.execute(
            select(p.run_id, p.name, p.kind, p.value_text).where(
                id_in(p.run_id, chunk), p.kind.in_(SCALAR_KINDS)
            )
        ).all()
    return out


def _widen(frame: pd.DataFrame, params: list[tuple]) -> tuple[pd.DataFrame, list[Dimension]]:
    """One column per param name (None where a run lacks it), and its :class:`Dimension`."""
    position = {int(run_id): i for i, run_id in enumerate(frame["run_id"])}
    columns: dict[str, list] = {}
    kinds: dict[str, set[str]] = {}
    for run_id, name, kind, text in params:
        column = columns.setdefault(name, [None] * len(frame))
        column[position[run_id]] = decode(kind, text)
        kinds.setdefault(name, set()).add(kind)
    taken = set(frame.columns)
    dimensions = []
    for name in sorted(columns, key=lambda n: (COMPONENT not in kinds[n], n)):
        if name in taken:
            continue  # a param named like a base column: not worth a rename here
        numeric = kinds[name] <= set(NUMERIC_KINDS)
        values = pd.Series(columns[name], dtype=float if numeric else object)
        frame[name] = values.to_numpy()
        kind = "category" if COMPONENT in kinds[name] else "param"
        n_values = int(values.nunique(dropna=True))
        dimensions.append(Dimension(name, kind, numeric, n_values, kinds[name] == {"int"}))
    return frame, dimensions


__all__ = ["BASE_COLUMNS", "Dimension", "metric_names", "metric_table"]
