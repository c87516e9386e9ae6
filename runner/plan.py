"""Sweep planning: a pure function from a sweep spec and the registry to runs.

A :class:`SweepSpec` says what to sweep (categories, narrowed component lists,
experiments, devices, repeats, settings, explicit ``[[include]]``
combinations); :func:`plan` turns it into :class:`PlannedRun` records. Each
experiment runs once per distinct combination of the categories *it* uses, so
sweeping ``matmul,init`` runs the ``matmul`` experiment once per matmul, not
once per (matmul, init) pair. Categories an experiment uses but the sweep does
not name stay at their default (``Registry.default``; the categories
themselves, built-in or added by a plugin, come from the registry).

Every run carries complete params (defaults filled in; component params as
``"<component>.<param>"``) and a key: the SHA-256 of the canonical JSON of
exactly what the run depends on. Equal keys mean equal runs, so duplicates
collapse and ``--resume`` can match stored runs to planned ones.

Nothing here imports torch, touches the database or reads the environment:
the command line builds the spec (:mod:`scratchlab.runner.spec` reads it),
this module only computes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scratchlab.core.records import PlannedRun
from scratchlab.plugins.contracts import check_bounds
from scratchlab.plugins.registry import Registry, UnknownComponentError
from scratchlab.plugins.types import bind
from scratchlab.runner.spec import DTYPES, Include, PlanError, SweepSpec
from scratchlab.runner.spec_values import coerce_value

__all__ = [
    "DATA_PATH_PARAMS",
    "canonical_json",
    "data_path_param",
    "plan",
    "plan_size",
    "plan_warnings",
    "run_identity",
    "run_key",
    "setting_param",
]

# --------------------------------------------------------------------------- keys


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same text for the same value, in
    any process (NaN and infinities written as ``NaN``/``Infinity``)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=repr)


def run_key(
    experiment: str,
    components: Mapping[str, str],
    versions: Mapping[str, str],
    params: Mapping[str, Any],
    device: str,
    dtype: str,
    seed: int,
    repeat: int,
    threads: int | None = None,
    deterministic: bool = False,
) -> str:
    """The run key: SHA-256 (hex) of exactly what a run depends on.

    ``versions`` maps category -> version and includes ``"experiment"``, so a
    change to the code of any component (or of the experiment) changes the key.
    ``threads``, the torch thread count, counts when given: a sweep resolves
    ``auto`` (None) to the count each run gets before it stores the run
    (:mod:`scratchlab.runner.threads`), since results depend on it; None leaves
    the key as it was before thread counts were counted. ``deterministic``
    counts only when set.
    """
    payload = {
        "experiment": {"name": experiment, "version": versions.get("experiment")},
        "components": {c: {"name": n, "version": versions.get(c)} for c, n in components.items()},
        "params": dict(params),
        "device": device,
        "dtype": dtype,
        "seed": seed,
        "repeat": repeat,
    }
    if threads is not None:
        payload["threads"] = threads
    if deterministic:
        payload["deterministic"] = True
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def run_identity(run: PlannedRun) -> str:
    """The run's key computed without component versions: equal for the same
    combination, params, device, dtype, seed and repeat before and after a
    component's code changed (how ``--rerun-failed`` finds a fixed run again)."""
    return run_key(
        run.experiment,
        run.components,
        {},
        run.params,
        run.device,
        run.dtype,
        run.seed,
        run.repeat,
        run.threads,
        run.deterministic,
    )


# --------------------------------------------------------------------------- planning


def _valid(names: Iterable[str]) -> str:
    return ", ".join(names) or "none registered"


@dataclass(frozen=True)
class _Target:
    """What a settings name refers to: ``category`` is "experiment" or a component category."""

    category: str
    name: str


def _targets(registry: Registry) -> dict[str, list[_Target]]:
    targets: dict[str, list[_Target]] = {}
    for entry in registry:
        targets.setdefault(entry.name, []).append(_Target(entry.category, entry.name))
    return targets


def _resolve_target(text: str, registry: Registry, targets: Mapping[str, list[_Target]]) -> _Target:
    category, colon, name = text.rpartition(":")
    if colon:
        known = (*registry.component_categories(), "experiment")
        if category not in known:
            raise PlanError(f"-s {text}: unknown category {category!r}; valid: {', '.join(known)}")
        try:
            registry.get(category, name)
        except UnknownComponentError as exc:
            raise PlanError(f"-s {text}: {exc}") from None
        return _Target(category, name)
    found = targets.get(text, [])
    if not found:
        experiments = registry.names("experiment")
        components = sorted({e.name for e in registry if e.category != "experiment"})
        raise PlanError(
            f"-s {text}: no experiment or component named {text!r};"
            f" experiments: {_valid(experiments)}; components: {_valid(components)}"
        )
    if len(found) > 1:
        both = " and ".join(f"{t.category} {t.name!r}" for t in found)
        spelled = " or ".join(f"-s {t.category}:{t.name}.PARAM=..." for t in found)
        raise PlanError(f"-s {text}: {text!r} is ambiguous: it names {both}; write {spelled}")
    return found[0]


def setting_param(registry: Registry, text: str, param: str) -> tuple[str, str, Any, Any]:
    """What ``-s TEXT.PARAM`` sets: ``(category, component name, default, declared bound)``;
    :class:`PlanError` (one line) for an unknown target or param."""
    target = _resolve_target(text, registry, _targets(registry))
    component = registry.get(target.category, target.name).component
    if param not in component.params:
        raise PlanError(
            f"-s {text}.{param}: {target.category} {target.name!r} has no param {param!r};"
            f" params: {', '.join(component.params) or 'none'}"
        )
    bound = getattr(component, "bounds", {}).get(param)
    return target.category, target.name, component.params[param], bound


def _resolve_settings(
    settings: Mapping[str, Mapping[str, Any]], registry: Registry
) -> dict[_Target, dict[str, Any]]:
    """Check every setting's target and param, and parse its value."""
    targets = _targets(registry)
    resolved: dict[_Target, dict[str, Any]] = {}
    for text, params in settings.items():
        target = _resolve_target(text, registry, targets)
        defaults = registry.get(target.category, target.name).component.params
        for param, value in params.items():
            if param not in defaults:
                raise PlanError(
                    f"-s {text}.{param}: {target.category} {target.name!r} has no param {param!r};"
                    f" params: {', '.join(defaults) or 'none'}"
                )
            parsed = coerce_value(defaults[param], value, f"{text}.{param}")
            resolved.setdefault(target, {})[param] = parsed
    return resolved


def _check_component(registry: Registry, category: str, name: str, where: str) -> None:
    try:
        registry.get(category, name)
    except UnknownComponentError as exc:
        raise PlanError(f"{where}: {exc}") from None


def _choices(
    spec: SweepSpec, registry: Registry
) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """Component choices per category, and the swept categories in order.

    A category named by ``plugins`` sweeps every registered component unless
    its own option narrows it; a category given only its own option sweeps
    exactly those components.
    """
    known = registry.component_categories()
    for category in spec.plugins:
        if category not in known:
            hint = " (choose experiments with --experiments)" if category == "experiment" else ""
            raise PlanError(
                f"--plugins: unknown category {category!r}; valid: {', '.join(known)}{hint}"
            )
    choices: dict[str, tuple[str, ...]] = {}
    for category, names in spec.components.items():
        if category not in known:
            raise PlanError(f"unknown category {category!r}; valid: {', '.join(known)}")
        if not names:
            raise PlanError(
                f"--{category} needs at least one name; valid: {_valid(registry.names(category))}"
            )
        for name in names:
            _check_component(registry, category, name, f"--{category}")
        choices[category] = tuple(names)
    swept = tuple(dict.fromkeys((*spec.plugins, *choices)))
    for category in spec.plugins:
        if category not in choices:
            choices[category] = tuple(registry.names(category))
            if not choices[category]:
                raise PlanError(f"--plugins {category}: no {category} components are registered")
    return choices, swept


def _component_for(
    category: str, choices: Mapping[str, tuple[str, ...]], registry: Registry, experiment: str
) -> tuple[str, ...]:
    if category in choices:
        return choices[category]
    name = registry.default(category)
    if name is None:
        raise PlanError(
            f"experiment {experiment!r} uses {category}, which has no default;"
            f" choose with --{category} or --plugins {category} (registered: {_valid(registry.names(category))})"
        )
    if name not in registry.names(category):
        raise PlanError(
            f"experiment {experiment!r} uses {category}, whose default {name!r} is not registered;"
            f" choose one with --{category} (registered: {_valid(registry.names(category))})"
        )
    return (name,)


def _experiments(spec: SweepSpec, registry: Registry, swept: Sequence[str]) -> tuple[str, ...]:
    if spec.experiments is not None:
        for name in spec.experiments:
            _check_component(registry, "experiment", name, "--experiments")
        return spec.experiments
    chosen = tuple(
        e.name for e in registry.category("experiment") if joins_by_default(e, swept, registry)
    )
    if not chosen and swept and not spec.includes:
        described = "; ".join(
            f"{e.name} (uses {', '.join(e.component.uses) or 'nothing'})"
            for e in registry.category("experiment")
        )
        raise PlanError(
            f"no experiment uses {', '.join(swept)} by default (a plugin's experiments run only when named);"
            " name experiments with --experiments"
            f" (registered: {described or 'none'})"
        )
    return chosen


def joins_by_default(entry: Any, swept: Sequence[str], registry: Registry) -> bool:
    """Whether experiment ``entry`` runs when a sweep names categories but no experiments.

    A built-in experiment joins when it uses a swept category. A plugin's
    experiment joins only for a category that same plugin added (its own
    ``fit`` for its own ``optimizer``); one that merely uses a built-in
    category runs only when named with ``--experiments``, so installing a
    plugin never changes what the README's ``runner sweep --plugins matmul,init`` runs.
    """
    used = set(entry.component.uses) & set(swept)
    return bool(used) and (
        entry.builtin or any(registry.category_owner(c) == entry.plugin for c in used)
    )


#: dataset params that ``--data-path`` sets, the first one a dataset has
DATA_PATH_PARAMS: tuple[str, ...] = ("path", "directory")


def data_path_param(params: Mapping[str, Any]) -> str | None:
    """The param of a dataset that ``--data-path`` sets (``path``, else ``directory``), or None."""
    return next((p for p in DATA_PATH_PARAMS if p in params), None)


def _params(
    experiment: str,
    components: Mapping[str, str],
    registry: Registry,
    settings: Mapping[_Target, Mapping[str, Any]],
    data_path: str | None,
    include: Include | None,
) -> dict[str, Any]:
    """Complete params of one run: defaults (a component's suggestion, such as an
    optimizer's usual ``lr``, over the experiment's), then settings, then
    --data-path, then the include's."""
    exp_entry = registry.get("experiment", experiment)
    params: dict[str, Any] = {
        **exp_entry.component.params,
        **_suggested(exp_entry.component.params, components, registry),
        **settings.get(_Target("experiment", experiment), {}),
    }
    for category, name in components.items():
        component = registry.get(category, name).component
        values = dict(component.params)
        if category == "dataset" and data_path is not None:
            where = data_path_param(component.params)
            if where is not None:
                values[where] = data_path
        values.update(settings.get(_Target(category, name), {}))
        params.update({f"{name}.{p}": v for p, v in values.items()})
    if include is not None:
        for param, value in include.params.items():
            where = f"[[include]] {experiment}: {param}"
            if param in exp_entry.component.params:
                params[param] = coerce_value(exp_entry.component.params[param], value, where)
                continue
            owner, dot, bare = param.rpartition(".")
            category = next((c for c, n in components.items() if n == owner), None)
            if (
                not dot
                or category is None
                or bare not in registry.get(category, owner).component.params
            ):
                valid = [*exp_entry.component.params, *(p for p in params if "." in p)]
                raise PlanError(
                    f"{where}: not a param of this combination; params: {', '.join(valid) or 'none'}"
                )
            default = registry.get(category, owner).component.params[bare]
            params[param] = coerce_value(default, value, where)
    _check_bounds(exp_entry.component, params, "")
    for category, name in components.items():
        _check_bounds(registry.get(category, name).component, params, f"{name}.")
    return params


def _suggested(
    own: Mapping[str, Any], components: Mapping[str, str], registry: Registry
) -> dict[str, Any]:
    """Experiment params the chosen components give a default: a field a component
    type lists in ``EXPERIMENT_DEFAULTS`` (``Optimizer.lr``), when set and when the
    experiment has a param of that name."""
    found: dict[str, Any] = {}
    for category, name in components.items():
        component = registry.get(category, name).component
        for field in getattr(type(component), "EXPERIMENT_DEFAULTS", ()):
            value = getattr(component, field, None)
            if value is not None and field in own:
                found[field] = coerce_value(own[field], value, f"{category} {name}.{field}")
    return found


def _check_bounds(component: Any, params: Mapping[str, Any], prefix: str) -> None:
    """PlanError naming the first param of ``component`` (``prefix`` + name in
    ``params``) whose value is outside the bounds the plugin declared."""
    values = {p: params[f"{prefix}{p}"] for p in component.params if f"{prefix}{p}" in params}
    if (bad := check_bounds(component, values)) is not None:
        param, value, wanted = bad
        raise PlanError(f"{component.name}.{param}={value!r} is not allowed: expected {wanted}")


def _check_combination(
    experiment: str, components: Mapping[str, str], params: Mapping[str, Any], registry: Registry
) -> None:
    """PlanError with the experiment's one line when its ``check`` refuses this combination."""
    exp = registry.get("experiment", experiment).component
    if exp.check is None:
        return
    bound = {}
    for category, name in components.items():
        component = registry.get(category, name).component
        values = {p: params[f"{name}.{p}"] for p in component.params if f"{name}.{p}" in params}
        bound[category] = bind(component, values)
    own = {p: params[p] for p in exp.params if p in params}
    if (problem := exp.check(bound, own)) is not None:
        raise PlanError(f"{experiment}: {problem}")


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


def _check_basics(spec: SweepSpec, registry: Registry) -> None:
    if spec.dtype not in DTYPES:
        raise PlanError(f"dtype {spec.dtype!r} is not supported; valid: {', '.join(DTYPES)}")
    if spec.repeat < 1:
        raise PlanError(f"repeat must be at least 1, not {spec.repeat}")
    if not spec.devices:
        raise PlanError("no device given; e.g. --device cpu")
    if not (spec.plugins or spec.components or spec.experiments or spec.includes):
        raise PlanError(
            "nothing to sweep: name categories with --plugins (one or more of"
            f" {', '.join(registry.component_categories())}), experiments with --experiments,"
            " or [[include]] combinations in --config"
        )


def _check_swept_used(
    spec: SweepSpec, registry: Registry, swept: Sequence[str], experiments: Sequence[str]
) -> None:
    """PlanError for a swept category that none of the experiments named uses: its option
    would change nothing, which is never what was meant (``--experiments matmul --init
    xavier``). Without named experiments the swept categories chose them; one that chose
    none is a warning (:func:`plan_warnings`)."""
    if spec.experiments is None:
        return
    chosen = [*experiments, *(i.experiment for i in spec.includes)]
    used = {c for name in chosen for c in registry.get("experiment", name).component.uses}
    for category in swept:
        if category in used:
            continue
        flag = f"--{category}" if category in spec.components else f"--plugins {category}"
        users = [e.name for e in registry.category("experiment") if category in e.component.uses]
        raise PlanError(
            f"{flag}: none of the chosen experiments ({', '.join(dict.fromkeys(chosen))}) uses"
            f" {category}; drop it, or add an experiment that does: {_valid(users)}"
        )


def plan_size(
    spec: SweepSpec,
    registry: Registry,
    choices: Mapping[str, Sequence[str]],
    experiments: Sequence[str],
) -> dict[str, int]:
    """Runs per experiment, counted from the choices without building one: the product of
    the component choices of the categories each uses, times devices, thread counts and
    repeats, plus the ``[[include]]`` combinations (duplicates, collapsed later, count)."""
    per_combination = len(spec.devices) * len(spec.threads) * spec.repeat
    sizes: dict[str, int] = {}
    for experiment in experiments:
        uses = registry.get("experiment", experiment).component.uses
        combinations = math.prod(
            len(_component_for(c, choices, registry, experiment)) for c in uses
        )
        sizes[experiment] = sizes.get(experiment, 0) + combinations * per_combination
    for include in spec.includes:
        sizes[include.experiment] = sizes.get(include.experiment, 0) + per_combination
    return sizes


def _check_size(
    spec: SweepSpec,
    registry: Registry,
    choices: Mapping[str, Sequence[str]],
    experiments: Sequence[str],
) -> None:
    """PlanError, before any run is built, for a plan of more than ``spec.max_runs`` runs."""
    sizes = plan_size(spec, registry, choices, experiments)
    total = sum(sizes.values())
    if total <= spec.max_runs:
        return
    largest = sorted(sizes.items(), key=lambda item: -item[1])[:3]
    shown = ", ".join(f"{name} {count:,}" for name, count in largest)
    raise PlanError(
        f"the plan has {total:,} runs ({shown}), more than the limit of {spec.max_runs:,};"
        " narrow it (--<category> NAMES, --experiments, --repeat) or raise the limit with"
        f" --max-runs {total}"
    )


def plan(spec: SweepSpec, registry: Registry) -> list[PlannedRun]:
    """Every run of ``spec``, in a stable order, duplicates collapsed by key.

    Raises :class:`PlanError` for anything unknown or malformed (a category,
    component, experiment, setting target, param, or value), before any run
    exists.
    """
    _check_basics(spec, registry)
    choices, swept = _choices(spec, registry)
    experiments = _experiments(spec, registry, swept)
    _check_swept_used(spec, registry, swept, experiments)
    _check_size(spec, registry, choices, experiments)
    settings = _resolve_settings(spec.settings, registry)

    runs: dict[str, PlannedRun] = {}

    def add(experiment: str, components: Mapping[str, str], include: Include | None) -> None:
        params = _params(experiment, components, registry, settings, spec.data_path, include)
        _check_combination(experiment, components, params, registry)
        for run in _runs_for(experiment, components, params, registry, spec):
            runs.setdefault(run.key, run)

    for experiment in experiments:
        uses = registry.get("experiment", experiment).component.uses
        options = [_component_for(c, choices, registry, experiment) for c in uses]
        for combination in itertools.product(*options):
            add(experiment, dict(zip(uses, combination)), None)

    for include in spec.includes:
        _check_component(registry, "experiment", include.experiment, "[[include]] experiment")
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
                _check_component(registry, category, name, f"[[include]] {include.experiment}")
                components[category] = name
            else:
                narrowed = choices.get(category, ())
                pick = (
                    narrowed
                    if len(narrowed) == 1
                    else _component_for(category, {}, registry, include.experiment)
                )
                components[category] = pick[0]
        add(include.experiment, components, include)

    if spec.data_path is not None and not any(
        data_path_param(registry.get("dataset", r.components["dataset"]).component.params)
        for r in runs.values()
        if "dataset" in r.components
    ):
        with_path = [
            e.name for e in registry.category("dataset") if data_path_param(e.component.params)
        ]
        raise PlanError(
            f"--data-path: no planned run uses a dataset that reads a path;"
            f" datasets with a path: {_valid(with_path)}"
        )

    planned = list(runs.values())
    if spec.only_keys is not None:
        wanted = set(spec.only_keys)
        planned = [r for r in planned if r.key in wanted]
    return planned


def plan_warnings(spec: SweepSpec, runs: Sequence[PlannedRun], registry: Registry) -> list[str]:
    """What in ``spec`` has no effect on ``runs``: settings for an experiment or
    component no run uses, and swept categories no planned experiment uses
    (probably not what the user meant, but not an error; with experiments named,
    :func:`plan` refuses such a category)."""
    used_experiments = {r.experiment for r in runs}
    used_components = {(c, n) for r in runs for c, n in r.components.items()}
    used_categories = {c for r in runs for c in r.components}
    targets = _targets(registry)
    warnings = []
    for text, params in spec.settings.items():
        target = _resolve_target(text, registry, targets)
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
