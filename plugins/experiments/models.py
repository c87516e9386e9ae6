"""The lessons' models, built from the chosen components; shared by the built-in experiments.

Two models: :func:`mlp`, 03_minibatch_training's ``n_in -> hidden -> n_out``,
and :func:`cnn`, 06_cuda_cnn_hooks_init's small MNIST CNN (conv layers of
8, 16, 32, 32 filters, stride 2, then average pooling and a linear layer).

Weights are drawn by the run's ``init`` component in PyTorch's ``(out, in)``
layout, so fans are computed as ``torch.nn.init`` does, then stored as the
lessons store them: ``(in, out)``, used as ``x @ w + b`` (02_fully_connected's
``lin``). Biases start at zero, as in the lessons' from-scratch models.
The last layer of a model uses gain 1 (no activation follows it), as the
lessons' ``w2 = randn(nh, 1) / sqrt(nh)``.
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from scratchlab.plugins.experiments.train import CNN_FILTERS

Tensor = torch.Tensor


def init_weight(
    init: Any, n_in: int, n_out: int, gain: float, *, device: Any, dtype: Any
) -> Tensor:
    """A ``(n_in, n_out)`` weight drawn by ``init`` as the ``(n_out, n_in)`` weight of a layer with ``gain``."""
    weight = torch.empty(n_out, n_in, device=device, dtype=dtype)
    init.fn(weight, gain)
    return weight.t().contiguous()


class Linear(nn.Module):
    """``x @ weight + bias`` with a pluggable matmul (``mm(a, b) -> a @ b``), the lessons' ``lin``.

    With ``mm`` None the layer uses PyTorch's fused ``addmm``, whose autograd
    backward is PyTorch's matmul too: the ``torch`` strategy both ways, without
    the Python-level autograd function (see :func:`trainable_matmul`).
    """

    def __init__(
        self, weight: Tensor, bias: Tensor, mm: Callable[[Tensor, Tensor], Tensor] | None
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias)
        self.mm = mm

    def forward(self, x: Tensor) -> Tensor:
        """``mm(x, weight) + bias``."""
        if self.mm is None:
            return torch.addmm(self.bias, x, self.weight)
        return self.mm(x, self.weight) + self.bias

    def extra_repr(self) -> str:
        """``in=784, out=50`` in the model's repr."""
        return f"in={self.weight.shape[0]}, out={self.weight.shape[1]}"


class Shift(nn.Module):
    """A shift added to a module's output, unset (0) until an init such as LSUV sets it.

    ``bias`` (a property, as 07a_lsuv's ``ConvLayer``, whose ``bias`` is its ReLU's ``sub``)
    reads and sets it; it is a buffer, not a parameter: training does not move it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", None)

    def shifted(self, out: Tensor) -> Tensor:
        """``out`` plus the shift, if one was set."""
        return out if self.shift is None else out + self.shift

    @property
    def bias(self) -> Tensor:
        """The output shift (0 until set)."""
        return self.shift if self.shift is not None else torch.zeros(())

    @bias.setter
    def bias(self, value: Tensor) -> None:
        self.shift = torch.as_tensor(value).detach()


class Activation(Shift):
    """A module around an activation component's ``forward`` (so forward hooks see its output)."""

    def __init__(self, forward: Callable[[Tensor], Tensor], name: str) -> None:
        super().__init__()
        self.fn = forward
        self.name = name

    def forward(self, x: Tensor) -> Tensor:
        """The activation of ``x`` (plus the shift LSUV may have set)."""
        return self.shifted(self.fn(x))

    def extra_repr(self) -> str:
        """The component's name."""
        return self.name


def mlp(
    sizes: tuple[int, int, int],
    init: Any,
    activation: Any,
    *,
    mm: Callable[[Tensor, Tensor], Tensor] | None = None,
    device: Any,
    dtype: Any,
) -> nn.Sequential:
    """The lessons' two-layer model ``n_in -> hidden -> n_out`` as children ``lin1``, ``act1``, ``lin2``.

    ``lin1`` is drawn with the activation's gain, ``lin2`` with gain 1;
    ``mm`` None is PyTorch's own matmul.
    """
    n_in, hidden, n_out = sizes

    def linear(a: int, b: int, gain: float) -> Linear:
        weight = init_weight(init, a, b, gain, device=device, dtype=dtype)
        return Linear(weight, torch.zeros(b, device=device, dtype=dtype), mm)

    return nn.Sequential(
        collections.OrderedDict(
            lin1=linear(n_in, hidden, activation.gain),
            act1=Activation(activation.forward, activation.name),
            lin2=linear(hidden, n_out, 1.0),
        )
    )


def trainable_matmul(matmul: Any) -> Callable[[Tensor, Tensor], Tensor] | None:
    """The ``mm`` for :class:`Linear` that runs ``matmul``'s strategy forward and backward.

    The built-in ``torch`` strategy is ``a @ b``, and autograd's backward of
    ``a @ b`` is ``a @ b`` again: the same strategy both ways already, so it
    gets None (PyTorch's fused path) rather than the Python autograd wrapper,
    whose per-call overhead would make training measurably slower than the
    lessons' ``nn.Linear`` loop. Every other strategy goes through
    ``autograd_matmul``.
    """
    from scratchlab.plugins.matmul import autograd_matmul, matmul_torch

    if getattr(matmul.fn, "__wrapped__", matmul.fn) is matmul_torch:
        return None
    return autograd_matmul(matmul.fn)


def output_width(loss: Any, n_classes: int) -> int:
    """How many outputs the model needs for ``loss``: its ``n_outputs``, or one per class."""
    return loss.n_outputs if loss.n_outputs is not None else n_classes


def targets(loss: Any, labels: Tensor, dtype: Any) -> Tensor:
    """The labels as ``loss`` expects them: int64 classes, or floats for a ``"float"`` target (mse)."""
    return labels.to(dtype) if loss.target == "float" else labels


def correct(output: Tensor, labels: Tensor) -> Tensor:
    """How many rows are predicted right (a 0-d tensor, no device sync).

    One output per class: the arg-max. A single output (mse regression on
    the digit value): the output rounded to the nearest integer.
    """
    if output.shape[-1] == 1:
        predicted = output.squeeze(-1).round()
        return (predicted == labels.to(predicted.dtype)).sum()
    return (output.argmax(dim=-1) == labels).sum()


class ConvLayer(Shift):
    """07_batchnorm's ``conv_layer``: a stride-2 convolution, the activation, then the norm.

    The convolution has a bias only when the norm learns no shift of its own (the
    lessons' ``bias=not bn``). ``bias`` (see :class:`Shift`) is a shift added to the
    output, zero until an init such as LSUV sets it; ``weight`` is the convolution's.
    """

    def __init__(self, conv: nn.Conv2d, act: nn.Module, norm: nn.Module) -> None:
        super().__init__()
        self.conv, self.act, self.norm = conv, act, norm

    def forward(self, x: Tensor) -> Tensor:
        """``norm(act(conv(x)))`` plus the shift, if one was set."""
        return self.shifted(self.norm(self.act(self.conv(x))))

    @property
    def weight(self) -> Tensor:
        """The convolution's weight."""
        return self.conv.weight


class Images(nn.Module):
    """Flat ``(n, 784)`` rows back to ``(n, 1, 28, 28)`` images (the lessons' ``mnist_resize``)."""

    def forward(self, x: Tensor) -> Tensor:
        """``x.view(-1, 1, side, side)``."""
        side = math.isqrt(x.shape[-1])
        return x.view(-1, 1, side, side)


def cnn(
    n_in: int,
    n_out: int,
    init: Any,
    activation: Any,
    norm: Any,
    *,
    mm: Callable[[Tensor, Tensor], Tensor] | None = None,
    filters: tuple[int, ...] = CNN_FILTERS,
    device: Any,
    dtype: Any,
) -> nn.Sequential:
    """06_cuda_cnn_hooks_init's CNN: children ``resize``, ``conv1``.. (5x5 then 3x3 kernels,
    stride 2, padding ks//2), ``pool`` (adaptive average), ``flatten`` and ``lin``.

    ``n_in`` must be a square number of pixels (784). Every weight is drawn by
    ``init`` (convs with the activation's gain, ``lin`` with gain 1), biases zero.
    """
    side = math.isqrt(n_in)
    if side * side != n_in:
        raise ValueError(f"the cnn model needs square images, got {n_in} features per row")
    layers: list[tuple[str, nn.Module]] = [("resize", Images())]
    channels = (1, *filters)
    for i, (ni, nf) in enumerate(itertools.pairwise(channels), start=1):
        ks = 5 if i == 1 else 3
        conv = nn.Conv2d(ni, nf, ks, stride=2, padding=ks // 2, bias=not norm.shifts)
        conv.to(device=device, dtype=dtype)
        with torch.no_grad():
            init.fn(conv.weight, activation.gain)
            if conv.bias is not None:
                conv.bias.zero_()
        layer = ConvLayer(conv, Activation(activation.forward, activation.name), norm.build(nf))
        layers.append((f"conv{i}", layer.to(device=device, dtype=dtype)))
    weight = init_weight(init, filters[-1], n_out, 1.0, device=device, dtype=dtype)
    layers += [
        ("pool", nn.AdaptiveAvgPool2d(1)),
        ("flatten", nn.Flatten()),
        ("lin", Linear(weight, torch.zeros(n_out, device=device, dtype=dtype), mm)),
    ]
    return nn.Sequential(collections.OrderedDict(layers))


def conv_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The :class:`ConvLayer` children of a :func:`cnn` by name, in order (what LSUV calibrates)."""
    return {name: m for name, m in model.named_children() if isinstance(m, ConvLayer)}
