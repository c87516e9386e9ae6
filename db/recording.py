"""What one run recorded, written to the database: the rows of a result, in bulk.

:meth:`scratchlab.db.store.Store.write_result` and
:meth:`~scratchlab.db.store.Store.stream_metrics` open the transaction; the
functions here fill it. Results go in as one bulk insert per table
(:func:`scratchlab.db.bulk.insert_rows`: a Core ``insert()`` run with the
driver's ``executemany``), never row by row: the write benchmark
(``benchmarks/db_write.py``) holds this path to at least half the speed of raw
``sqlite3`` doing the same inserts.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from scratchlab.core.records import MetricRecord, RunResult
from scratchlab.db import models as m
from scratchlab.db.bulk import insert_rows
from scratchlab.db.final import FINAL_COLUMNS, final_rows, refresh
from scratchlab.db.quality import settle

STAT_COLUMNS = (
    "run_id",
    "model",
    "layer",
    "name",
    "step",
    "mean",
    "std",
    "min",
    "max",
    "frac_zero",
    "frac_nonfinite",
)
METRIC_COLUMNS = ("run_id", "name", "step", "value")
HISTOGRAM_COLUMNS = (
    "run_id",
    "model",
    "layer",
    "name",
    "step",
    "lo",
    "hi",
    "counts_json",
    "frac_near_zero",
)


def _delete_statements(keep: tuple = ()):
    # built once: constructing statements per call cost more than running them
    timing_ids = (
        select(m.timings.c.timing_id)
        .where(m.timings.c.run_id == bindparam("run_id"))
        .scalar_subquery()
    )
    yield delete(m.timing_replicates).where(m.timing_replicates.c.timing_id.in_(timing_ids))
    for table in (
        m.timings,
        m.activation_stats,
        m.metrics,
        m.final_metrics,
        m.activation_histograms,
    ):
        if table not in keep:
            yield delete(table).where(table.c.run_id == bindparam("run_id"))


DELETE_RESULTS = tuple(_delete_statements())
#: a run whose metrics came in batches while it ran keeps them when its result is written
DELETE_ALL_BUT_METRICS = tuple(_delete_statements(keep=(m.metrics, m.final_metrics)))
UPDATE_RUN = update(m.runs).where(m.runs.c.run_id == bindparam("target_run_id"))
INSERT_TIMINGS = insert(m.timings).returning(m.timings.c.timing_id, sort_by_parameter_order=True)


def to_json(value: Any) -> str:
    """``value`` as the JSON text the database keeps (sorted keys; anything else as ``str``)."""
    return json.dumps(value, sort_keys=True, default=str)


def stream_metrics(
    conn: Connection, run_id: int, metrics: list[MetricRecord], *, first: bool
) -> None:
    """Add a batch of a running run's metrics and refresh its final values; ``first``
    (the run's first batch) drops what an earlier attempt of the run left."""
    if first:
        for statement in DELETE_RESULTS:
            conn.execute(statement, {"run_id": run_id})
    insert_rows(
        conn, m.metrics, METRIC_COLUMNS, [(run_id, p.name, p.step, p.value) for p in metrics]
    )
    refresh(conn, run_id)


def write_result(
    conn: Connection, run_id: int, values: dict[str, Any], result: RunResult, *, streamed: bool
) -> bool:
    """Set the run's columns to ``values`` and replace its results with ``result``'s rows.

    Returns False, having written nothing, when there is no run ``run_id``.
    ``streamed``: the metrics stored so far by :func:`stream_metrics` stay, and
    ``result.metrics`` holds only the ones that came after.
    """
    if conn.execute(UPDATE_RUN, {"target_run_id": run_id, **values}).rowcount == 0:
        return False
    for statement in DELETE_RESULTS if not streamed else DELETE_ALL_BUT_METRICS:
        conn.execute(statement, {"run_id": run_id})
    _insert_timings(conn, run_id, result)
    insert_rows(conn, m.activation_stats, STAT_COLUMNS, _stat_rows(run_id, result))
    insert_rows(
        conn, m.metrics, METRIC_COLUMNS, [(run_id, p.name, p.step, p.value) for p in result.metrics]
    )
    # the final value of each metric beside its history: filters and sorts on it are index scans
    if streamed:
        refresh(conn, run_id)
    else:
        insert_rows(conn, m.final_metrics, FINAL_COLUMNS, final_rows(run_id, result.metrics))
    insert_rows(conn, m.activation_histograms, HISTOGRAM_COLUMNS, _histogram_rows(run_id, result))
    return True


def _stat_rows(run_id: int, result: RunResult) -> list[tuple]:
    return [
        (
            run_id,
            s.model,
            s.layer,
            s.name,
            s.step,
            s.mean,
            s.std,
            s.min,
            s.max,
            s.frac_zero,
            s.frac_nonfinite,
        )
        for s in result.stats
    ]


def _histogram_rows(run_id: int, result: RunResult) -> list[tuple]:
    # counts as compact JSON: one row per layer and step, not one per bin
    return [
        (
            run_id,
            h.model,
            h.layer,
            h.name,
            h.step,
            h.lo,
            h.hi,
            json.dumps(h.counts, separators=(",", ":")),
            h.frac_near_zero,
        )
        for h in result.histograms
    ]


def _insert_timings(conn: Connection, run_id: int, result: RunResult) -> None:
    if not result.timings:
        return
    settle(conn, result.timings)  # the verdicts against this machine's stored quiet probe figure
    rows = [
        {
            "run_id": run_id,
            "label": t.label,
            "shape": t.shape,
            "n": len(t.replicates),
            "number_per_run": t.number_per_run,
            "median": t.median,
            "iqr": t.iqr,
            "mean": t.mean,
            "min": t.min,
            "max": t.max,
            "flops": t.flops,
            "threads": t.threads,
            "quality": t.quality,
            "quality_json": None if t.evidence is None else to_json(t.evidence),
        }
        for t in result.timings
    ]
    # one multi-row INSERT ... RETURNING, ids in the order of the rows
    timing_ids = conn.execute(INSERT_TIMINGS, rows).scalars().all()
    insert_rows(
        conn,
        m.timing_replicates,
        ("timing_id", "replicate", "seconds"),
        [
            (timing_id, index, seconds)
            for timing_id, t in zip(timing_ids, result.timings, strict=True)
            for index, seconds in enumerate(t.replicates)
        ],
    )
