"""Sweep orchestration as plain Python: plan, store, execute, resume, re-run.

One path shared by ``runner sweep`` (which only parses options and prints),
the notebook API (``scratchlab.sweep``) and the benchmarks::

    from scratchlab.runner.sweeping import run_sweep
    from scratchlab.runner.spec import SweepSpec

    outcome = run_sweep(SweepSpec(plugins=("matmul",)), db="sqlite:///runs.db")
    outcome.sweep_id, outcome.status

Errors are domain errors, never click's: :class:`SweepUsageError` for input
that cannot be planned (the CLI exits 2), :class:`SweepError` for the rest
(exit 1); database errors stay :class:`~scratchlab.db.errors.DatabaseError`.
Progress goes to a :class:`~scratchlab.runner.reporting.SweepReporter`. torch is imported
only once runs are about to execute (or a non-CPU device is checked).

Preparing (planning, matching a stored sweep's runs) lives in
:mod:`scratchlab.runner.sweep_prepare`, executing in :mod:`scratchlab.runner.sweep_execute`;
this module keeps the types they share and the calls that chain them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scratchlab.core.records import PlannedRun
from scratchlab.runner.spec import SweepSpec

if TYPE_CHECKING:
    from scratchlab.runner.reporting import SweepReporter

__all__ = [
    "Execution",
    "Prepared",
    "SweepError",
    "SweepOutcome",
    "SweepUsageError",
    "rerun_failed",
    "resume_sweep",
    "run_sweep",
]


class SweepError(Exception):
    """A sweep cannot go on; the message is one line a user can act on."""


class SweepUsageError(SweepError):
    """The input cannot be planned (unknown name, bad value, unusable device): nothing was written."""


@dataclass(frozen=True)
class Execution:
    """How runs execute: the backend and the limits; checked when made (:class:`SweepUsageError`).

    A new sweep stores its timeout, which ``--resume`` keeps unless given another.
    """

    workers: int | None = None  # N supervised worker processes (default: one per usable core)
    scheduler: str | None = (
        None  # an existing Dask cluster, or "local" for a local one of `workers`
    )
    inline: bool = False  # in this process (for pdb)
    backend: str | None = None  # a name in runner.backends.BACKENDS; None: from the three above
    timeout: float | None = None  # seconds per run
    fail_fast: bool = False
    retry_noisy: int = (
        0  # measure runs whose timings were judged noisy again, up to this many times
    )
    max_runs_per_worker: int | None = None  # replace each supervised worker after N runs

    def __post_init__(self) -> None:
        from scratchlab.runner.options import (
            MAX_RETRIES,
            MAX_RUNS_PER_WORKER,
            MAX_WORKERS,
            BoundsError,
            check_int,
            check_seconds,
        )

        if self.workers is not None and self.scheduler not in (None, "local"):
            raise SweepUsageError(
                "--workers sets the local worker count; an existing cluster (--scheduler ADDRESS) has its own"
            )
        if self.inline and (self.workers is not None or self.scheduler is not None):
            raise SweepUsageError(
                "--inline runs in this process; it cannot be combined with --workers or --scheduler"
            )
        from scratchlab.runner.backends import BACKENDS

        if self.backend is not None and self.backend not in BACKENDS:
            raise SweepUsageError(
                f"unknown backend {self.backend!r}; known: {', '.join(sorted(BACKENDS))}"
            )
        if self.max_runs_per_worker is not None and self.backend_name() != "supervised":
            raise SweepUsageError(
                "--max-runs-per-worker recycles supervised worker processes; --inline and"
                " --scheduler have none"
            )
        try:
            if self.workers is not None:
                check_int(self.workers, "workers", 1, MAX_WORKERS)
            if self.timeout is not None:
                check_seconds(self.timeout, "timeout")
            check_int(self.retry_noisy, "retry-noisy", 0, MAX_RETRIES)
            if self.max_runs_per_worker is not None:
                check_int(self.max_runs_per_worker, "max-runs-per-worker", 1, MAX_RUNS_PER_WORKER)
        except BoundsError as exc:
            raise SweepUsageError(str(exc)) from None

    def backend_name(self) -> str:
        """The name of the backend these options choose (:data:`scratchlab.runner.backends.BACKENDS`)."""
        from scratchlab.runner.backends import backend_name

        return self.backend or backend_name(inline=self.inline, scheduler=self.scheduler)

    def check_environment(self) -> None:
        """:class:`SweepUsageError` for an environment setting the backend would trip on once
        started (``SCRATCHLAB_WORKER_MEMORY``, read by each worker): checked before anything is written."""
        if self.backend_name() != "supervised":
            return
        from scratchlab.runner.worker import MemorySizeError, memory_headroom

        try:
            memory_headroom(("cpu",))
        except MemorySizeError as exc:
            raise SweepUsageError(str(exc)) from None


@dataclass
class SweepOutcome:
    """How one invocation of a sweep ended."""

    sweep_id: int | None  # None when nothing ran (a resume with nothing left)
    name: str
    status: str  # "done", "failed", "interrupted" or "nothing to run"
    interrupted: bool = False
    stopped_early: bool = False  # --fail-fast stopped it
    signum: int | None = None  # the signal that interrupted it (SIGINT, SIGTERM, SIGHUP)
    tally: Any = None  # reporting.Tally of the runs this invocation finished
    note: str | None = None  # why nothing ran

    @property
    def summary(self) -> list[dict[str, Any]]:
        """One row per experiment: counts by status and seconds, then a total row."""
        from scratchlab.runner.progress import summary_rows

        return summary_rows(self.tally) if self.tally is not None else []


@dataclass
class Prepared:
    """A sweep ready to execute, or to show as a dry run: nothing is written yet."""

    spec: SweepSpec
    name: str
    runs: list[PlannedRun]  # in order
    run_ids: list[int | None]  # stored ids (a resume), or None (new runs)
    title: str
    sweep_id: int | None = None  # the stored sweep a resume continues
    timeout: float | None = None
    warnings: list[str] = field(default_factory=list)
    note: str | None = None  # set when there is nothing to run
    tags: tuple[str, ...] = ()  # put on the sweep when it is stored or resumed (--tag)
    search: Any = None  # a search's runner.trials.SearchDriver; runs then come from it


# --------------------------------------------------------------------------- the API


def _load(plugins: Any, plugin_modules: Sequence[str]) -> Any:
    if plugins is not None:
        return plugins
    from scratchlab.plugins.manager import load_plugins

    return load_plugins(tuple(plugin_modules))


def run_sweep(
    spec: SweepSpec,
    *,
    db: str | None = None,
    name: str | None = None,
    execution: Execution = Execution(),
    reporter: SweepReporter | None = None,
    plugins: Any = None,
    argv: Sequence[str] = (),
    tags: Sequence[str] = (),
    search: Any = None,
) -> SweepOutcome:
    """Plan ``spec``, store it as a new sweep in ``db`` (a URL or a SQLite path) with
    ``tags`` and run it.

    ``plugins`` is a loaded :class:`~scratchlab.plugins.manager.Plugins`
    (default: load the installed ones plus ``spec.plugin_modules``); ``search`` a
    :class:`~scratchlab.runner.search.SearchSpec` to search instead of running the grid.
    Raises :class:`SweepUsageError` before anything is written when the plan is bad.
    """
    from scratchlab.db import open_store
    from scratchlab.db.engine import resolve_url
    from scratchlab.runner.sweep_execute import execute_prepared
    from scratchlab.runner.sweep_prepare import prepare_new

    loaded = _load(plugins, spec.plugin_modules)
    prepared = prepare_new(spec, loaded, name=name, tags=tags, search=search)
    if prepared.note is not None:
        raise SweepUsageError(prepared.note)
    execution.check_environment()
    with open_store(resolve_url(db)) as store:
        return execute_prepared(
            prepared, store=store, plugins=loaded, execution=execution, reporter=reporter, argv=argv
        )


def resume_sweep(
    sweep_id: int,
    *,
    db: str | None = None,
    execution: Execution = Execution(),
    reporter: SweepReporter | None = None,
    plugins: Any = None,
    plugin_modules: Sequence[str] = (),
) -> SweepOutcome:
    """Run again the runs of stored sweep ``sweep_id`` that are not done or skipped."""
    from scratchlab.db import open_store
    from scratchlab.db.engine import resolve_url
    from scratchlab.runner.sweep_execute import execute_prepared
    from scratchlab.runner.sweep_prepare import prepare_resume

    loaded = _load(plugins, plugin_modules)
    with open_store(resolve_url(db)) as store:
        prepared = prepare_resume(store, sweep_id, loaded, plugin_modules)
        return execute_prepared(
            prepared,
            store=store,
            plugins=loaded,
            execution=execution,
            reporter=reporter,
            plugin_modules=plugin_modules,
        )


def rerun_failed(
    sweep_id: int,
    *,
    db: str | None = None,
    name: str | None = None,
    execution: Execution = Execution(),
    reporter: SweepReporter | None = None,
    plugins: Any = None,
    plugin_modules: Sequence[str] = (),
    argv: Sequence[str] = (),
) -> SweepOutcome:
    """A new sweep of the failed and timed-out runs of stored sweep ``sweep_id``."""
    from scratchlab.db import open_store
    from scratchlab.db.engine import resolve_url
    from scratchlab.runner.sweep_execute import execute_prepared
    from scratchlab.runner.sweep_prepare import prepare_rerun

    loaded = _load(plugins, plugin_modules)
    with open_store(resolve_url(db)) as store:
        prepared = prepare_rerun(store, sweep_id, loaded, plugin_modules, name=name)
        return execute_prepared(
            prepared,
            store=store,
            plugins=loaded,
            execution=execution,
            reporter=reporter,
            argv=argv,
            plugin_modules=plugin_modules,
        )
