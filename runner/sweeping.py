"""Sweep orchestration as plain Python: plan, store, execute, resume, re-run.

One path shared by ``runner sweep`` (which only parses options and prints),
the notebook API (``scratchlab.sweep``) and the benchmarks::

    from scratchlab.runner.sweeping import run_sweep
    from scratchlab.runner.plan import SweepSpec

    outcome = run_sweep(SweepSpec(plugins=("matmul",)), db="sqlite:///runs.db")
    outcome.sweep_id, outcome.status

Errors are domain errors, never click's: :class:`SweepUsageError` for input
that cannot be planned (the CLI exits 2), :class:`SweepError` for the rest
(exit 1); database errors stay :class:`~scratchlab.db.errors.DatabaseError`.
Progress goes to a :class:`SweepReporter`. torch is imported only once runs
are about to execute (or a non-CPU device is checked).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scratchlab.core.records import PlannedRun
from scratchlab.runner.plan import plan, plan_warnings
from scratchlab.runner.reporting import SilentReporter, SweepReporter, Tallying
from scratchlab.runner.spec import PlanError, SweepSpec

if TYPE_CHECKING:
    from scratchlab.db.store import Store
    from scratchlab.runner.backends import Backend

__all__ = [
    "Execution",
    "Prepared",
    "SweepError",
    "SweepOutcome",
    "SweepUsageError",
    "execute_prepared",
    "prepare_new",
    "prepare_rerun",
    "prepare_resume",
    "rerun_failed",
    "resume_sweep",
    "run_sweep",
]

#: run statuses that --rerun-failed attempts again
RERUN_STATUSES: tuple[str, ...] = ("failed", "timeout")


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
    tally: Any = None  # progress.Tally of the runs this invocation finished
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


# --------------------------------------------------------------------------- planning


def _default_name(spec: SweepSpec) -> str:
    from datetime import UTC, datetime

    what = spec.plugins or tuple(spec.components) or spec.experiments or ("include",)
    return f"{'+'.join(what)}-{datetime.now(UTC):%Y%m%d-%H%M%S}"


def plan_runs(spec: SweepSpec, registry: Any) -> list[PlannedRun]:
    """Check ``spec``'s numbers, plan it and check its devices; :class:`SweepUsageError`
    on a bad plan (before anything is written, and before a huge ``repeat`` is expanded)."""
    from scratchlab.runner.environment import DeviceError, check_devices
    from scratchlab.runner.options import BoundsError, check_sweep_numbers

    try:
        check_sweep_numbers(spec.repeat, spec.seed, spec.max_runs)
        runs = plan(spec, registry)
        check_devices(spec.devices)
    except (PlanError, DeviceError, BoundsError) as exc:
        raise SweepUsageError(str(exc)) from None
    return runs


def checked_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """``--tag`` values as they will be stored; :class:`SweepUsageError` for a bad one,
    before anything is written."""
    from scratchlab.db.annotations import check_tag
    from scratchlab.db.errors import InvalidValueError

    try:
        return tuple(dict.fromkeys(check_tag(tag) for tag in tags))
    except InvalidValueError as exc:
        raise SweepUsageError(f"--tag: {exc}") from None


def prepare_new(
    spec: SweepSpec,
    plugins: Any,
    *,
    name: str | None = None,
    tags: Sequence[str] = (),
    search: Any = None,
) -> Prepared:
    """Plan a new sweep of ``spec`` to be stored with ``tags`` (a grid, or with ``search``, a
    :class:`~scratchlab.runner.search.SearchSpec`, a search); nothing is written."""
    tags = checked_tags(tags)
    if search is not None:
        prepared = _prepare_search(spec, plugins, search, name or _default_name(spec))
        prepared.tags = tags
        return prepared
    from scratchlab.runner.search import check_no_ranges

    try:
        check_no_ranges(spec)
    except PlanError as exc:
        raise SweepUsageError(str(exc)) from None
    runs = plan_runs(spec, plugins.registry)
    name = name or _default_name(spec)
    return Prepared(
        spec=spec,
        name=name,
        runs=runs,
        run_ids=[None] * len(runs),
        title=f"sweep {name!r}",
        warnings=plan_warnings(spec, runs, plugins.registry),
        note=None if runs else "the plan has no runs",
        tags=tags,
    )


def _search_driver(spec: SweepSpec, plugins: Any, search: Any) -> Any:
    """A :class:`~scratchlab.runner.trials.SearchDriver` for ``spec``'s space (SweepUsageError)."""
    from scratchlab.runner.search import build_space
    from scratchlab.runner.trials import SearchDriver

    try:
        space = build_space(spec, plugins.registry, planner=plan_runs)
    except PlanError as exc:
        raise SweepUsageError(str(exc)) from None
    return SearchDriver(None, None, space, search, plugins.registry)


def _prepare_search(spec: SweepSpec, plugins: Any, search: Any, name: str) -> Prepared:
    driver = _search_driver(spec, plugins, search)
    return Prepared(
        spec=spec,
        name=name,
        runs=[],
        run_ids=[],
        title=f"search {name!r}: {search.method}, {search.trials} trials of"
        f" {driver.space.experiment} over {driver.space.describe()}",
        search=driver,
    )


def _stored_spec(
    store: Store, sweep_id: int, plugin_modules: Sequence[str]
) -> tuple[dict, SweepSpec]:
    stored = store.get_sweep(sweep_id)
    spec = SweepSpec.from_json(stored["spec"])
    missing = [m for m in spec.plugin_modules if m not in plugin_modules]
    if missing:
        raise SweepUsageError(
            f"sweep {sweep_id} was run with {' '.join(f'--plugin {m}' for m in missing)}; pass the same"
            " --plugin options to continue it"
        )
    return stored, spec


def stored_timeout(stored: Mapping[str, Any]) -> float | None:
    """The ``--timeout`` a stored sweep ran with."""
    return (stored["spec"].get("execution") or {}).get("timeout")


def prepare_resume(
    store: Store, sweep_id: int, plugins: Any, plugin_modules: Sequence[str] = ()
) -> Prepared:
    """The unfinished runs of a stored sweep, matched to the current plan by key.

    ``plugin_modules`` are the ``--plugin`` modules loaded now; the sweep's own must be among them.
    """
    from scratchlab.db.ownership import check_not_live
    from scratchlab.db.queries import planned_runs
    from scratchlab.runner.execute import unfinished
    from scratchlab.runner.search import SEARCH_KEY, SearchSpec
    from scratchlab.runner.threads import candidates

    stored, spec = _stored_spec(store, sweep_id, plugin_modules)
    check_not_live(store, sweep_id)  # refuse a sweep another process still runs, before planning
    title = f"sweep {sweep_id} ({stored['name']}), resumed"
    if SEARCH_KEY in stored["spec"]:
        # the same study goes on: rebuilt from the stored trials, unfinished ones first
        driver = _search_driver(spec, plugins, SearchSpec.from_json(stored["spec"][SEARCH_KEY]))
        driver.attach(store, sweep_id)
        driver.rebuild()
        note = None
        if not driver.work_left:
            note = f"sweep {sweep_id} ({stored['name']}): every trial has ended; nothing to run"
        return Prepared(
            spec=spec,
            name=stored["name"],
            runs=[],
            run_ids=[],
            title=f"{title}: trial {driver.count + 1} of {driver.search.trials} next",
            sweep_id=sweep_id,
            timeout=stored_timeout(stored),
            note=note,
            search=driver,
        )
    wanted = unfinished(store.sweep_runs(sweep_id))
    prepared = Prepared(
        spec=spec,
        name=stored["name"],
        runs=[],
        run_ids=[],
        title=title,
        sweep_id=sweep_id,
        timeout=stored_timeout(stored),
    )
    if not wanted:
        prepared.note = (
            f"sweep {sweep_id} ({stored['name']}): every run is done or skipped; nothing to run"
        )
        return prepared
    # each unfinished run keeps the thread count it was stored with (its key counts it)
    counts = [run.threads for run in planned_runs(store, [r["run_id"] for r in wanted])]
    by_key = {
        candidate.key: candidate
        for run in plan_runs(dataclasses.replace(spec, only_keys=None), plugins.registry)
        for candidate in candidates(run, counts)
    }
    lost = [r for r in wanted if r["key"] not in by_key]
    if lost:
        raise SweepError(
            f"sweep {sweep_id}: {len(lost)} of its {len(wanted)} unfinished runs no longer match the"
            " plan (a component's code or version changed since); start a new sweep with the same"
            f" options, or `runner sweep --rerun-failed {sweep_id}` for its failed runs"
        )
    prepared.runs = [by_key[r["key"]] for r in wanted]
    prepared.run_ids = [r["run_id"] for r in wanted]
    return prepared


def prepare_rerun(
    store: Store,
    sweep_id: int,
    plugins: Any,
    plugin_modules: Sequence[str] = (),
    *,
    name: str | None = None,
) -> Prepared:
    """A new sweep of the failed and timed-out runs of a stored sweep, planned with the current code."""
    stored, spec = _stored_spec(store, sweep_id, plugin_modules)
    name = name or f"{stored['name']}-rerun"
    title = f"sweep {name!r}: failed runs of sweep {sweep_id}"
    wanted = [r for r in store.sweep_runs(sweep_id) if r["status"] in RERUN_STATUSES]
    prepared = Prepared(
        spec=spec, name=name, runs=[], run_ids=[], title=title, timeout=stored_timeout(stored)
    )
    if not wanted:
        prepared.note = (
            f"sweep {sweep_id} ({stored['name']}): no run failed or timed out; nothing to run"
        )
        return prepared
    replanned = plan_runs(dataclasses.replace(spec, only_keys=None), plugins.registry)
    runs, lost = _match_by_identity(store, wanted, replanned)
    if lost:
        prepared.warnings.append(
            f"{lost} failed run(s) of sweep {sweep_id} are no longer in its plan"
            " (a component or param was removed); they are left out"
        )
    if not runs:
        raise SweepError(
            f"none of the failed runs of sweep {sweep_id} can be planned with the current plugins"
        )
    prepared.spec = dataclasses.replace(spec, only_keys=tuple(r.key for r in runs))
    prepared.runs = runs
    prepared.run_ids = [None] * len(runs)
    return prepared


def _match_by_identity(
    store: Store, wanted: Sequence[Mapping[str, Any]], replanned: Sequence[PlannedRun]
) -> tuple[list[PlannedRun], int]:
    """The runs of the current plan that are the same runs as ``wanted`` in all
    but component versions (the code may have been fixed since they failed),
    and how many of ``wanted`` have none."""
    from scratchlab.db.queries import planned_runs
    from scratchlab.runner.plan import run_identity
    from scratchlab.runner.threads import candidates

    stored = planned_runs(store, [r["run_id"] for r in wanted])
    # a replanned auto run matches a stored run at the thread count that run was resolved to
    counts = [run.threads for run in stored]
    current = {run_identity(c): c for r in replanned for c in candidates(r, counts)}
    matched, lost = [], 0
    for run in stored:
        found = current.get(run_identity(run))
        if found is None:
            lost += 1
        else:
            matched.append(found)
    return matched, lost


# --------------------------------------------------------------------------- executing


def make_backend(
    execution: Execution, plugins: Any, modules: Sequence[str], warn: Callable[[str], None]
) -> Backend:
    """The backend ``execution`` asks for; :class:`SweepError` when a Dask cluster cannot be used."""
    from scratchlab.runner import backends, execute

    request = backends.BackendRequest(
        plugins,
        tuple(modules),
        workers=execution.workers,
        scheduler=execution.scheduler,
        max_runs=execution.max_runs_per_worker,
        warn=warn,
    )
    try:
        return backends.make_backend(execution.backend_name(), request)
    except execute.DaskUnavailable as exc:
        raise SweepError(str(exc)) from None


def execute_prepared(
    prepared: Prepared,
    *,
    store: Store,
    plugins: Any,
    execution: Execution = Execution(),
    reporter: SweepReporter | None = None,
    argv: Sequence[str] = (),
    plugin_modules: Sequence[str] | None = None,
) -> SweepOutcome:
    """Store (a new sweep) or reopen (a resume) and run ``prepared``; finish the sweep.

    A Ctrl-C while runs execute comes back as an ``interrupted`` outcome;
    one before they start (cluster start-up) raises ``KeyboardInterrupt``.
    """
    from scratchlab.core.keys import HEADLINES_KEY
    from scratchlab.db import ownership
    from scratchlab.plugins.registry import declared_headlines
    from scratchlab.runner import execute
    from scratchlab.runner.environment import busy_warning, capture_environment
    from scratchlab.runner.search import SEARCH_KEY
    from scratchlab.runner.threads import resolve as resolve_threads

    if prepared.note is not None:
        return SweepOutcome(
            sweep_id=prepared.sweep_id,
            name=prepared.name,
            status="nothing to run",
            note=prepared.note,
        )
    execution.check_environment()
    store.check_writable()  # a damaged database is refused before its first row, not halfway
    search = prepared.search
    if search is not None and search.search.prune != "none" and execution.scheduler is not None:
        raise SweepUsageError(
            "--prune judges values runs report while they run, which Dask workers cannot send;"
            " use the supervised workers (--workers N) or --inline"
        )
    progress = Tallying(reporter or SilentReporter())
    for message in prepared.warnings:
        progress.warn(message)
    timeout = execution.timeout if execution.timeout is not None else prepared.timeout
    hooks = execute.HookCaller(plugins, progress.warn)
    # workers load the --plugin modules loaded here (a resume may add some)
    modules = tuple(prepared.spec.plugin_modules if plugin_modules is None else plugin_modules)
    owner = ownership.Owner.this_process()
    with contextlib.ExitStack() as stack:
        backend = make_backend(execution, plugins, modules, progress.warn)
        stack.callback(backend.close)
        stack.callback(
            progress.close
        )  # (callbacks run last-first: the display ends before the backend)
        environment = capture_environment(plugins)
        environment["execution"] = backend.describe()
        if (busy := busy_warning(environment)) is not None:
            progress.warn(busy)
        sweep_id = prepared.sweep_id
        if sweep_id is None:
            # auto thread counts become what this backend gives each run: part of its key
            prepared.runs = resolve_threads(prepared.runs, backend, plugins.registry)
            # the spec as planned, plus how it runs, so --resume continues it alike
            spec_json = {**prepared.spec.to_json(), "execution": {"timeout": timeout}}
            # what `runner runs` shows as each experiment's results, readable without the plugins
            spec_json[HEADLINES_KEY] = declared_headlines(
                plugins.registry, {r.experiment for r in prepared.runs}
            )
            if search is not None:
                spec_json[SEARCH_KEY] = search.search.to_json()
            sweep_id = store.create_sweep(
                prepared.name, list(argv), spec_json, environment, owner=owner
            )
            ids = store.add_runs(sweep_id, list(prepared.runs))
            items = [(ids[r.key], r) for r in prepared.runs]
        else:
            # refused if another process still runs it; runs a dead driver left running are requeued
            stale = ownership.claim(store, sweep_id, owner)
            if stale:
                progress.warn(
                    f"sweep {sweep_id}: {stale} run(s) its stopped driver left running are run again"
                )
            # running again, with where it resumed kept beside where it started
            store.reopen_sweep(sweep_id, environment)
            items = list(zip(prepared.run_ids, prepared.runs, strict=True))
        if prepared.tags:
            from scratchlab.db.annotations import add_tags

            add_tags(store, "sweep", [sweep_id], prepared.tags)
        total = len(items)
        if search is not None:
            search.attach(store, sweep_id, backend)
            search.parallel = _parallel(execution)
            search.warn = progress.warn
            total = search.runs_left()
            items = search.start()
        stored = store.get_sweep(sweep_id)
        sweep = {k: stored.get(k) for k in ("sweep_id", "name", "argv", "spec", "environment")}
        hooks("sweep_started", sweep=sweep, runs=[execute.run_payload(i, r) for i, r in items])
        progress.start(f"sweep {sweep_id} ({prepared.name})", total)
        stack.enter_context(ownership.Heartbeat(store, sweep_id, owner))
        result = execute.execute_sweep(
            store,
            sweep,
            items,
            backend,
            hooks=hooks,
            reporter=progress,
            timeout=timeout,
            fail_fast=execution.fail_fast,
            feed=search,
        )
        result = _retry_noisy(
            store,
            sweep,
            items,
            backend,
            result,
            rounds=execution.retry_noisy if search is None else 0,
            hooks=hooks,
            reporter=progress,
            timeout=timeout,
            fail_fast=execution.fail_fast,
        )
    return SweepOutcome(
        sweep_id=sweep_id,
        name=prepared.name,
        status=result.status,
        interrupted=result.interrupted,
        stopped_early=result.stopped_early,
        signum=result.signum,
        tally=progress.tally.tally(),
    )


def _parallel(execution: Execution) -> int:
    """How many trials of a search run at once: one per worker (inline: one)."""
    from scratchlab.runner.environment import usable_cpus

    if execution.inline:
        return 1
    return execution.workers or usable_cpus()


def _retry_noisy(
    store: Store,
    sweep: Mapping[str, Any],
    items: Sequence[tuple[int, PlannedRun]],
    backend: Backend,
    result: Any,
    *,
    rounds: int,
    reporter: Tallying,
    **run_options: Any,
) -> Any:
    """Measure the runs of ``items`` whose stored timings are ``noisy`` again, up to ``rounds`` times
    (``--retry-noisy``); each new result replaces the run's earlier one. Returns the last round's outcome."""
    from scratchlab.db.quality import noisy_runs
    from scratchlab.runner import execute

    sweep_id = sweep["sweep_id"]
    ours = dict(items)
    noisy: list[int] = []
    for attempt in range(1, rounds + 1):
        if result.interrupted or result.stopped_early:
            return result
        noisy = [run_id for run_id in noisy_runs(store, sweep_id) if run_id in ours]
        if not noisy:
            return result
        store.reopen_sweep(sweep_id)  # running again: a --resume meanwhile is refused
        reporter.start(
            f"sweep {sweep_id}: {len(noisy)} noisy run(s) measured again ({attempt}/{rounds})",
            len(noisy),
        )
        result = execute.execute_sweep(
            store,
            sweep,
            [(run_id, ours[run_id]) for run_id in noisy],
            backend,
            reporter=reporter,
            **run_options,
        )
    if rounds and not (result.interrupted or result.stopped_early):
        still = [run_id for run_id in noisy_runs(store, sweep_id) if run_id in ours]
        if still:
            reporter.warn(
                f"sweep {sweep_id}: {len(still)} run(s) still have noisy timings after {rounds} retries"
                " (the machine stayed busy); `runner runs` marks them with ~"
            )
    return result


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
