"""Built-in activations, from the lessons' 02_fully_connected and 02b_initializing.

Each has a forward, a hand-written backward ``backward(x, grad_out)`` (the
gradient with respect to the input ``x``; the lessons' ``relu_grad`` is
``(x > 0) * grad``) and the gain an init should use for a layer followed by it.
"""

from __future__ import annotations

from scratchlab.plugins import Activation, hookimpl
from scratchlab.plugins.contracts import finite, in_range
from scratchlab.plugins.inits import gain
from scratchlab.plugins.lazytorch import torch

#: default negative slope of ``leaky-relu`` (PyTorch's default too)
LEAKY_SLOPE = 0.01

#: what ``relu-shifted`` subtracts: fastai's tweak that recentres ReLU's output
SHIFT = 0.5


def relu(x: torch.Tensor) -> torch.Tensor:
    """The lessons' ``x.clamp_min(0.)``."""
    return x.clamp_min(0.0)


def relu_grad(x: torch.Tensor, grad_out: torch.Tensor) -> torch.Tensor:
    """The lessons' ``relu_grad``: ``(x > 0) * grad_out``; also the backward of ``relu-shifted``."""
    return (x > 0).to(grad_out.dtype) * grad_out


def relu_shifted(x: torch.Tensor) -> torch.Tensor:
    """``relu(x) - 0.5``, so that the output's mean is nearer zero."""
    return x.clamp_min(0.0) - SHIFT


def leaky_relu(x: torch.Tensor, *, slope: float = LEAKY_SLOPE) -> torch.Tensor:
    """``x`` where positive, ``slope * x`` elsewhere."""
    return torch.where(x > 0, x, x * slope)


def leaky_relu_grad(
    x: torch.Tensor, grad_out: torch.Tensor, *, slope: float = LEAKY_SLOPE
) -> torch.Tensor:
    """``grad_out`` where ``x`` is positive, ``slope * grad_out`` elsewhere."""
    return torch.where(x > 0, grad_out, grad_out * slope)


def leaky_relu_gain(*, slope: float = LEAKY_SLOPE) -> float:
    """``sqrt(2 / (1 + slope**2))``, the Kaiming gain for this slope."""
    return gain(slope)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """Hyperbolic tangent."""
    return torch.tanh(x)


def tanh_grad(x: torch.Tensor, grad_out: torch.Tensor) -> torch.Tensor:
    """``(1 - tanh(x)**2) * grad_out``."""
    return (1 - torch.tanh(x).pow(2)) * grad_out


#: 06_cuda_cnn_hooks_init's GeneralRelu settings for its CNN: leak 0.1, sub 0.4, maxv 6
GENERAL_RELU: dict[str, float] = {"leak": 0.1, "sub": 0.4, "maxv": 6.0}


def general_relu(x: torch.Tensor, *, leak: float, sub: float, maxv: float) -> torch.Tensor:
    """The lessons' ``GeneralRelu``: leaky ReLU with slope ``leak``, minus ``sub``, capped at ``maxv``."""
    return (torch.where(x > 0, x, x * leak) - sub).clamp_max(maxv)


def general_relu_grad(
    x: torch.Tensor, grad_out: torch.Tensor, *, leak: float, sub: float, maxv: float
) -> torch.Tensor:
    """``grad_out`` (times ``leak`` where ``x <= 0``), zero where the output was capped at ``maxv``."""
    capped = (torch.where(x > 0, x, x * leak) - sub) > maxv
    return torch.where(capped, torch.zeros_like(grad_out), leaky_relu_grad(x, grad_out, slope=leak))


def general_relu_gain(*, leak: float, sub: float, maxv: float) -> float:
    """The Kaiming gain of a leaky ReLU with slope ``leak`` (the shift and the cap do not change it)."""
    return gain(leak)


def identity(x: torch.Tensor) -> torch.Tensor:
    """No nonlinearity: a purely linear network."""
    return x


def identity_grad(x: torch.Tensor, grad_out: torch.Tensor) -> torch.Tensor:
    """The gradient passes through unchanged."""
    return grad_out


@hookimpl
def register_activations(register):
    """Register relu, relu-shifted, leaky-relu, general-relu, tanh and identity."""
    register(
        Activation(
            name="relu",
            forward=relu,
            backward=relu_grad,
            gain=gain(0.0),
            description="ReLU, x.clamp_min(0); gain sqrt(2).",
        )
    )
    register(
        Activation(
            name="relu-shifted",
            forward=relu_shifted,
            backward=relu_grad,
            gain=gain(0.0),
            description="ReLU minus 0.5 (the fastai tweak); gain sqrt(2) as ReLU.",
        )
    )
    register(
        Activation(
            name="leaky-relu",
            forward=leaky_relu,
            backward=leaky_relu_grad,
            gain=leaky_relu_gain,
            params={"slope": LEAKY_SLOPE},
            description="Leaky ReLU with negative slope `slope`; gain sqrt(2/(1+slope^2)).",
        )
    )
    register(
        Activation(
            name="general-relu",
            forward=general_relu,
            backward=general_relu_grad,
            gain=general_relu_gain,
            params=GENERAL_RELU,
            bounds={"leak": in_range(0, 1), "sub": finite, "maxv": finite},
            description="The lessons' GeneralRelu: leaky (leak), shifted down (sub), capped (maxv).",
        )
    )
    register(
        Activation(
            name="tanh",
            forward=tanh,
            backward=tanh_grad,
            gain=5.0 / 3.0,
            description="Hyperbolic tangent; gain 5/3 (as torch.nn.init.calculate_gain).",
        )
    )
    register(
        Activation(
            name="identity",
            forward=identity,
            backward=identity_grad,
            gain=1.0,
            description="No nonlinearity (linear network); gain 1.",
        )
    )
