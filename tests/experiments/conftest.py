"""Fixtures for the run-context and built-in experiment tests.

Runs are built by hand as :class:`PlannedRun` objects with complete params
(defaults filled in, as the planner does), and executed through
:func:`scratchlab.runner.context.run_experiment` against the real built-in
plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from scratchlab.db.records import PlannedRun, RunResult
from scratchlab.plugins.manager import load_plugins
from scratchlab.plugins.registry import Registry
from scratchlab.runner.context import run_experiment


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The registry of the built-in plugins (loaded once for the session)."""
    plugins = load_plugins(strict=True, disabled=())
    return plugins.registry


def complete_params(
    registry: Registry, experiment: str, components: dict[str, str], params: dict[str, Any]
) -> dict[str, Any]:
    """The experiment's and components' defaults, overridden by ``params``."""
    full = dict(registry.get("experiment", experiment).component.params)
    for category, name in components.items():
        full.update(
            {f"{name}.{p}": v for p, v in registry.get(category, name).component.params.items()}
        )
    full.update(params)
    return full


@pytest.fixture
def plan(registry: Registry) -> Callable[..., PlannedRun]:
    """``plan("matmul", {"matmul": "torch"}, {"shapes": "5x784x10"}, seed=0)`` -> a PlannedRun."""

    def build(
        experiment: str,
        components: dict[str, str],
        params: dict[str, Any] | None = None,
        **fields: Any,
    ) -> PlannedRun:
        return PlannedRun(
            key=f"test-{experiment}",
            experiment=experiment,
            components=dict(components),
            params=complete_params(registry, experiment, components, params or {}),
            **fields,
        )

    return build


@pytest.fixture
def run(registry: Registry, plan: Callable[..., PlannedRun]) -> Callable[..., RunResult]:
    """``run(experiment, components, params, seed=..., timeout=...)`` -> the RunResult."""

    def go(
        experiment: str,
        components: dict[str, str],
        params: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> RunResult:
        return run_experiment(
            registry, plan(experiment, components, params, **fields), timeout=timeout
        )

    return go


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Time and compute on one thread: the test machine is shared, and two OpenMP
    threads on a busy 2-core box wait on each other for whole scheduler slices."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def last_metrics(result: RunResult) -> dict[str, float]:
    """The last value of each metric, by name."""
    return {m.name: m.value for m in result.metrics}


@pytest.fixture
def metrics_of() -> Callable[[RunResult], dict[str, float]]:
    """``metrics_of(result)`` -> the last value of each metric, by name."""
    return last_metrics


@pytest.fixture
def done() -> Callable[[RunResult], RunResult]:
    """``done(result)`` asserts the run finished ``done`` (failing with its reason) and returns it."""

    def check(result: RunResult) -> RunResult:
        assert result.status == "done", f"{result.status}: {result.reason}"
        return result

    return check
