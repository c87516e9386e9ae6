"""The ``gradcheck`` experiment: the lessons' hand-written backward equals autograd (seed 0)."""

from __future__ import annotations

import pytest

from scratchlab.core.records import PlannedRun
from scratchlab.plugins.manager import load_plugins
from scratchlab.runner.run_one import run_experiment

# one torch thread, as the experiment fixtures use (tests/fixtures/experiments.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")

TENSORS = ("x", "w1", "b1", "w2", "b2")


def with_backward(registry, category, field):
    return [e.name for e in registry.category(category) if getattr(e.component, field) is not None]


def test_every_builtin_backward_passes(registry, run, done, metrics_of):
    """Seed 0, 1,000 rows of mnist-5k: every activation with a backward x every loss with a grad."""
    activations = with_backward(registry, "activation", "backward")
    losses = with_backward(registry, "loss", "grad")
    assert {"relu", "leaky-relu", "tanh", "identity"} <= set(activations)
    assert {"mse", "cross-entropy"} <= set(losses)
    for activation in activations:
        for loss in losses:
            result = done(
                run(
                    "gradcheck",
                    {"activation": activation, "loss": loss, "init": "kaiming-normal"},
                    seed=0,
                )
            )
            metrics = metrics_of(result)
            assert metrics["passed"] == 1.0, (activation, loss, metrics)
            for tensor in TENSORS:
                assert metrics[f"{tensor}.max_rel_err"] < 1e-4, (activation, loss, tensor)
            assert metrics["loss"] > 0


BROKEN_PLUGIN = """
import torch
from scratchlab.plugins import Activation, hookimpl

@hookimpl
def register_activations(register):
    # relu_grad with the classic slip: the gradient of max(x, 0) taken as 1 everywhere
    register(Activation(name="relu-wrong-grad", forward=lambda x: x.clamp_min(0.0),
                        backward=lambda x, g: g, gain=2 ** 0.5))
    register(Activation(name="softplus", forward=torch.nn.functional.softplus))
"""


@pytest.fixture
def broken_plugins(plugin_path):
    plugin_path(modules={"broken_grads": BROKEN_PLUGIN})
    return load_plugins(modules=["broken_grads"], strict=True, disabled=())


def gradcheck_with(plugins, activation):
    planned = PlannedRun(
        key="k",
        experiment="gradcheck",
        components={"activation": activation, "loss": "mse", "init": "kaiming-normal"},
        params={
            "batch": 200,
            "hidden": 50,
            "rtol": 1e-3,
            "atol": 1e-5,
            "kaiming-normal.mode": "fan_in",
        },
    )
    return run_experiment(plugins, planned)


def test_a_wrong_backward_is_reported_as_not_passed(broken_plugins, done, metrics_of):
    metrics = metrics_of(done(gradcheck_with(broken_plugins, "relu-wrong-grad")))
    assert metrics["passed"] == 0.0
    assert metrics["w1.max_rel_err"] > 1e-2  # the first layer's gradient is wrong ...
    assert metrics["w2.max_rel_err"] < 1e-5  # ... the second layer's is not


def test_a_component_without_backward_is_skipped_with_the_reason(broken_plugins, run):
    skipped = gradcheck_with(broken_plugins, "softplus")
    assert skipped.status == "skipped"
    assert skipped.reason == "gradcheck: activation 'softplus' has no hand-written backward"
