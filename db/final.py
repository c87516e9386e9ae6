"""Final metrics: the rule, and the ``final_metrics`` rows that keep it.

A run's *final* value of a metric is its value at the highest step; a value
recorded without a step counts as final (it beats every step); among equal
steps the last written wins. The write path stores one ``final_metrics`` row
per (run, name) beside the history (:func:`final_rows`), so filters and sorts
on final metrics are index range scans (:mod:`scratchlab.db.scope`).
:data:`BACKFILL` recomputes the rows in SQL from ``metrics`` (migration 0004
holds a frozen copy; bulk loaders that bypass the store call :func:`backfill`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

#: columns of ``final_metrics``, in insert order
FINAL_COLUMNS: tuple[str, ...] = ("run_id", "name", "step", "value")

#: the final row of every (run, name) of ``metrics`` (SQLite >= 3.25 and PostgreSQL)
BACKFILL = """
INSERT INTO final_metrics (run_id, name, step, value)
SELECT run_id, name, step, value FROM (
    SELECT run_id, name, step, value,
           row_number() OVER (
               PARTITION BY run_id, name
               ORDER BY CASE WHEN step IS NULL THEN 1 ELSE 0 END DESC, step DESC, metric_id DESC
           ) AS rn
    FROM metrics
) AS ranked
WHERE rn = 1
"""


def final_rows(run_id: int, metrics: Iterable[Any]) -> list[tuple]:
    """``(run_id, name, step, value)`` of each metric's final value among ``metrics``
    (records with ``name``, ``step``, ``value``, in the order written)."""
    final: dict[str, tuple] = {}
    for record in metrics:
        rank = (record.step is None, record.step if record.step is not None else 0)
        kept = final.get(record.name)
        # >=: of equal ranks, the one written last wins
        if kept is None or rank >= kept[0]:
            final[record.name] = (rank, record.step, record.value)
    return [(run_id, name, step, value) for name, (_, step, value) in final.items()]


#: the same rows for one run (``:run_id``): live metrics arrive in batches, so the run's final
#: values are recomputed from its whole history after each batch
REFRESH_RUN = BACKFILL.replace("FROM metrics\n", "FROM metrics WHERE run_id = :run_id\n")


def refresh(conn: Connection, run_id: int) -> None:
    """Rebuild the ``final_metrics`` rows of one run from its ``metrics`` rows."""
    conn.execute(text("DELETE FROM final_metrics WHERE run_id = :run_id"), {"run_id": run_id})
    conn.execute(text(REFRESH_RUN), {"run_id": run_id})


def backfill(conn: Connection) -> None:
    """Rebuild ``final_metrics`` from ``metrics`` (for loaders that write metrics directly)."""
    conn.execute(text("DELETE FROM final_metrics"))
    conn.execute(text(BACKFILL))
