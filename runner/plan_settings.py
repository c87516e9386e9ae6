"""The ``-s NAME.PARAM=VALUE`` settings of a sweep, checked against the registry: what each
name refers to (an experiment or a component, ``category:name`` where a name is
ambiguous), whether it has that param, and the value parsed by the param's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scratchlab.plugins.registry import Registry, UnknownComponentError
from scratchlab.runner.plan_choices import valid_names
from scratchlab.runner.spec import PlanError
from scratchlab.runner.spec_values import coerce_value


@dataclass(frozen=True)
class Target:
    """What a settings name refers to: ``category`` is "experiment" or a component category."""

    category: str
    name: str


def setting_targets(registry: Registry) -> dict[str, list[Target]]:
    """Every registered name -> what it names (an experiment and a component may share one)."""
    targets: dict[str, list[Target]] = {}
    for entry in registry:
        targets.setdefault(entry.name, []).append(Target(entry.category, entry.name))
    return targets


def resolve_target(text: str, registry: Registry, targets: Mapping[str, list[Target]]) -> Target:
    """What ``-s TEXT.PARAM`` names: ``NAME`` or ``CATEGORY:NAME``; PlanError for a name
    that is unknown or ambiguous (the error spells out both ways to write it)."""
    category, colon, name = text.rpartition(":")
    if colon:
        known = (*registry.component_categories(), "experiment")
        if category not in known:
            raise PlanError(f"-s {text}: unknown category {category!r}; valid: {', '.join(known)}")
        try:
            registry.get(category, name)
        except UnknownComponentError as exc:
            raise PlanError(f"-s {text}: {exc}") from None
        return Target(category, name)
    found = targets.get(text, [])
    if not found:
        experiments = registry.names("experiment")
        components = sorted({e.name for e in registry if e.category != "experiment"})
        raise PlanError(
            f"-s {text}: no experiment or component named {text!r};"
            f" experiments: {valid_names(experiments)}; components: {valid_names(components)}"
        )
    if len(found) > 1:
        both = " and ".join(f"{t.category} {t.name!r}" for t in found)
        spelled = " or ".join(f"-s {t.category}:{t.name}.PARAM=..." for t in found)
        raise PlanError(f"-s {text}: {text!r} is ambiguous: it names {both}; write {spelled}")
    return found[0]


def setting_param(registry: Registry, text: str, param: str) -> tuple[str, str, Any, Any]:
    """What ``-s TEXT.PARAM`` sets: ``(category, component name, default, declared bound)``;
    :class:`PlanError` (one line) for an unknown target or param."""
    target = resolve_target(text, registry, setting_targets(registry))
    component = registry.get(target.category, target.name).component
    if param not in component.params:
        raise PlanError(
            f"-s {text}.{param}: {target.category} {target.name!r} has no param {param!r};"
            f" params: {', '.join(component.params) or 'none'}"
        )
    bound = getattr(component, "bounds", {}).get(param)
    return target.category, target.name, component.params[param], bound


def resolve_settings(
    settings: Mapping[str, Mapping[str, Any]], registry: Registry
) -> dict[Target, dict[str, Any]]:
    """Check every setting's target and param, and parse its value."""
    targets = setting_targets(registry)
    resolved: dict[Target, dict[str, Any]] = {}
    for text, params in settings.items():
        target = resolve_target(text, registry, targets)
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
