"""Timing quality: the verdict rule, each machine's quiet probe figure, and which runs are noisy.

A timing taken while other processes fight for the cores can be off by a
factor of a thousand without its spread widening (6 µs measured as 16 ms
with an IQR of 0.3%), so the spread alone proves nothing. The evidence is a
fixed reference kernel, the *probe* (:mod:`scratchlab.runner.calibration`),
timed right before, during and right after each measurement and compared
with the same probe's *quiet figure* on this machine at this thread count.

This module holds the one verdict rule (:func:`judge`) and the database
side: :func:`settle` runs inside the transaction that stores a run. It keeps
the ``calibrations`` table's quiet figure honest (the lowest probe figure ever
seen for the machine and thread count: a faster probe lowers it, nothing
raises it) and re-judges each timing against that figure, because the
worker that measured only knew its own process's figure. :func:`noisy_runs`
answers "which runs of this sweep have noisy timings" (``--retry-noisy``).

No torch here: the database package must not need it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from scratchlab.db import models as m
from scratchlab.db.dialects import insert_ignoring_duplicates
from scratchlab.db.sqltypes import utcnow

if TYPE_CHECKING:
    from scratchlab.db.store import Store

#: the values of ``timings.quality``
QUALITIES: tuple[str, ...] = ("ok", "noisy")
#: noisy when the probe took more than this many times its quiet figure
PROBE_LIMIT = 2.0
#: ... or more than this many times, while the load average per usable CPU is over
#: LOAD_LIMIT, where the scheduler's own account (``cpu_wait``) is missing: the load
#: average is a lagging 1-minute proxy (it stays high for a minute after a busy spell
#: ends), so it only stands in for the direct measure, never overrules it
LOAD_PROBE_LIMIT = 1.5
LOAD_LIMIT = 1.0
#: noisy when a measuring thread spent more than this share of the measurement
#: runnable but waiting for a CPU (a CPU-bound thread then ran over 1/(1-0.3) = 1.4x slower)
WAIT_LIMIT = 0.3
#: noisy when the IQR is more than this fraction of the median: a backstop for
#: replicates that disagree by more than the value itself. The verdict is about
#: contention (the probe, the scheduler's account); a merely wide spread is shown
#: apart, as the views' ⚠ from an IQR of 10% (pyperf warns from a standard deviation
#: of 10% of the mean). At 0.5 this rule made the only false alarms on the quiet
#: side of ``noisy_detection.py``: IQRs of 56% and 62% around medians 1.3x quiet.
SPREAD_LIMIT = 1.0


def judge(evidence: Mapping[str, Any], quiet_s: float | None) -> tuple[str, list[str]]:
    """The verdict (``ok`` or ``noisy``) on one timing's ``evidence`` and the reasons for ``noisy``.

    ``evidence`` holds ``probe_s`` (the probe's median time per call around and
    during the measurement), ``cpu_wait`` (the largest share of the measurement
    a measuring thread spent waiting for a CPU), ``load1`` and ``cpus`` (the 1-minute load average
    and the CPUs this process may use) and ``spread`` (IQR / median); missing
    entries are not evidence. ``quiet_s`` is the probe's quiet figure (None:
    unknown, the probe is then no evidence).
    """
    reasons: list[str] = []
    probe_s = _number(evidence.get("probe_s"))
    ratio = probe_s / quiet_s if probe_s is not None and quiet_s else None
    load1, cpus = _number(evidence.get("load1")), _number(evidence.get("cpus"))
    load_per_cpu = load1 / cpus if load1 is not None and cpus else None
    if ratio is not None and ratio > PROBE_LIMIT:
        reasons.append(
            f"the reference probe took {ratio:.1f}x its quiet time ({_us(probe_s)} vs {_us(quiet_s)}):"
            " other work was competing for the cores"
        )
    elif (
        ratio is not None
        and ratio > LOAD_PROBE_LIMIT
        and load_per_cpu is not None
        and load_per_cpu > LOAD_LIMIT
        and _number(evidence.get("cpu_wait")) is None
    ):
        reasons.append(
            f"load average {load1:.2f} on {cpus:g} CPU(s) and the reference probe {ratio:.1f}x its quiet time"
        )
    waited = _number(evidence.get("cpu_wait"))
    if waited is not None and waited > WAIT_LIMIT:
        reasons.append(
            f"a measuring thread waited for a CPU {waited:.0%} of the time: the timing is up to"
            f" {1 / max(1 - waited, 1e-3):.1f}x too slow"
        )
    spread = _number(evidence.get("spread"))
    if spread is not None and spread > SPREAD_LIMIT:
        reasons.append(f"the IQR is {spread:.0%} of the median: the replicates disagree")
    return ("noisy" if reasons else "ok"), reasons


def assess(evidence: Mapping[str, Any], quiet_s: float | None) -> tuple[str, dict[str, Any]]:
    """``judge`` plus the evidence completed with the quiet figure used, the probe ratio and the reasons."""
    quality, reasons = judge(evidence, quiet_s)
    probe_s = _number(evidence.get("probe_s"))
    completed = dict(evidence)
    completed.update(
        quiet_s=quiet_s,
        probe_ratio=None if probe_s is None or not quiet_s else round(probe_s / quiet_s, 3),
        reasons=reasons,
    )
    return quality, completed


def settle(conn: Connection, timings: Iterable[Any]) -> None:
    """Re-judge ``timings`` (:class:`~scratchlab.core.records.TimingRecord`) against the stored quiet figures.

    Runs inside the caller's transaction. For each machine and thread count in
    the timings' evidence, the quiet figure becomes the lowest of the stored
    one, the worker's own calibration and every probe figure seen; the
    ``calibrations`` row is created or lowered to match. A timing without
    evidence (written by an older scratchlab, or by hand) keeps its verdict.
    """
    with_evidence = [
        t for t in timings if getattr(t, "evidence", None) and t.evidence.get("machine")
    ]
    groups: dict[tuple[str, int], list[Any]] = {}
    for t in with_evidence:
        groups.setdefault(
            (str(t.evidence["machine"]), int(t.evidence.get("threads") or 0)), []
        ).append(t)
    for (machine, threads), group in groups.items():
        stored = quiet_figure(conn, machine, threads)
        seen = [
            value
            for t in group
            for value in (
                _number(t.evidence.get("local_quiet_s")),
                _number(t.evidence.get("probe_s")),
            )
            if value is not None and value > 0
        ]
        best = min([*seen, *([stored] if stored is not None else [])], default=None)
        if best is not None and (stored is None or best < stored):
            _record_quiet(conn, machine, threads, best, group[0].evidence)
        for t in group:
            t.quality, t.evidence = assess(t.evidence, best)


def quiet_figure(conn: Connection, machine: str, threads: int) -> float | None:
    """The stored quiet probe time (seconds per call) for ``machine`` at ``threads``, or None."""
    c = m.calibrations.c
    return conn.execute(
        select(c.probe_s).where(c.machine == machine, c.threads == threads)
    ).scalar_one_or_none()


def _record_quiet(
    conn: Connection, machine: str, threads: int, probe_s: float, evidence: Mapping
) -> None:
    c = m.calibrations.c
    values = {
        "probe_s": probe_s,
        "measured_at": utcnow(),
        "details_json": json.dumps(
            {"probe": evidence.get("probe"), "rule": "lowest probe figure seen"}
        ),
    }
    # lower only: two writers racing keep the faster figure
    lowered = conn.execute(
        update(m.calibrations)
        .where(c.machine == machine, c.threads == threads, c.probe_s > probe_s)
        .values(**values)
    )
    if lowered.rowcount:
        return
    row = {"machine": machine, "threads": threads, **values}
    insert_ignoring_duplicates(conn, m.calibrations, row, key=("machine", "threads"))


def noisy_runs(store: Store, sweep_id: int) -> list[int]:
    """The ids of the runs of sweep ``sweep_id`` with at least one ``noisy`` timing, ascending.

    ``--retry-noisy`` measures these again. ``store`` is an open
    :class:`~scratchlab.db.store.Store` (read-only is fine).
    """
    t, r = m.timings.c, m.runs.c
    stmt = (
        select(t.run_id)
        .join(m.runs, r.run_id == t.run_id)
        .where(r.sweep_id == int(sweep_id), t.quality == "noisy")
        .distinct()
        .order_by(t.run_id)
    )
    with store.engine.connect() as conn:
        return [int(run_id) for run_id in conn.execute(stmt).scalars()]


def calibrations(store: Store) -> list[dict[str, Any]]:
    """Every stored quiet figure: machine, threads, probe_s, measured_at, details."""
    c = m.calibrations.c
    stmt = select(c.machine, c.threads, c.probe_s, c.measured_at, c.details_json).order_by(
        c.machine, c.threads
    )
    with store.engine.connect() as conn:
        rows = [row._asdict() for row in conn.execute(stmt)]
    return [{**row, "details": json.loads(row.pop("details_json") or "{}")} for row in rows]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _us(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds * 1e3:.3g} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.3g} µs"
