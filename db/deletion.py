"""Deleting runs and sweeps with everything they own (``runner rm``).

One transaction per call: the runs' params, timings with their replicates,
activation statistics and histograms, metrics, final metrics and tags go with
them, or, on any error, nothing goes. A sweep whose driver is alive
(:func:`scratchlab.db.ownership.live_owner`) is refused with
:class:`~scratchlab.db.errors.SweepInUseError`: its driver would write
results for runs that no longer exist. The check runs inside the deleting
transaction, which holds the write lock, so a resume cannot start between
the check and the delete.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from scratchlab.db import models as m
from scratchlab.db.engine import describe
from scratchlab.db.errors import RunNotFoundError, SweepInUseError, SweepNotFoundError
from scratchlab.db.ownership import live_owner
from scratchlab.db.scope import id_in

#: ids per ``IN`` list, under every backend's limit on a statement's size
CHUNK = 500
#: tables keyed by ``run_id``, children before ``runs`` itself
RUN_CHILDREN = (
    m.params,
    m.activation_stats,
    m.activation_histograms,
    m.metrics,
    m.final_metrics,
    m.run_tags,
)


@dataclass(frozen=True)
class Deleted:
    """What a delete removed: run ids, sweep ids, and the rows of each table by name."""

    run_ids: tuple[int, ...]
    sweep_ids: tuple[int, ...]
    rows: dict[str, int]


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _refuse_live(conn, sweep_ids: Iterable[int]) -> None:
    s = m.sweeps.c
    rows = conn.execute(
        select(s.sweep_id, s.status, s.owner_host, s.owner_pid, s.heartbeat_at).where(
            id_in(s.sweep_id, sorted(set(sweep_ids)))
        )
    ).all()
    for row in rows:
        if (owner := live_owner(row)) is not None:
            raise SweepInUseError(
                f"sweep {row.sweep_id} is still running in {owner}; nothing was deleted:"
                " stop it first (Ctrl-C), or wait for it to end"
            )


def _delete_runs(conn, run_ids: list[int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    t = m.timings.c
    for chunk in _chunks(run_ids):
        timing_ids = select(t.timing_id).where(id_in(t.run_id, chunk))
        n = conn.execute(
            delete(m.timing_replicates).where(m.timing_replicates.c.timing_id.in_(timing_ids))
        ).rowcount
        counts["timing_replicates"] = counts.get("timing_replicates", 0) + n
        for table in (m.timings, *RUN_CHILDREN, m.runs):
            n = conn.execute(delete(table).where(id_in(table.c.run_id, chunk))).rowcount
            counts[table.name] = counts.get(table.name, 0) + n
    return counts


def delete_runs(store, run_ids: Iterable[int]) -> Deleted:
    """Delete runs ``run_ids`` and everything they own; their sweeps stay.

    Raises :class:`RunNotFoundError` naming every unknown id, and
    :class:`SweepInUseError` when one of their sweeps is live; nothing is
    deleted then.
    """
    ids = sorted(set(int(i) for i in run_ids))
    r = m.runs.c
    with store._write() as conn:
        found: dict[int, int] = {}
        for chunk in _chunks(ids):
            found.update(
                conn.execute(select(r.run_id, r.sweep_id).where(id_in(r.run_id, chunk))).all()
            )
        missing = [i for i in ids if i not in found]
        if missing:
            raise RunNotFoundError(
                f"no run {', '.join(map(str, missing))} in {describe(store.engine.url)};"
                " nothing was deleted"
            )
        _refuse_live(conn, found.values())
        rows = _delete_runs(conn, ids)
    return Deleted(tuple(ids), (), rows)


def delete_sweep(store, sweep_id: int) -> Deleted:
    """Delete sweep ``sweep_id``, its runs and everything they own.

    Raises :class:`SweepNotFoundError` for an unknown id and
    :class:`SweepInUseError` while the sweep's driver is alive.
    """
    r = m.runs.c
    with store._write() as conn:
        exists = conn.execute(
            select(func.count()).where(m.sweeps.c.sweep_id == int(sweep_id))
        ).scalar_one()
        if not exists:
            raise SweepNotFoundError(f"no sweep {sweep_id} in {describe(store.engine.url)}")
        _refuse_live(conn, [int(sweep_id)])
        ids = list(conn.execute(select(r.run_id).where(r.sweep_id == int(sweep_id))).scalars())
        rows = _delete_runs(conn, ids)
        for table in (m.sweep_tags, m.sweeps):
            rows[table.name] = conn.execute(
                delete(table).where(table.c.sweep_id == int(sweep_id))
            ).rowcount
    return Deleted(tuple(ids), (int(sweep_id),), rows)


def sweep_run_ids(store, sweep_id: int) -> list[int]:
    """The ids of a sweep's runs (what ``runner rm --sweep`` asks to confirm)."""
    with store.read() as conn:
        exists = conn.execute(
            select(func.count()).where(m.sweeps.c.sweep_id == int(sweep_id))
        ).scalar_one()
        if not exists:
            raise SweepNotFoundError(f"no sweep {sweep_id} in {describe(store.engine.url)}")
        return list(
            conn.execute(
                select(m.runs.c.run_id).where(m.runs.c.sweep_id == int(sweep_id))
            ).scalars()
        )


__all__ = ["Deleted", "delete_runs", "delete_sweep", "sweep_run_ids"]
