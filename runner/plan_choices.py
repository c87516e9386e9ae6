"""What a sweep chooses, checked against the registry before any run is built: the
component choices per category, the experiments that run, and how many runs that makes.

A category named by ``--plugins`` sweeps every registered component unless its own
option narrows it; an experiment a sweep does not name joins when it uses a swept
category (a plugin's experiment only for a category its own plugin added); a plan is
counted (:func:`plan_size`) and refused past ``SweepSpec.max_runs`` before a run exists.
Every refusal is one :class:`PlanError` line naming the valid choices.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from scratchlab.plugins.registry import Registry, UnknownComponentError
from scratchlab.runner.spec import DTYPES, PlanError, SweepSpec


def valid_names(names: Iterable[str]) -> str:
    """The names for a message, comma-separated, or "none registered"."""
    return ", ".join(names) or "none registered"


def check_component(registry: Registry, category: str, name: str, where: str) -> None:
    """PlanError ``where: unknown <category> 'name'; valid: ...`` for a name not registered."""
    try:
        registry.get(category, name)
    except UnknownComponentError as exc:
        raise PlanError(f"{where}: {exc}") from None


def check_basics(spec: SweepSpec, registry: Registry) -> None:
    """PlanError for a dtype, repeat or device list no run can have, or a spec that sweeps
    nothing."""
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


def check_swept_used(
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
            f" {category}; drop it, or add an experiment that does: {valid_names(users)}"
        )


def component_choices(
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
                f"--{category} needs at least one name; valid: {valid_names(registry.names(category))}"
            )
        for name in names:
            check_component(registry, category, name, f"--{category}")
        choices[category] = tuple(names)
    swept = tuple(dict.fromkeys((*spec.plugins, *choices)))
    for category in spec.plugins:
        if category not in choices:
            choices[category] = tuple(registry.names(category))
            if not choices[category]:
                raise PlanError(f"--plugins {category}: no {category} components are registered")
    return choices, swept


def choices_for(
    category: str, choices: Mapping[str, tuple[str, ...]], registry: Registry, experiment: str
) -> tuple[str, ...]:
    """The components ``experiment`` runs with for ``category``: the sweep's choices, else
    the category's default; PlanError when there is none to run with."""
    if category in choices:
        return choices[category]
    name = registry.default(category)
    if name is None:
        raise PlanError(
            f"experiment {experiment!r} uses {category}, which has no default;"
            f" choose with --{category} or --plugins {category} (registered: {valid_names(registry.names(category))})"
        )
    if name not in registry.names(category):
        raise PlanError(
            f"experiment {experiment!r} uses {category}, whose default {name!r} is not registered;"
            f" choose one with --{category} (registered: {valid_names(registry.names(category))})"
        )
    return (name,)


def chosen_experiments(
    spec: SweepSpec, registry: Registry, swept: Sequence[str]
) -> tuple[str, ...]:
    """The experiments the sweep runs: those named, else those that join by default for the
    swept categories (:func:`joins_by_default`); PlanError when none does."""
    if spec.experiments is not None:
        for name in spec.experiments:
            check_component(registry, "experiment", name, "--experiments")
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
        combinations = math.prod(len(choices_for(c, choices, registry, experiment)) for c in uses)
        sizes[experiment] = sizes.get(experiment, 0) + combinations * per_combination
    for include in spec.includes:
        sizes[include.experiment] = sizes.get(include.experiment, 0) + per_combination
    return sizes


def check_size(
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
