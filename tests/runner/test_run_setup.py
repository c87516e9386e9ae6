"""Setting a run up: a component, param, device or dtype that cannot be used fails the run
with one line before the experiment starts; what can be used is looked up and bound."""

from __future__ import annotations

import pytest
import torch

from scratchlab.core.records import PlannedRun
from scratchlab.plugins.manager import load_plugins
from scratchlab.runner.budget import Budget
from scratchlab.runner.run_one import run_experiment
from scratchlab.runner.run_setup import (
    SetupError,
    build_context,
    registry_of,
    resolve_dtype,
    split_params,
)

# one torch thread, as the experiment fixtures use (tests/fixtures/experiments.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_a_clear_failure(probe):
    result = probe("ok", device="cuda")
    assert result.status == "failed"
    assert "CUDA is not available" in result.reason
    assert "Traceback" not in result.reason
    assert not result.metrics  # nothing ran


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dtype": "int64"}, "not a floating-point torch dtype"),
        ({"dtype": "float33"}, "not a floating-point torch dtype"),
        ({"device": "warp-drive"}, "unknown device 'warp-drive'"),
        ({"components": {"activation": "no-such"}}, "unknown activation 'no-such'; valid: relu"),
        ({"components": {}}, "uses activation but the run names no component for it"),
        ({"extra": {"leaky-relu.bogus": 1}}, "leaky-relu has no param bogus"),
        ({"extra": {"bogus": 1}}, "unknown param 'bogus' for experiment 'probe'"),
    ],
)
def test_setup_errors_fail_with_one_line(probe, fields, message):
    result = probe("ok", **fields)
    assert result.status == "failed"
    assert message in result.reason
    assert "\n" not in result.reason


def test_unknown_experiment_fails_clearly(registry):
    planned = PlannedRun(key="k", experiment="nope", components={}, params={})
    result = run_experiment(registry, planned)
    assert result.status == "failed" and "unknown experiment 'nope'" in result.reason


def test_an_experiment_without_data_needs_no_dataset_plugin():
    plugins = load_plugins(strict=True, disabled=("scratchlab.plugins.datasets",))
    planned = PlannedRun(
        key="k",
        experiment="matmul",
        components={"matmul": "torch"},
        params={"shapes": "4x4x4", "min_run_time": 0.01},
    )
    assert run_experiment(plugins, planned).status == "done"
    needs_data = PlannedRun(
        key="k",
        experiment="init-stats",
        components={"init": "simple", "activation": "relu"},
        params={"models": "mlp"},
    )
    result = run_experiment(plugins, needs_data)
    assert result.status == "failed" and "unknown dataset 'mnist-5k'" in result.reason


def test_a_runs_params_split_between_its_experiment_and_components(registry):
    train = registry.get("experiment", "train").component
    own, per_component = split_params(
        {"lr": 1, "leaky-relu.slope": 0.3}, train, {"activation": "leaky-relu", "init": "simple"}
    )
    assert own["lr"] == 1.0 and type(own["lr"]) is float  # an int for a float param
    assert per_component == {"leaky-relu": {"slope": 0.3}, "simple": {}}
    with pytest.raises(SetupError, match="unknown param 'bogus' for experiment 'train'"):
        split_params({"bogus": 1}, train, {})


def test_a_context_is_built_with_bound_components_device_and_dtype(registry):
    planned = PlannedRun(
        key="k",
        experiment="init-stats",
        components={"init": "simple", "activation": "leaky-relu"},
        params={"leaky-relu.slope": 0.5},
        dtype="float64",
        seed=4,
    )
    experiment, ctx = build_context(registry, planned, Budget(None))
    assert experiment.name == "init-stats"
    assert (ctx.device, ctx.dtype, ctx.seed) == (torch.device("cpu"), torch.float64, 4)
    assert ctx.activation.forward(torch.tensor([-2.0])).item() == pytest.approx(-1.0)
    assert ctx.dataset.name == "mnist-5k"  # the default, for an experiment without a dataset
    assert resolve_dtype("torch.float32") is torch.float32
    with pytest.raises(TypeError, match="needs a Registry or Plugins, got str"):
        registry_of("matmul")
