"""Setting up one planned run: its experiment and components looked up and bound, its
params split between them, its device and dtype resolved, a matmul probed once, and the
:class:`~scratchlab.runner.context.RunContext` built.

Anything that stops a run before its experiment starts is a :class:`SetupError` of one
line (an unknown component or param, a bad device or dtype, a broken matmul), recorded as
the failed run's reason without a traceback. torch is imported inside functions only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scratchlab.core.records import PlannedRun
from scratchlab.plugins.contracts import ContractError, guarded, probe_matmul
from scratchlab.plugins.registry import Registry
from scratchlab.plugins.types import DEFAULTS, Component, bind
from scratchlab.runner.budget import Budget
from scratchlab.runner.context import RunContext
from scratchlab.runner.live import Link


class SetupError(Exception):
    """The run cannot start: unknown component or param, bad device or dtype.

    Its message is one line, recorded as the failed run's reason without a
    traceback, because nothing of the experiment ran.
    """


def registry_of(registry_or_plugins: Any) -> Registry:
    """The registry of a :class:`~scratchlab.plugins.manager.Plugins` or a Registry itself;
    TypeError (the caller's mistake) for anything else."""
    registry = getattr(registry_or_plugins, "registry", registry_or_plugins)
    if not isinstance(registry, Registry):
        raise TypeError(
            f"run_experiment needs a Registry or Plugins, got {type(registry_or_plugins).__name__}"
        )
    return registry


def resolve_device(name: str) -> Any:
    """``torch.device(name)``, checked to exist on this machine; SetupError with one line otherwise."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise SetupError(f"unknown device {name!r}: {exc}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SetupError(
                f"device {name!r} was requested but CUDA is not available on this machine"
                f" (torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'})"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise SetupError(
                f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    elif device.type != "cpu":
        try:
            torch.empty(0, device=device)
        except Exception as exc:
            raise SetupError(f"device {name!r} is not usable here: {exc}") from None
    return device


def resolve_dtype(name: str) -> Any:
    """The floating-point ``torch.dtype`` called ``name`` (``"float32"``); SetupError otherwise."""
    import torch

    dtype = getattr(torch, str(name).removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise SetupError(
            f"dtype {name!r} is not a floating-point torch dtype (e.g. float32, float64, bfloat16)"
        )
    return dtype


def split_params(
    params: Mapping[str, Any], experiment: Component, components: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Split a run's params into the experiment's (bare names, defaults merged)
    and each component's (``"<component>.<param>"``, by component name).

    A value for a float param given as an int becomes a float. Unknown names
    raise :class:`SetupError` listing the valid ones.
    """
    chosen = set(components.values())
    experiment_params = dict(experiment.params)
    component_params: dict[str, dict[str, Any]] = {name: {} for name in chosen}
    for key, value in params.items():
        owner, dot, bare = key.rpartition(".")
        if dot and owner in chosen:
            component_params[owner][bare] = value
        elif key in experiment.params:
            experiment_params[key] = _coerce(experiment.params[key], value)
        else:
            valid = [*experiment.params, *(f"{n}.<param>" for n in sorted(chosen))]
            raise SetupError(
                f"unknown param {key!r} for experiment {experiment.name!r}; valid: {', '.join(valid) or 'none'}"
            )
    return experiment_params, component_params


def _coerce(default: Any, value: Any) -> Any:
    # TOML and JSON give 1 for 1.0; keep the param's declared type
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def build_context(
    registry: Registry, planned: PlannedRun, budget: Budget, link: Link | None = None
) -> tuple[Component, RunContext]:
    """Look up and bind everything ``planned`` names; raise SetupError with one line if it cannot."""
    from scratchlab.plugins.registry import UnknownComponentError

    try:
        experiment_entry = registry.get("experiment", planned.experiment)
        experiment = experiment_entry.component
        missing = [c for c in experiment.uses if c not in planned.components]
        if missing:
            raise SetupError(
                f"experiment {experiment.name!r} uses {', '.join(missing)} but the run names no component for it"
            )
        entries = {
            category: registry.get(category, name) for category, name in planned.components.items()
        }
        experiment_params, component_params = split_params(
            planned.params, experiment, planned.components
        )
        bound = {
            category: guarded(
                category, bind(entry.component, component_params.get(entry.name)), entry.plugin
            )
            for category, entry in entries.items()
        }
        if "dataset" in entries:
            dataset = (bound["dataset"], entries["dataset"].version)
        else:
            # looked up on first use: an experiment without data must not need one registered
            def dataset() -> tuple[Component, str]:
                default = registry.get("dataset", DEFAULTS["dataset"])
                return guarded("dataset", bind(default.component), default.plugin), default.version
    except (UnknownComponentError, KeyError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        raise SetupError(str(message)) from None
    device = resolve_device(planned.device)
    dtype = resolve_dtype(planned.dtype)
    if "matmul" in entries:
        try:  # once, on a tiny problem: the timed calls themselves are never wrapped
            probe_matmul(bound["matmul"], entries["matmul"].plugin, device, dtype)
        except ContractError as exc:
            raise SetupError(str(exc)) from None
    context = RunContext(
        experiment=experiment.name,
        components=bound,
        params=experiment_params,
        device=device,
        dtype=dtype,
        seed=planned.seed,
        budget=budget,
        dataset=dataset,
        link=link,
    )
    return experiment, context
