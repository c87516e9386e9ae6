"""LSUV (07a_lsuv) calibrates every model it is used in on the experiment's own input, so each
calibrated layer has std 1; a model it cannot calibrate skips the run with the reason."""

from __future__ import annotations

import pytest
import torch

from scratchlab.plugins.manager import load_plugins
from scratchlab.runner.plan import plan
from scratchlab.runner.run_one import run_experiment
from scratchlab.runner.spec import SweepSpec


@pytest.fixture(scope="module")
def registry():
    return load_plugins(strict=True, disabled=()).registry


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def run(registry, experiment, init, activation="relu", **settings):
    spec = SweepSpec(
        experiments=(experiment,),
        components={"init": (init,), "activation": (activation,)},
        settings={experiment: settings} if settings else {},
    )
    (planned,) = plan(spec, registry)
    return run_experiment(registry, planned)


SMALL = {"depth": 20, "width": 128}


def test_init_stats_shows_unit_std_at_every_calibrated_layer(registry):
    """The Activations page's deep stack: every layer at std 1 with lsuv, where kaiming-normal's
    drifts (the issue: both showed 0.5147 at layer 100, LSUV never having run)."""
    result = run(registry, "init-stats", "lsuv", **SMALL)
    assert result.status == "done", result.reason
    stds = {(s.model, s.name): s.std for s in result.stats}
    calibrated = [("mlp", "act1"), ("mlp", "lin2"), ("conv", "act")]
    calibrated += [("deep", f"layer{k}") for k in range(1, 21)]
    for layer in calibrated:
        assert stds[layer] == pytest.approx(1.0, abs=0.01), layer
    kaiming = run(registry, "init-stats", "kaiming-normal", **SMALL)
    last = [s.std for s in kaiming.stats if (s.model, s.name) == ("deep", "layer20")]
    assert abs(last[0] - 1) > 0.05


def test_a_model_lsuv_cannot_calibrate_is_skipped_with_the_reason(registry):
    """tanh's outputs are bounded by 1: their std cannot be brought to 1. The run is skipped,
    naming the model and layer, never stored as done with Kaiming's weights."""
    result = run(registry, "init-stats", "lsuv", "tanh", models="mlp")
    assert result.status == "skipped"
    assert "lsuv cannot calibrate act1 of the mlp" in result.reason
    assert not result.stats


def test_gradcheck_checks_the_calibrated_model(registry):
    """gradcheck's weights are LSUV's, not the Kaiming draw it starts from: another loss; the
    hand-written gradients still match autograd."""
    lsuv = {m.name: m.value for m in run(registry, "gradcheck", "lsuv").metrics}
    kaiming = {m.name: m.value for m in run(registry, "gradcheck", "kaiming-normal").metrics}
    assert lsuv["passed"] == 1.0
    assert abs(lsuv["loss"] - kaiming["loss"]) > 1e-3


def test_train_calibrates_every_layer_of_the_mlp_on_its_first_batch(registry):
    result = run(registry, "train", "lsuv", n_train=256)
    metrics = {m.name: m.value for m in result.metrics}
    for name in ("act1", "lin2"):
        assert metrics[f"lsuv_std.{name}"] == pytest.approx(1.0, abs=1e-3)
        assert abs(metrics[f"lsuv_mean.{name}"]) <= 1e-3
