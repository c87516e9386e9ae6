"""Activations: the forward each names, a hand-written backward equal to autograd, the gain."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.nn import init as torch_init

from scratchlab.plugins import bind
from scratchlab.plugins.manager import load_plugins

NAMES = ["relu", "relu-shifted", "leaky-relu", "general-relu", "tanh", "identity"]


@pytest.fixture(scope="module")
def registry():
    return load_plugins(
        builtins=("scratchlab.plugins.inits", "scratchlab.plugins.activations")
    ).registry


def bound(registry, name, **params):
    return bind(registry.get("activation", name).component, params)


def inputs(seed: int = 0) -> torch.Tensor:
    x = torch.randn(64, 33, generator=torch.Generator().manual_seed(seed)) * 3
    # ReLU's kink: away from 0 the derivative is defined, so both sides agree
    return torch.where(x.abs() < 1e-3, torch.full_like(x, 0.5), x)


def test_all_activations_are_registered(registry):
    assert registry.names("activation") == NAMES


@pytest.mark.parametrize(
    ("name", "params", "reference"),
    [
        ("relu", {}, F.relu),
        ("relu-shifted", {}, lambda x: F.relu(x) - 0.5),
        ("leaky-relu", {}, lambda x: F.leaky_relu(x, 0.01)),
        ("leaky-relu", {"slope": 0.3}, lambda x: F.leaky_relu(x, 0.3)),
        ("tanh", {}, torch.tanh),
        ("identity", {}, lambda x: x),
        # 06_cuda_cnn_hooks_init's GeneralRelu(leak=0.1, sub=0.4, maxv=6.)
        ("general-relu", {}, lambda x: (F.leaky_relu(x, 0.1) - 0.4).clamp_max(6.0)),
        (
            "general-relu",
            {"leak": 0.0, "sub": 0.0, "maxv": 2.0},
            lambda x: F.relu(x).clamp_max(2.0),
        ),
    ],
)
def test_forward_is_the_named_function(registry, name, params, reference):
    x = inputs()
    torch.testing.assert_close(bound(registry, name, **params).forward(x), reference(x))


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("relu", {}),
        ("relu-shifted", {}),
        ("leaky-relu", {}),
        ("leaky-relu", {"slope": 0.3}),
        ("tanh", {}),
        ("identity", {}),
        ("general-relu", {}),
        ("general-relu", {"maxv": 2.0}),
    ],
)
def test_hand_written_backward_equals_autograd(registry, name, params):
    activation = bound(registry, name, **params)
    assert activation.backward is not None
    x = inputs(1).double().requires_grad_()
    grad_out = torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    activation.forward(x).backward(grad_out)
    mine = activation.backward(x.detach(), grad_out)
    torch.testing.assert_close(mine, x.grad, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("relu", {}, math.sqrt(2)),
        ("relu-shifted", {}, math.sqrt(2)),
        ("leaky-relu", {}, torch_init.calculate_gain("leaky_relu", 0.01)),
        ("leaky-relu", {"slope": 0.3}, math.sqrt(2 / (1 + 0.09))),
        ("tanh", {}, torch_init.calculate_gain("tanh")),
        ("identity", {}, 1.0),
        ("general-relu", {}, torch_init.calculate_gain("leaky_relu", 0.1)),
    ],
)
def test_gain(registry, name, params, expected):
    assert bound(registry, name, **params).gain == pytest.approx(expected)


def test_leaky_relu_declares_its_slope(registry):
    assert registry.get("activation", "leaky-relu").component.params == {"slope": 0.01}
    with pytest.raises(KeyError, match="no param alpha"):
        bound(registry, "leaky-relu", alpha=0.1)


def test_kaiming_gain_keeps_a_deep_relu_stack_stable(registry):
    """The point of the gain: 50 layers of x @ w with std gain/sqrt(fan_in) keep the
    activations' scale for ReLU, as in the lessons' 02b_initializing."""
    relu = bound(registry, "relu")
    torch.manual_seed(0)
    x = torch.randn(512, 256)
    for _ in range(50):
        x = relu.forward(x @ (torch.randn(256, 256) * relu.gain / math.sqrt(256)))
    assert 0.3 < x.pow(2).mean().sqrt().item() < 3
