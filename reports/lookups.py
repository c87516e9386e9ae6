"""Small read-only lookups the pages need that ``scratchlab.db.queries`` does not
offer, computed from what the store exposes."""

from __future__ import annotations

from collections.abc import Iterable


def experiment_names(store, *, sweep_ids: Iterable[int] | None = None) -> list[str]:
    """The experiments that have runs in ``sweep_ids`` (every sweep when None), sorted.

    Built from ``store.sweep_runs`` (id, key, experiment, status per run: no
    params), which stays cheap on a 10^4-run sweep.
    """
    from scratchlab.db import queries

    if sweep_ids is None:
        sweep_ids = [int(s) for s in queries.list_sweeps(store)["sweep_id"]]
    return sorted({run["experiment"] for sweep_id in sweep_ids for run in store.sweep_runs(int(sweep_id))})


#: what a page needs, and how to tell that a run has it
KINDS: tuple[str, ...] = ("timings", "stats", "curves", "metrics")


def _has(store, kind: str, run_ids: list[int]) -> set[int]:
    """Which of ``run_ids`` recorded data of ``kind`` (one small query for all of them)."""
    from scratchlab.db import queries

    if kind == "timings":
        frame = queries.timings(store, run_ids=run_ids)
    elif kind == "stats":
        frame = queries.activation_stats(store, run_ids=run_ids, final_only=True)
    elif kind == "curves":
        frame = queries.metrics(store, run_ids=run_ids, max_points=2)
        frame = frame[frame["step"].notna()]
    elif kind == "metrics":
        frame = queries.final_metrics(store, run_ids=run_ids)
    else:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    return {int(r) for r in frame["run_id"]}


#: finished runs probed per experiment and sweep
PROBES = 3


def _probe_runs(store, sweep_id: int, wanted: set[str]) -> dict[str, list[int]]:
    """Up to :data:`PROBES` runs per experiment of a sweep, finished ones first."""
    done: dict[str, list[int]] = {}
    other: dict[str, list[int]] = {}
    for run in store.sweep_runs(sweep_id):
        if wanted and run["experiment"] not in wanted:
            continue
        bucket = done if run["status"] == "done" else other
        bucket.setdefault(run["experiment"], []).append(int(run["run_id"]))
    return {e: (done.get(e, []) + other.get(e, []))[:PROBES] for e in {*done, *other}}


def data_scope(store, kind: str, *, sweep_ids: Iterable[int] | None = None,
               experiments: Iterable[str] | None = None) -> tuple[list[int], list[str]]:
    """Where a page finds data of ``kind`` (one of :data:`KINDS`) by default.

    With ``sweep_ids``: all of them, and the experiments (within ``experiments``
    when given) that recorded such data in any. Without: the newest sweep that has
    any, and its experiments that do. ``([], [])`` when nothing has any.

    Probes a few finished runs per experiment and sweep, so a database of 10^4
    runs is never read whole to open a page.
    """
    from scratchlab.db import queries

    chosen = [int(s) for s in sweep_ids or ()]
    candidates = chosen or [int(s) for s in queries.list_sweeps(store)["sweep_id"]]
    wanted = set(experiments or ())
    names: set[str] = set()
    for sweep_id in sorted(candidates, reverse=True):
        probes = _probe_runs(store, sweep_id, wanted)
        found = _has(store, kind, [r for runs in probes.values() for r in runs])
        with_data = {e for e, runs in probes.items() if found.intersection(runs)}
        if with_data and not chosen:
            return [sweep_id], sorted(with_data)
        names |= with_data
    return (chosen, sorted(names)) if names else ([], [])
