"""Fixtures for the lessons' findings: real runs of the built-in experiments on mnist-5k, CPU.

Runs go through :func:`scratchlab.runner.context.run_experiment` with the
built-in plugins, params complete as the planner makes them. torch uses one
thread here: the CNN's small convolutions gain nothing from a second one, and
on a shared two-core machine a second thread that must wait for a busy core
made one training step ten times slower.
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

#: the components the findings hold fixed unless a test says otherwise
BASE = {
    "init": "kaiming-normal",
    "activation": "relu",
    "loss": "cross-entropy",
    "matmul": "torch",
    "dataset": "mnist-5k",
    "optimizer": "sgd",
    "schedule": "constant",
    "norm": "none",
}


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The built-in plugins' registry."""
    return load_plugins(strict=True, disabled=()).registry


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def planned(
    registry: Registry,
    experiment: str,
    components: dict[str, str],
    params: dict[str, Any],
    seed: int = 0,
) -> PlannedRun:
    """A PlannedRun with every default filled in, as the planner writes it."""
    full = dict(registry.get("experiment", experiment).component.params)
    for category, name in components.items():
        full.update(
            {f"{name}.{p}": v for p, v in registry.get(category, name).component.params.items()}
        )
    full.update(params)
    return PlannedRun(
        key=f"lesson-{experiment}",
        experiment=experiment,
        components=dict(components),
        params=full,
        seed=seed,
    )


@pytest.fixture
def lesson(registry: Registry) -> Callable[..., RunResult]:
    """``lesson("train", {"norm": "batchnorm"}, {"lr": 1.0})`` -> a finished RunResult (asserted done)."""

    def run(
        experiment: str,
        components: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        seed: int = 0,
    ) -> RunResult:
        chosen = {**BASE, **(components or {})}
        result = run_experiment(registry, planned(registry, experiment, chosen, params or {}, seed))
        assert result.status == "done", result.reason
        return result

    return run


def final_value(result: RunResult, name: str) -> float:
    """The metric's value at its highest step."""
    points = sorted(
        (m.step if m.step is not None else -1, m.value) for m in result.metrics if m.name == name
    )
    assert points, f"no metric {name}"
    return points[-1][1]


@pytest.fixture
def final() -> Callable[[RunResult, str], float]:
    """``final(result, "valid_accuracy")``: a metric's value at its highest step."""
    return final_value
