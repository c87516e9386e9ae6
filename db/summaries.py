"""Small reads the views need besides the tables of :mod:`scratchlab.db.queries`:
the stored specs of sweeps, which timings were measured noisy, and a data version.

Part of the store's public read interface: the reports and the CLI call these
instead of writing SQL of their own. Nothing here imports torch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select

from scratchlab.db import models as m
from scratchlab.db.store import Store


def sweep_specs(store: Store, sweep_ids: Iterable[int]) -> list[dict[str, Any]]:
    """The stored specs of ``sweep_ids``, oldest sweep first (one query); a spec that is
    not a JSON object reads as ``{}``."""
    ids = sorted({int(i) for i in sweep_ids})
    if not ids:
        return []
    s = m.sweeps.c
    with store.read() as conn:
        texts = (
            conn.execute(select(s.spec_json).where(s.sweep_id.in_(ids)).order_by(s.sweep_id))
            .scalars()
            .all()
        )
    specs = []
    for text in texts:
        try:
            spec = json.loads(text or "{}")
        except ValueError:
            spec = {}
        specs.append(spec if isinstance(spec, dict) else {})
    return specs


def noisy_timings(store: Store, run_ids: Iterable[int]) -> dict[int, set[str]]:
    """``{run_id: labels}`` of the timings whose quality is ``noisy`` (contended while
    measured), for the ``~`` marker of the terminal views; one query."""
    ids = [int(i) for i in run_ids]
    if not ids or "quality" not in m.timings.c:
        return {}
    t = m.timings.c
    stmt = select(t.run_id, t.label).where(t.run_id.in_(ids), t.quality == "noisy")
    found: dict[int, set[str]] = {}
    with store.read() as conn:
        for run_id, label in conn.execute(stmt):
            found.setdefault(int(run_id), set()).add(str(label))
    return found


def data_version(store: Store) -> tuple:
    """A small value that changes whenever results are added: the number of sweeps
    and of running ones, the number of runs and of finished ones, the latest finish
    time, and how many tags runs and sweeps carry (a new tag shows in the app's tag
    filter at once). Every result is written with its run's finish in one transaction,
    so an unchanged version means unchanged results. Three aggregate queries."""
    r, s = m.runs.c, m.sweeps.c
    with store.read() as conn:
        sweeps = conn.execute(
            select(
                func.count(), func.count().filter(s.status == "running"), func.max(s.finished_at)
            )
        ).one()
        runs = conn.execute(
            select(
                func.count(), func.count(r.finished_at), func.max(r.finished_at), func.max(r.run_id)
            )
        ).one()
        tags = conn.execute(
            select(
                select(func.count()).select_from(m.run_tags).scalar_subquery(),
                select(func.count()).select_from(m.sweep_tags).scalar_subquery(),
            )
        ).one()
    return (*(str(v) for v in sweeps), *(str(v) for v in runs), *(str(v) for v in tags))


def running_sweeps(version: tuple) -> int:
    """How many sweeps :func:`data_version` saw running."""
    return int(version[1])
