"""Preparing a sweep: plan a new one, or match a stored one's unfinished or failed runs.

Nothing here writes to the database: a :class:`~scratchlab.runner.sweeping.Prepared`
is what :mod:`scratchlab.runner.sweep_execute` stores and runs, or what a dry run shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from scratchlab.core.records import PlannedRun
from scratchlab.runner.plan import plan, plan_warnings
from scratchlab.runner.spec import PlanError, SweepSpec
from scratchlab.runner.sweeping import Prepared, SweepError, SweepUsageError

if TYPE_CHECKING:
    from scratchlab.db.store import Store

#: run statuses that --rerun-failed attempts again
RERUN_STATUSES: tuple[str, ...] = ("failed", "timeout")


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
    from scratchlab.runner.execute import unfinished
    from scratchlab.runner.search import SEARCH_KEY

    stored, spec = _stored_spec(store, sweep_id, plugin_modules)
    check_not_live(store, sweep_id)  # refuse a sweep another process still runs, before planning
    title = f"sweep {sweep_id} ({stored['name']}), resumed"
    if SEARCH_KEY in stored["spec"]:
        return _resume_search(store, sweep_id, stored, spec, plugins, title)
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
    prepared.runs = _match_by_key(store, sweep_id, wanted, spec, plugins)
    prepared.run_ids = [r["run_id"] for r in wanted]
    return prepared


def _resume_search(
    store: Store,
    sweep_id: int,
    stored: Mapping[str, Any],
    spec: SweepSpec,
    plugins: Any,
    title: str,
) -> Prepared:
    """A stored search resumed: the same study goes on, rebuilt from the stored trials,
    unfinished ones first."""
    from scratchlab.runner.search import SEARCH_KEY, SearchSpec

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


def _match_by_key(
    store: Store,
    sweep_id: int,
    wanted: Sequence[Mapping[str, Any]],
    spec: SweepSpec,
    plugins: Any,
) -> list[PlannedRun]:
    """The current plan's run for each of ``wanted`` (stored unfinished runs), by key;
    :class:`SweepError` when any no longer matches (its code or version changed)."""
    from scratchlab.db.queries import planned_runs
    from scratchlab.runner.threads import candidates

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
    return [by_key[r["key"]] for r in wanted]


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
    from scratchlab.runner.run_keys import run_identity
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
