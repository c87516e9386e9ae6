"""The torch thread count is part of a run's identity (issue 21).

A run's numbers depend on how many threads torch used: a reduction split over two
threads adds in another order than over one, and a training run that sits on the edge
of divergence (the lessons' CNN at lr 1.5) goes either way. So a sweep resolves each
``auto`` run (``PlannedRun.threads`` None) to the count the backend will give it before
the run is stored: the count is stored as the run's ``threads`` param and counted in its
key. The same configuration at the same thread count is then the same key in every mode
(``--inline``, supervised workers, Dask), and two modes that give a run different counts
store different keys rather than one key with two results.

What ``auto`` becomes is each backend's ``auto_threads(exclusive)``: every usable core
inline or for a run that runs alone, ``cores // workers`` for runs that share the cores,
and on a Dask cluster the torch threads each worker is given; a backend without the
method (optional in :class:`~scratchlab.runner.backends.Backend`) gets every usable core.
``--deterministic`` fixes ``auto`` at 1 when the sweep is planned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from scratchlab.core.records import PlannedRun


def with_threads(run: PlannedRun, threads: int | None) -> PlannedRun:
    """``run`` at ``threads`` torch threads, its key computed again to count them."""
    from scratchlab.runner.run_keys import run_key

    return dataclasses.replace(
        run,
        threads=threads,
        key=run_key(
            run.experiment,
            run.components,
            run.component_versions,
            run.params,
            run.device,
            run.dtype,
            run.seed,
            run.repeat,
            threads,
            run.deterministic,
        ),
    )


def exclusive(registry: Any, run: PlannedRun) -> bool:
    """Whether ``run``'s experiment runs alone (its timings would suffer from company)."""
    return bool(getattr(registry.get("experiment", run.experiment).component, "exclusive", False))


def resolve(runs: Iterable[PlannedRun], backend: Any, registry: Any) -> list[PlannedRun]:
    """``runs`` with every ``auto`` thread count replaced by what ``backend`` gives that run,
    keys recomputed; runs that become equal (``--threads auto,1`` where auto is 1) collapse."""
    resolved: dict[str, PlannedRun] = {}
    for run in runs:
        if run.threads is None:
            run = with_threads(run, auto_threads(backend, exclusive(registry, run)))
        resolved.setdefault(run.key, run)
    return list(resolved.values())


def auto_threads(backend: Any, exclusive: bool) -> int:
    """What ``auto`` is on ``backend``: its ``auto_threads(exclusive)``; a backend without
    one (a third party's) gets every usable core, which the run then sets for itself."""
    method = getattr(backend, "auto_threads", None)
    if method is not None:
        return int(method(exclusive))
    from scratchlab.runner.environment import usable_cpus

    return usable_cpus()


def candidates(run: PlannedRun, counts: Sequence[int | None]) -> list[PlannedRun]:
    """A replanned run as each stored run of it may have been resolved: itself for a fixed
    count, else once per count in ``counts`` (None: a run stored before counts were resolved)."""
    if run.threads is not None:
        return [run]
    return [with_threads(run, count) for count in dict.fromkeys(counts)]
