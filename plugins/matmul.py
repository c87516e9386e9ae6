"""Built-in matrix-multiplication strategies, from the lessons' 01_matmul.

Each strategy is the lessons' code, step by step removing Python loops:
``python`` (three loops), ``elementwise`` (the inner loop becomes a vector
product summed), ``broadcast`` (one loop: a row of ``a`` against all of ``b``),
``einsum`` and ``torch`` (``a @ b``). They allocate the result on the inputs'
device and dtype so that they also run on a GPU and in float64.

``max_madds`` is the cost hint experiments use to skip hopeless problems; the
limits come from throughput measured on the project's 2-core CPU at the
lessons' shape family ``m x 784 x n`` (see :data:`MAX_MADDS`).

:func:`autograd_matmul` wraps a strategy in a ``torch.autograd.Function`` whose
backward uses the same strategy, so training with it measures it both ways.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from scratchlab.plugins import Matmul, hookimpl
from scratchlab.plugins.lazytorch import torch

#: Largest problem (m*k*n multiply-adds) each strategy is fit for, so that one
#: call at the limit takes a few seconds. Measured on the 2-core development
#: CPU (torch 2.13, float32, 2 threads, one call each):
#: python 1.45e5 madds/s at 5x784x10 (1e6: ~7 s, the limit the issue
#: names); elementwise 1.2e8/s at 64x784x50, 380x784x1000 took 2.5 s;
#: broadcast 1.0e9/s at 64x784x50 and 1000x784x50 (3e9: ~3 s; faster for wide
#: b); einsum and torch 1.0e11/s at 1024^3, 6690^3 = 3e11 took 3.4 s. The loop
#: strategies pay per Python iteration, so a small inner dimension makes
#: elementwise slower per multiply-add than these numbers (64x64x64: 1.1e7/s).
MAX_MADDS: dict[str, float] = {
    "python": 1e6,
    "elementwise": 3e8,
    "broadcast": 3e9,
    "einsum": 3e11,
    "torch": 3e11,
}


def check_operands(a: torch.Tensor, b: torch.Tensor) -> tuple[int, int, int]:
    """Return ``(m, k, n)`` for ``a`` (m x k) @ ``b`` (k x n).

    Raises ``ValueError`` with both shapes when an input is not 2-D or the
    inner dimensions differ (the lessons' ``assert ac==br``, as an error a
    user can read).
    """
    if a.dim() != 2 or b.dim() != 2:
        raise ValueError(
            f"matmul needs two 2-D tensors, got shapes {tuple(a.shape)} and {tuple(b.shape)}"
        )
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2:
        raise ValueError(
            f"matmul inner dimensions differ: {tuple(a.shape)} @ {tuple(b.shape)} ({k} != {k2})"
        )
    return m, k, n


def _result(a: torch.Tensor, m: int, n: int) -> torch.Tensor:
    # the lessons write torch.zeros(ar, bc); follow the inputs' device and dtype
    return torch.zeros(m, n, dtype=a.dtype, device=a.device)


def matmul_python(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The lessons' triple loop: ``c[i,j] += a[i,k] * b[k,j]``."""
    ar, ac, bc = check_operands(a, b)
    c = _result(a, ar, bc)
    for i in range(ar):
        for j in range(bc):
            for k in range(ac):
                c[i, j] += a[i, k] * b[k, j]
    return c


def matmul_elementwise(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The lessons' elementwise version: the inner loop becomes ``(a[i,:] * b[:,j]).sum()``."""
    ar, _, bc = check_operands(a, b)
    c = _result(a, ar, bc)
    for i in range(ar):
        for j in range(bc):
            c[i, j] = (a[i, :] * b[:, j]).sum()
    return c


def matmul_broadcast(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The lessons' broadcast version: one loop, ``(a[i].unsqueeze(-1) * b).sum(dim=0)``."""
    ar, _, bc = check_operands(a, b)
    c = _result(a, ar, bc)
    for i in range(ar):
        c[i] = (a[i].unsqueeze(-1) * b).sum(dim=0)
    return c


def matmul_einsum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Einstein summation, ``torch.einsum('ik,kj->ij', a, b)``."""
    check_operands(a, b)
    return torch.einsum("ik,kj->ij", a, b)


def matmul_torch(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PyTorch's own ``a @ b`` (BLAS on the CPU, cuBLAS on a GPU)."""
    check_operands(a, b)
    return a @ b


@functools.cache
def _strategy_matmul() -> Any:
    """The ``torch.autograd.Function`` computing ``a @ b`` with one strategy forward and
    backward (made on first use: its base class is torch's)."""

    class StrategyMatmul(torch.autograd.Function):
        """``a @ b`` whose forward and backward matmuls both use one strategy."""

        @staticmethod
        def forward(ctx, a, b, fn):  # type: ignore[override]
            ctx.save_for_backward(a, b)
            ctx.fn = fn
            return fn(a, b)

        @staticmethod
        def backward(ctx, grad):  # type: ignore[override]
            a, b = ctx.saved_tensors
            # the loop strategies index row by row; transposed views would make
            # them (and einsum) walk memory with a stride, so copy once
            grad = grad.contiguous()
            grad_a = ctx.fn(grad, b.T.contiguous()) if ctx.needs_input_grad[0] else None
            grad_b = ctx.fn(a.T.contiguous(), grad) if ctx.needs_input_grad[1] else None
            return grad_a, grad_b, None

    return StrategyMatmul


def autograd_matmul(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Return ``(a, b) -> a @ b`` computed by ``fn`` forward *and* backward.

    The backward pass computes ``grad_a = fn(g, b.T)`` and ``grad_b = fn(a.T, g)``
    with the same strategy, so a training loop that uses the returned callable
    times the strategy in both directions.
    """

    def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return _strategy_matmul().apply(a, b, fn)

    matmul.__doc__ = f"a @ b through {getattr(fn, '__name__', repr(fn))}, forward and backward."
    return matmul


#: name -> (function, one-line description); no square brackets in descriptions,
#: which the rich tables of ``runner plugins`` would read as markup
STRATEGIES: dict[str, tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], str]] = {
    "python": (
        matmul_python,
        "Triple Python loop, one multiply-add per step (the lessons' first matmul).",
    ),
    "elementwise": (
        matmul_elementwise,
        "Two loops; each output is a row of a times a column of b, summed.",
    ),
    "broadcast": (
        matmul_broadcast,
        "One loop; each row of a broadcast against all of b, summed over dim 0.",
    ),
    "einsum": (matmul_einsum, "torch.einsum('ik,kj->ij', a, b)."),
    "torch": (matmul_torch, "PyTorch's a @ b (BLAS / cuBLAS), the baseline."),
}


@hookimpl
def register_matmuls(register):
    """Register the five strategies of the lessons' 01_matmul."""
    for name, (fn, description) in STRATEGIES.items():
        register(Matmul(name=name, fn=fn, max_madds=MAX_MADDS[name], description=description))
