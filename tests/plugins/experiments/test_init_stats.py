"""The ``init-stats`` experiment reproduces the lessons' 02a/02b findings (seeds stated per test)."""

from __future__ import annotations

import math

import pytest

# one torch thread, as the experiment fixtures use (tests/fixtures/experiments.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")

DEPTH = 100


def deep_run(run, done, init, activation, seed=0, **params):
    result = done(
        run(
            "init-stats",
            {"init": init, "activation": activation},
            {"models": "deep", **params},
            seed=seed,
        )
    )
    layers = [s for s in result.stats if s.model == "deep"]
    return result, layers


def first_nonfinite(result):
    (value,) = [m.value for m in result.metrics if m.name == "first_nonfinite_layer"]
    return value


def test_randn_identity_explodes_before_layer_100(run, done):
    """Seed 0: unscaled randn weights overflow float32 (the lessons stopped at i=28)."""
    result, layers = deep_run(run, done, "randn", "identity")
    assert len(layers) == DEPTH + 1  # layer 0 is the input
    first = first_nonfinite(result)
    assert 1 <= first < DEPTH
    assert layers[int(first)].frac_nonfinite > 0
    assert all(s.frac_nonfinite == 0 for s in layers[: int(first)])
    assert math.isnan(layers[-1].std)


def test_simple_identity_stays_finite_with_unit_scale(run, done):
    """Seed 0: 1/sqrt(512) keeps a linear stack's std near 1 for 100 layers."""
    result, layers = deep_run(run, done, "simple", "identity")
    assert math.isnan(first_nonfinite(result))  # NaN: no layer went non-finite
    assert all(s.frac_nonfinite == 0 for s in layers)
    assert layers[-1].layer == DEPTH and 0.3 <= layers[-1].std <= 3


@pytest.mark.parametrize("seed", [0, 1])
def test_kaiming_keeps_relu_alive_where_simple_collapses(run, done, seed):
    """Seeds 0 and 1: kaiming-normal + relu has std in [0.3, 3] at layer 100; simple + relu < 1e-3."""
    _, kaiming = deep_run(run, done, "kaiming-normal", "relu", seed=seed)
    _, simple = deep_run(run, done, "simple", "relu", seed=seed)
    assert 0.3 <= kaiming[-1].std <= 3
    assert simple[-1].std < 1e-3
    assert 0.4 < kaiming[-1].frac_zero < 0.6  # relu zeroes about half


def test_conv_torch_default_is_too_small_and_kaiming_is_right(run, done):
    """Seed 0, 100 validation images: torch-default's Conv2d(1,32,5) output std is well below 1
    (the lessons: 0.60); kaiming-normal with leaky-relu a=0 gives std near 1 after activation
    (the lessons: 1.02)."""
    default = done(
        run(
            "init-stats",
            {"init": "torch-default", "activation": "relu"},
            {"models": "conv"},
            seed=0,
        )
    )
    by_name = {s.name: s for s in default.stats}
    assert set(by_name) == {"input", "conv", "act"}
    assert by_name["input"].std == pytest.approx(1, abs=0.1)  # normalised images
    assert by_name["conv"].std < 0.8

    kaiming = done(
        run(
            "init-stats",
            {"init": "kaiming-normal", "activation": "leaky-relu"},
            {"models": "conv", "leaky-relu.slope": 0.0},
            seed=0,
        )
    )
    act = next(s for s in kaiming.stats if s.name == "act")
    assert 0.8 <= act.std <= 1.25
    assert act.min >= 0  # slope 0: a plain relu


def test_mlp_records_pre_and_post_activation_layers(run, done):
    """Seed 0: the lessons' 784-50-10 on the 1,000 validation images of mnist-5k."""
    result = done(
        run(
            "init-stats",
            {"init": "kaiming-normal", "activation": "relu"},
            {"models": "mlp"},
            seed=0,
        )
    )
    assert [(s.layer, s.name) for s in result.stats] == [
        (0, "input"),
        (1, "lin1"),
        (2, "act1"),
        (3, "lin2"),
    ]
    lin1, act1 = result.stats[1], result.stats[2]
    assert act1.frac_zero > 0.3 and lin1.frac_zero == 0
    assert act1.min == 0 and lin1.min < 0
    assert not [
        m for m in result.metrics if m.name == "first_nonfinite_layer"
    ]  # a deep-only metric


def test_all_models_by_default_and_unknown_models_fail(run, done):
    result = done(
        run(
            "init-stats",
            {"init": "simple", "activation": "tanh"},
            {"depth": 3, "width": 16, "batch": 4},
        )
    )
    assert {s.model for s in result.stats} == {"mlp", "deep", "conv"}
    bad = run("init-stats", {"init": "simple", "activation": "tanh"}, {"models": "mlp,resnet"})
    assert bad.status == "failed" and "unknown model(s) resnet" in bad.reason


def test_lsuv_gives_the_mlps_layers_unit_std(run, done):
    """07a_lsuv on the lessons' MLP (seed 0): act1's and lin2's outputs have std 1 and mean ~0
    on the validation images it calibrated with (the same images the stats are of)."""
    result = done(run("init-stats", {"init": "lsuv", "activation": "relu"}, {"models": "mlp"}))
    stats = {s.name: s for s in result.stats if s.model == "mlp"}
    for name in ("act1", "lin2"):
        assert stats[name].std == pytest.approx(1.0, abs=0.01)
        assert abs(stats[name].mean) <= 0.01
