"""Executing a prepared sweep: store or reopen it, run it on a backend, retry noisy runs.

The step after :mod:`scratchlab.runner.sweep_prepare`; torch is imported only once runs
are about to execute.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from scratchlab.core.records import PlannedRun
from scratchlab.runner.reporting import SilentReporter, SweepReporter, Tallying
from scratchlab.runner.sweeping import (
    Execution,
    Prepared,
    SweepError,
    SweepOutcome,
    SweepUsageError,
)

if TYPE_CHECKING:
    from scratchlab.db.store import Store
    from scratchlab.runner.backends import Backend


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
    from scratchlab.runner import execute

    if prepared.note is not None:
        return SweepOutcome(
            sweep_id=prepared.sweep_id,
            name=prepared.name,
            status="nothing to run",
            note=prepared.note,
        )
    _check_can_run(prepared, execution, store)
    progress = Tallying(reporter or SilentReporter())
    for message in prepared.warnings:
        progress.warn(message)
    timeout = execution.timeout if execution.timeout is not None else prepared.timeout
    hooks = execute.HookCaller(plugins, progress.warn)
    # workers load the --plugin modules loaded here (a resume may add some)
    modules = tuple(prepared.spec.plugin_modules if plugin_modules is None else plugin_modules)
    with contextlib.ExitStack() as stack:
        backend = make_backend(execution, plugins, modules, progress.warn)
        stack.callback(backend.close)
        # (callbacks run last-first: the display ends before the backend)
        stack.callback(progress.close)
        sweep, items = _begin(
            prepared, store, plugins, backend, execution, timeout, argv, progress, hooks, stack
        )
        result = _run_rounds(
            store,
            sweep,
            items,
            backend,
            execution,
            search=prepared.search,
            hooks=hooks,
            reporter=progress,
            timeout=timeout,
        )
    return SweepOutcome(
        sweep_id=sweep["sweep_id"],
        name=prepared.name,
        status=result.status,
        interrupted=result.interrupted,
        stopped_early=result.stopped_early,
        signum=result.signum,
        tally=progress.tally,
    )


def _begin(
    prepared: Prepared,
    store: Store,
    plugins: Any,
    backend: Backend,
    execution: Execution,
    timeout: float | None,
    argv: Sequence[str],
    progress: Tallying,
    hooks: Any,
    stack: contextlib.ExitStack,
) -> tuple[dict[str, Any], list[tuple[Any, PlannedRun]]]:
    """Record where and how the sweep runs, store or reopen it as this process's, let a search
    take over its runs, tell the hooks and the display, and keep the sweep's heartbeat while
    ``stack`` is open: the sweep as the hooks get it, and the runs to start with."""
    from scratchlab.db import ownership
    from scratchlab.runner.environment import busy_warning, capture_environment, torch_environment
    from scratchlab.runner.execute import run_payload

    owner = ownership.Owner.this_process()

    environment = capture_environment(
        plugins, torch_info=getattr(backend, "torch_environment", torch_environment)
    )
    environment["execution"] = backend.describe()
    if (busy := busy_warning(environment)) is not None:
        progress.warn(busy)
    sweep_id, items = _open_sweep(
        prepared, store, plugins, backend, environment, timeout, argv, owner, progress
    )
    total = len(items)
    search = prepared.search
    if search is not None:
        search.attach(store, sweep_id, backend)
        search.parallel = _parallel(execution)
        search.warn = progress.warn
        total = search.runs_left()
        items = search.start()
    stored = store.get_sweep(sweep_id)
    sweep = {k: stored.get(k) for k in ("sweep_id", "name", "argv", "spec", "environment")}
    hooks("sweep_started", sweep=sweep, runs=[run_payload(i, r) for i, r in items])
    progress.start(f"sweep {sweep_id} ({prepared.name})", total)
    stack.enter_context(ownership.Heartbeat(store, sweep_id, owner))
    return sweep, items


def _open_sweep(
    prepared: Prepared,
    store: Store,
    plugins: Any,
    backend: Backend,
    environment: dict[str, Any],
    timeout: float | None,
    argv: Sequence[str],
    owner: Any,
    progress: Tallying,
) -> tuple[int, list[tuple[Any, PlannedRun]]]:
    """Store ``prepared`` as a new sweep or reopen the one it resumes, and tag it
    (``--tag``): the sweep's id and its (run id, run) items."""
    if prepared.sweep_id is None:
        sweep_id, items = _store_new(
            prepared, store, plugins, backend, environment, timeout, argv, owner
        )
    else:
        sweep_id, items = _reopen(prepared, prepared.sweep_id, store, environment, owner, progress)
    if prepared.tags:
        from scratchlab.db.annotations import add_tags

        add_tags(store, "sweep", [sweep_id], prepared.tags)
    return sweep_id, items


def _run_rounds(
    store: Store,
    sweep: Mapping[str, Any],
    items: Sequence[tuple[Any, PlannedRun]],
    backend: Backend,
    execution: Execution,
    *,
    search: Any,
    hooks: Any,
    reporter: Tallying,
    timeout: float | None,
) -> Any:
    """Run ``items`` (a search's trials as ``search`` feeds them), then the ``--retry-noisy``
    rounds (none for a search): the last round's outcome."""
    from scratchlab.runner import execute

    result = execute.execute_sweep(
        store,
        sweep,
        items,
        backend,
        hooks=hooks,
        reporter=reporter,
        timeout=timeout,
        fail_fast=execution.fail_fast,
        feed=search,
    )
    return _retry_noisy(
        store,
        sweep,
        items,
        backend,
        result,
        rounds=execution.retry_noisy if search is None else 0,
        hooks=hooks,
        reporter=reporter,
        timeout=timeout,
        fail_fast=execution.fail_fast,
    )


def _check_can_run(prepared: Prepared, execution: Execution, store: Store) -> None:
    """Refuse, before anything is written, what the backend or the database would trip on."""
    execution.check_environment()
    store.check_writable()  # a damaged database is refused before its first row, not halfway
    search = prepared.search
    if search is not None and search.search.prune != "none" and execution.scheduler is not None:
        raise SweepUsageError(
            "--prune judges values runs report while they run, which Dask workers cannot send;"
            " use the supervised workers (--workers N) or --inline"
        )


def _store_new(
    prepared: Prepared,
    store: Store,
    plugins: Any,
    backend: Backend,
    environment: dict[str, Any],
    timeout: float | None,
    argv: Sequence[str],
    owner: Any,
) -> tuple[int, list[tuple[int, PlannedRun]]]:
    """Store ``prepared`` as a new sweep owned by ``owner``: its id and its (run id, run) items."""
    from scratchlab.core.keys import HEADLINES_KEY
    from scratchlab.plugins.registry import declared_headlines
    from scratchlab.runner.search import SEARCH_KEY
    from scratchlab.runner.threads import resolve as resolve_threads

    # auto thread counts become what this backend gives each run: part of its key
    prepared.runs = resolve_threads(prepared.runs, backend, plugins.registry)
    # the spec as planned, plus how it runs, so --resume continues it alike
    spec_json = {**prepared.spec.to_json(), "execution": {"timeout": timeout}}
    # what `runner runs` shows as each experiment's results, readable without the plugins
    spec_json[HEADLINES_KEY] = declared_headlines(
        plugins.registry, {r.experiment for r in prepared.runs}
    )
    if prepared.search is not None:
        spec_json[SEARCH_KEY] = prepared.search.search.to_json()
    sweep_id = store.create_sweep(prepared.name, list(argv), spec_json, environment, owner=owner)
    ids = store.add_runs(sweep_id, list(prepared.runs))
    return sweep_id, [(ids[r.key], r) for r in prepared.runs]


def _reopen(
    prepared: Prepared,
    sweep_id: int,
    store: Store,
    environment: dict[str, Any],
    owner: Any,
    progress: Tallying,
) -> tuple[int, list[tuple[int | None, PlannedRun]]]:
    """Claim stored sweep ``sweep_id``, which ``prepared`` resumes, for ``owner`` and mark it
    running again: its id and its (run id, run) items."""
    from scratchlab.db import ownership

    # refused if another process still runs it; runs a dead driver left running are requeued
    stale = ownership.claim(store, sweep_id, owner)
    if stale:
        progress.warn(
            f"sweep {sweep_id}: {stale} run(s) its stopped driver left running are run again"
        )
    # running again, with where it resumed kept beside where it started
    store.reopen_sweep(sweep_id, environment)
    return sweep_id, list(zip(prepared.run_ids, prepared.runs, strict=True))


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
