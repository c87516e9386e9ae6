"""Weight inits: fans as PyTorch counts them, own inits equal to torch's, right spread."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import init as torch_init

from scratchlab.plugins import bind
from scratchlab.plugins.inits import INITS, fans, gain
from scratchlab.plugins.manager import load_plugins

RELU_GAIN = math.sqrt(2)


@pytest.fixture(scope="module")
def registry():
    return load_plugins(builtins=("scratchlab.plugins.inits",)).registry


def bound_fn(registry, name, **params):
    return bind(registry.get("init", name).component, params).fn


def test_all_inits_are_registered_and_mode_ones_declare_it(registry):
    assert registry.names("init") == [
        "randn",
        "simple",
        "kaiming-normal",
        "kaiming-uniform",
        "torch-kaiming-normal",
        "torch-default",
        "xavier",
        "lsuv",
    ]
    with_mode = {n for n in registry.names("init") if registry.get("init", n).component.params}
    assert with_mode == {"kaiming-normal", "kaiming-uniform", "torch-kaiming-normal", "lsuv"}
    assert all(registry.get("init", n).component.params == {"mode": "fan_in"} for n in with_mode)


def test_fans_of_the_lessons_conv_layer():
    assert fans(nn.Conv2d(1, 32, 5).weight.shape) == (25, 800)


@pytest.mark.parametrize(
    "shape", [(50, 784), (10, 50), (32, 1, 5, 5), (64, 32, 3, 3), (8, 4, 2, 3, 5), (1, 1)]
)
def test_fans_match_pytorch(shape):
    assert fans(shape) == torch_init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_fans_refuse_vectors():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        fans((10,))


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2, math.sqrt(5), 1.0])
def test_gain_matches_pytorch_leaky_relu_gain(slope):
    assert gain(slope) == pytest.approx(torch_init.calculate_gain("leaky_relu", slope))


def test_gain_of_relu_and_the_sqrt5_default():
    assert gain(0) == pytest.approx(math.sqrt(2))
    # 02a_why_sqrt5: PyTorch's a=sqrt(5) means a gain of sqrt(1/3)
    assert gain(math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))


# Same seed, same algorithm: the own inits draw exactly what torch.nn.init draws.
SAME_SEED_PAIRS = [
    (
        "kaiming-normal",
        "fan_in",
        0.0,
        lambda w: torch_init.kaiming_normal_(w, a=0.0, mode="fan_in"),
    ),
    (
        "kaiming-normal",
        "fan_out",
        0.2,
        lambda w: torch_init.kaiming_normal_(w, a=0.2, mode="fan_out"),
    ),
    (
        "kaiming-uniform",
        "fan_in",
        0.0,
        lambda w: torch_init.kaiming_uniform_(w, a=0.0, mode="fan_in"),
    ),
    (
        "kaiming-uniform",
        "fan_out",
        0.01,
        lambda w: torch_init.kaiming_uniform_(w, a=0.01, mode="fan_out"),
    ),
    (
        "torch-kaiming-normal",
        "fan_in",
        0.0,
        lambda w: torch_init.kaiming_normal_(w, a=0.0, mode="fan_in"),
    ),
    (
        "torch-kaiming-normal",
        "fan_out",
        0.0,
        lambda w: torch_init.kaiming_normal_(w, mode="fan_out"),
    ),
]


@pytest.mark.parametrize(("name", "mode", "slope", "reference"), SAME_SEED_PAIRS)
@pytest.mark.parametrize("shape", [(300, 200), (32, 16, 5, 5)])
def test_own_init_equals_torch_with_the_same_seed(registry, name, mode, slope, reference, shape):
    mine, theirs = torch.empty(shape), torch.empty(shape)
    torch.manual_seed(0)
    bound_fn(registry, name, mode=mode)(mine, gain(slope))
    torch.manual_seed(0)
    reference(theirs)
    torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("g", [1.0, RELU_GAIN, 5 / 3])
def test_xavier_equals_torch_xavier_uniform(registry, g):
    mine, theirs = torch.empty(256, 128), torch.empty(256, 128)
    torch.manual_seed(1)
    bound_fn(registry, "xavier")(mine, g)
    torch.manual_seed(1)
    torch_init.xavier_uniform_(theirs, gain=g)
    torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("make", [lambda: nn.Linear(784, 50), lambda: nn.Conv2d(1, 32, 5)])
def test_torch_default_is_what_the_layer_reset_draws(registry, make):
    torch.manual_seed(2)
    layer = make()  # reset_parameters draws the weight first
    weight = torch.empty_like(layer.weight)
    torch.manual_seed(2)
    bound_fn(registry, "torch-default")(weight, 5 / 3)  # the gain is ignored
    torch.testing.assert_close(weight, layer.weight.detach())


SHAPE = (1000, 500)  # fan_in 500, fan_out 1000; 5e5 draws
FAN = {"fan_in": 500, "fan_out": 1000}
EXPECTED_STD = {
    "randn": lambda g, mode: 1.0,
    "simple": lambda g, mode: 1 / math.sqrt(500),
    "kaiming-normal": lambda g, mode: g / math.sqrt(FAN[mode]),
    "kaiming-uniform": lambda g, mode: g / math.sqrt(FAN[mode]),
    "torch-kaiming-normal": lambda g, mode: g / math.sqrt(FAN[mode]),
    "torch-default": lambda g, mode: 1 / math.sqrt(3 * 500),
    "xavier": lambda g, mode: g * math.sqrt(2 / (500 + 1000)),
}


@pytest.mark.parametrize("name", list(INITS))
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("g", [RELU_GAIN, 5 / 3])
def test_init_has_the_stated_distribution(registry, name, mode, g):
    """Over 5e5 draws the sample std is within 1% of the stated std (its own
    sampling error is ~0.1%) and the mean within 1% of that std of zero."""
    component = registry.get("init", name).component
    values = {"mode": mode} if component.params else {}
    weight = torch.empty(SHAPE)
    torch.manual_seed(3)
    bind(component, values).fn(weight, g)
    expected = EXPECTED_STD[name](g, mode)
    assert weight.std().item() == pytest.approx(expected, rel=0.01)
    assert abs(weight.mean().item()) < 0.01 * expected


def test_kaiming_counts_the_receptive_field_of_conv_weights(registry):
    weight = torch.empty(64, 32, 5, 5)  # fan_in 800, fan_out 1600
    torch.manual_seed(4)
    bound_fn(registry, "kaiming-normal")(weight, RELU_GAIN)
    assert weight.std().item() == pytest.approx(RELU_GAIN / math.sqrt(800), rel=0.02)
    bound_fn(registry, "kaiming-uniform", mode="fan_out")(weight, RELU_GAIN)
    assert weight.std().item() == pytest.approx(RELU_GAIN / math.sqrt(1600), rel=0.02)
    assert weight.abs().max().item() <= math.sqrt(3) * RELU_GAIN / math.sqrt(1600)


@pytest.mark.parametrize("name", list(INITS))
def test_init_fills_a_parameter_in_place_without_history(registry, name):
    layer = nn.Linear(100, 50)
    weight = layer.weight
    before = weight.detach().clone()
    bound_fn(registry, name)(weight, RELU_GAIN)
    assert layer.weight is weight and weight.grad_fn is None and weight.requires_grad
    assert not torch.equal(weight.detach(), before)


@pytest.mark.parametrize("name", ["kaiming-normal", "kaiming-uniform", "torch-kaiming-normal"])
def test_unknown_mode_is_a_clear_error(registry, name):
    with pytest.raises(ValueError, match=r"fan_in, fan_out.*'fan_inn'"):
        bound_fn(registry, name, mode="fan_inn")(torch.empty(4, 3), 1.0)
