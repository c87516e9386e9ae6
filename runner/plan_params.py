"""A planned run's complete params and the checks on them.

Defaults first (a component's suggestion, such as an optimizer's usual ``lr``, over the
experiment's), then the ``-s`` settings, then ``--data-path``, then an ``[[include]]``'s
own params; component params are named ``"<component>.<param>"``. Every value is
checked against the bounds its experiment or component declares, and the experiment's
``check`` sees each combination with its components bound, so a run that cannot run is
refused (:class:`PlanError`) before anything is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scratchlab.plugins.contracts import check_bounds
from scratchlab.plugins.registry import Registry
from scratchlab.plugins.types import bind
from scratchlab.runner.plan_settings import Target
from scratchlab.runner.spec import Include, PlanError
from scratchlab.runner.spec_values import coerce_value

#: dataset params that ``--data-path`` sets, the first one a dataset has
DATA_PATH_PARAMS: tuple[str, ...] = ("path", "directory")


def data_path_param(params: Mapping[str, Any]) -> str | None:
    """The param of a dataset that ``--data-path`` sets (``path``, else ``directory``), or None."""
    return next((p for p in DATA_PATH_PARAMS if p in params), None)


def run_params(
    experiment: str,
    components: Mapping[str, str],
    registry: Registry,
    settings: Mapping[Target, Mapping[str, Any]],
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
        **settings.get(Target("experiment", experiment), {}),
    }
    for category, name in components.items():
        component = registry.get(category, name).component
        values = dict(component.params)
        if category == "dataset" and data_path is not None:
            where = data_path_param(component.params)
            if where is not None:
                values[where] = data_path
        values.update(settings.get(Target(category, name), {}))
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


def check_combination(
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
