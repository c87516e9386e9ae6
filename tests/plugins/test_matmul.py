"""The matmul strategies: correct for any 2-D shape, clear errors, autograd both ways."""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from scratchlab.plugins.manager import load_plugins
from scratchlab.plugins.matmul import MAX_MADDS, STRATEGIES, autograd_matmul

NAMES = list(STRATEGIES)
# the lessons' test_near tolerance
RTOL, ATOL = 1e-3, 1e-5


@pytest.fixture(scope="module")
def registry():
    return load_plugins(builtins=("scratchlab.plugins.matmul",)).registry


def operands(m: int, k: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(m, k, generator=gen), torch.randn(k, n, generator=gen)


def test_all_five_strategies_are_registered(registry):
    assert registry.names("matmul") == ["python", "elementwise", "broadcast", "einsum", "torch"]


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(1, 8), k=st.integers(1, 8), n=st.integers(1, 8), seed=st.integers(0, 2**31 - 1)
)
@example(m=1, k=7, n=5, seed=0)  # one row
@example(m=6, k=7, n=1, seed=0)  # one column
@example(m=1, k=1, n=1, seed=0)
@example(m=5, k=784, n=10, seed=0)  # the lessons' shape
def test_strategy_equals_float64_matmul(registry, name, m, k, n, seed):
    fn = registry.get("matmul", name).component.fn
    a, b = operands(m, k, n, seed)
    c = fn(a, b)
    assert c.shape == (m, n) and c.dtype == torch.float32
    torch.testing.assert_close(c.double(), a.double() @ b.double(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", NAMES)
def test_strategy_keeps_float64(registry, name):
    a, b = operands(3, 4, 2, 1)
    c = registry.get("matmul", name).component.fn(a.double(), b.double())
    assert c.dtype == torch.float64
    torch.testing.assert_close(c, a.double() @ b.double())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("shape_a", "shape_b", "words"),
    [
        ((3,), (3, 4), "2-D"),
        ((2, 3), (3, 4, 1), "2-D"),
        ((2, 3, 4), (4, 2), "2-D"),
        ((2, 3), (4, 5), "inner dimensions differ"),
        ((1, 1), (2, 1), "inner dimensions differ"),
    ],
)
def test_bad_operands_raise_clear_value_error(registry, name, shape_a, shape_b, words):
    fn = registry.get("matmul", name).component.fn
    with pytest.raises(ValueError, match=words) as info:
        fn(torch.zeros(shape_a), torch.zeros(shape_b))
    message = str(info.value)
    assert str(tuple(shape_a)) in message and str(tuple(shape_b)) in message
    assert "\n" not in message


def test_limits_are_ordered_and_python_says_why(registry):
    limits = [registry.get("matmul", name).component.max_madds for name in NAMES]
    assert limits == [MAX_MADDS[name] for name in NAMES]
    assert limits == sorted(limits) and all(limit < float("inf") for limit in limits)
    python = registry.get("matmul", "python").component
    assert python.fits(5, 784, 10) is None
    assert python.fits(64, 784, 50) == "python: 64x784x50 is 2.5e+06 multiply-adds, limit 1e+06"


def counting(fn):
    """``fn`` that records the shapes it was called with."""
    calls = []

    def wrapped(a, b):
        calls.append((tuple(a.shape), tuple(b.shape)))
        return fn(a, b)

    return wrapped, calls


@pytest.mark.parametrize("name", NAMES)
def test_autograd_matmul_grads_equal_autograd(registry, name):
    fn, calls = counting(registry.get("matmul", name).component.fn)
    a, b = operands(4, 6, 3, 7)
    weights = torch.randn(4, 3, generator=torch.Generator().manual_seed(8))
    mine_a, mine_b = a.clone().requires_grad_(), b.clone().requires_grad_()
    ref_a, ref_b = a.clone().requires_grad_(), b.clone().requires_grad_()

    out = autograd_matmul(fn)(mine_a, mine_b)
    (out * weights).sum().backward()
    ((ref_a @ ref_b) * weights).sum().backward()

    torch.testing.assert_close(out.detach(), (a @ b), rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(mine_a.grad, ref_a.grad, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(mine_b.grad, ref_b.grad, rtol=RTOL, atol=ATOL)
    # the strategy itself ran forward, then g @ b.T and a.T @ g
    assert calls == [((4, 6), (6, 3)), ((4, 3), (3, 6)), ((6, 4), (4, 3))]


def test_autograd_matmul_skips_grads_nobody_needs(registry):
    fn, calls = counting(registry.get("matmul", "broadcast").component.fn)
    a, b = operands(2, 3, 4, 0)
    weight = b.clone().requires_grad_()
    autograd_matmul(fn)(a, weight).sum().backward()
    assert weight.grad is not None
    assert calls == [((2, 3), (3, 4)), ((3, 2), (2, 4))]  # no grad_a for the input batch


def test_autograd_matmul_trains_through_a_linear_layer(registry):
    """A few SGD steps with the elementwise strategy lower the loss like a @ b does."""
    matmul = autograd_matmul(registry.get("matmul", "elementwise").component.fn)
    gen = torch.Generator().manual_seed(3)
    x, true_w = torch.randn(16, 5, generator=gen), torch.randn(5, 2, generator=gen)
    y = x @ true_w
    w = torch.zeros(5, 2, requires_grad=True)
    losses = []
    for _ in range(20):
        loss = (matmul(x, w) - y).pow(2).mean()
        loss.backward()
        with torch.no_grad():
            w -= 0.1 * w.grad
            w.grad.zero_()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", NAMES)
def test_strategy_runs_forward_and_backward_on_cuda(registry, name):
    fn = registry.get("matmul", name).component.fn
    a, b = (t.cuda() for t in operands(5, 12, 3, 4))
    torch.testing.assert_close(fn(a, b).double(), a.double() @ b.double(), rtol=RTOL, atol=ATOL)
    w = b.clone().requires_grad_()
    autograd_matmul(fn)(a, w).sum().backward()
    assert w.grad.device.type == "cuda"
    torch.testing.assert_close(w.grad, a.T @ torch.ones(5, 3, device="cuda"), rtol=RTOL, atol=ATOL)
