"""Sweep planning: a pure function from a sweep spec and the registry to runs.

A :class:`SweepSpec` says what to sweep (categories, narrowed component lists,
experiments, devices, repeats, settings, explicit ``[[include]]``
combinations); :func:`plan` turns it into :class:`PlannedRun` records. Each
experiment runs once per distinct combination of the categories *it* uses, so
sweeping ``matmul,init`` runs the ``matmul`` experiment once per matmul, not
once per (matmul, init) pair. Categories an experiment uses but the sweep does
not name stay at their default (``Registry.default``; the categories
themselves, built-in or added by a plugin, come from the registry).

The parts, each in its own module: what the sweep chooses and how many runs that
makes (:mod:`~scratchlab.runner.plan_choices`), what its ``-s`` settings name
(:mod:`~scratchlab.runner.plan_settings`), each run's complete, checked params
(:mod:`~scratchlab.runner.plan_params`) and its key
(:mod:`~scratchlab.runner.run_keys`): equal keys mean equal runs, so duplicates
collapse and ``--resume`` can match stored runs to planned ones.

Nothing here imports torch, touches the database or reads the environment:
the command line builds the spec (:mod:`scratchlab.runner.spec` holds it),
this module only computes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from scratchlab.core.records import PlannedRun
from scratchlab.plugins.registry import Registry
from scratchlab.runner.plan_choices import (
    check_basics,
    check_component,
    check_size,
    check_swept_used,
    choices_for,
    chosen_experiments,
    component_choices,
    joins_by_default,
    valid_names,
)
from scratchlab.runner.plan_params import check_combination, data_path_param, run_params
from scratchlab.runner.plan_settings import (
    resolve_settings,
    resolve_target,
    setting_targets,
)
from scratchlab.runner.run_keys import run_key
from scratchlab.runner.spec import Include, PlanError, SweepSpec


def plan(spec: SweepSpec, registry: Registry) -> list[PlannedRun]:
    """Every run of ``spec``, in a stable order, duplicates collapsed by key.

    Raises :class:`PlanError` for anything unknown or malformed (a category,
    component, experiment, setting target, param, or value), before any run
    exists.
    """
    check_basics(spec, registry)
    choices, swept = component_choices(spec, registry)
    experiments = chosen_experiments(spec, registry, swept)
    check_swept_used(spec, registry, swept, experiments)
    check_size(spec, registry, choices, experiments)
    settings = resolve_settings(spec.settings, registry)

    runs: dict[str, PlannedRun] = {}

    def add(experiment: str, components: Mapping[str, str], include: Include | None) -> None:
        params = run_params(experiment, components, registry, settings, spec.data_path, include)
        check_combination(experiment, components, params, registry)
        for run in _runs_for(experiment, components, params, registry, spec):
            runs.setdefault(run.key, run)

    for experiment in experiments:
        uses = registry.get("experiment", experiment).component.uses
        options = [choices_for(c, choices, registry, experiment) for c in uses]
        for combination in itertools.product(*options):
            add(experiment, dict(zip(uses, combination)), None)

    for include in spec.includes:
        add(include.experiment, _include_components(include, choices, registry), include)

    _check_data_path(spec, runs.values(), registry)
    planned = list(runs.values())
    if spec.only_keys is not None:
        wanted = set(spec.only_keys)
        planned = [r for r in planned if r.key in wanted]
    return planned


def _include_components(
    include: Include, choices: Mapping[str, Sequence[str]], registry: Registry
) -> dict[str, str]:
    """The component of each category an ``[[include]]``'s experiment uses: the one it
    names, else the sweep's single narrowed choice, else the default."""
    check_component(registry, "experiment", include.experiment, "[[include]] experiment")
    uses = registry.get("experiment", include.experiment).component.uses
    extra = sorted(set(include.components) - set(uses))
    if extra:
        raise PlanError(
            f"[[include]] {include.experiment}: it does not use {', '.join(extra)};"
            f" it uses {', '.join(uses) or 'no components'}"
        )
    components: dict[str, str] = {}
    for category in uses:
        if category in include.components:
            name = include.components[category]
            check_component(registry, category, name, f"[[include]] {include.experiment}")
            components[category] = name
        else:
            narrowed = choices.get(category, ())
            pick = (
                narrowed
                if len(narrowed) == 1
                else choices_for(category, {}, registry, include.experiment)
            )
            components[category] = pick[0]
    return components


def _check_data_path(spec: SweepSpec, runs: Iterable[PlannedRun], registry: Registry) -> None:
    """PlanError for a ``--data-path`` that no planned run's dataset reads."""
    if spec.data_path is not None and not any(
        data_path_param(registry.get("dataset", r.components["dataset"]).component.params)
        for r in runs
        if "dataset" in r.components
    ):
        with_path = [
            e.name for e in registry.category("dataset") if data_path_param(e.component.params)
        ]
        raise PlanError(
            f"--data-path: no planned run uses a dataset that reads a path;"
            f" datasets with a path: {valid_names(with_path)}"
        )


def _runs_for(
    experiment: str,
    components: Mapping[str, str],
    params: Mapping[str, Any],
    registry: Registry,
    spec: SweepSpec,
) -> Iterable[PlannedRun]:
    versions = {c: registry.get(c, n).version for c, n in components.items()}
    versions["experiment"] = registry.get("experiment", experiment).version
    # --deterministic fixes auto at one thread, so every backend runs the same count
    counts = dict.fromkeys(1 if spec.deterministic and t is None else t for t in spec.threads)
    for device, threads in itertools.product(spec.devices, counts):
        for repeat in range(spec.repeat):
            # each repeat gets its own seed, so repeats of a training run differ
            seed = spec.seed + repeat
            yield PlannedRun(
                key=run_key(
                    experiment,
                    components,
                    versions,
                    params,
                    device,
                    spec.dtype,
                    seed,
                    repeat,
                    threads,
                    spec.deterministic,
                ),
                experiment=experiment,
                components=dict(components),
                params=dict(params),
                device=device,
                dtype=spec.dtype,
                seed=seed,
                repeat=repeat,
                component_versions=dict(versions),
                threads=threads,
                deterministic=spec.deterministic,
            )


def plan_warnings(spec: SweepSpec, runs: Sequence[PlannedRun], registry: Registry) -> list[str]:
    """What in ``spec`` has no effect on ``runs``: settings for an experiment or
    component no run uses, and swept categories no planned experiment uses
    (probably not what the user meant, but not an error; with experiments named,
    :func:`plan` refuses such a category)."""
    used_experiments = {r.experiment for r in runs}
    used_components = {(c, n) for r in runs for c, n in r.components.items()}
    used_categories = {c for r in runs for c in r.components}
    targets = setting_targets(registry)
    warnings = []
    for text, params in spec.settings.items():
        target = resolve_target(text, registry, targets)
        in_use = (
            target.name in used_experiments
            if target.category == "experiment"
            else (target.category, target.name) in used_components
        )
        if not in_use:
            warnings.extend(f"-s {text}.{p} is not used by any planned run" for p in params)
    swept = tuple(dict.fromkeys((*spec.plugins, *spec.components)))
    for category in swept:
        if category not in used_categories:
            warnings.append(f"{category} is swept but none of the planned experiments uses it")
    if spec.experiments is None:
        left_out = [
            e
            for e in registry.category("experiment")
            if set(e.component.uses) & set(swept) and not joins_by_default(e, swept, registry)
        ]
        for entry in left_out:
            warnings.append(
                f"experiment {entry.name!r} from plugin {entry.plugin!r} also uses"
                f" {', '.join(c for c in entry.component.uses if c in swept)}; it runs only when named:"
                f" --experiments {entry.name}"
            )
    return warnings
