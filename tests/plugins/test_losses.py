"""Losses: the three log-softmaxes, overflow of the naive one, hand-written gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from scratchlab.plugins import bind
from scratchlab.plugins.losses import (
    log_softmax_naive,
    log_softmax_simplified,
    log_softmax_stable,
    logsumexp,
)
from scratchlab.plugins.manager import load_plugins

CLASSIFICATION = ["nll-naive", "nll-simplified", "nll-logsumexp", "cross-entropy"]


@pytest.fixture(scope="module")
def registry():
    return load_plugins(builtins=("scratchlab.plugins.losses",)).registry


def loss(registry, name):
    return registry.get("loss", name).component


def batch(n: int = 64, classes: int = 10, scale: float = 3.0, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, classes, generator=gen) * scale, torch.randint(
        0, classes, (n,), generator=gen
    )


def test_losses_are_registered_with_their_output_width_and_target(registry):
    assert registry.names("loss") == ["mse", *CLASSIFICATION, "label-smoothing"]
    mse = loss(registry, "mse")
    assert (mse.n_outputs, mse.target) == (1, "float")
    for name in CLASSIFICATION:
        assert (loss(registry, name).n_outputs, loss(registry, name).target) == (None, "class")


@pytest.mark.parametrize(
    "log_softmax", [log_softmax_naive, log_softmax_simplified, log_softmax_stable]
)
def test_log_softmax_variants_equal_torch(log_softmax):
    logits, _ = batch()
    torch.testing.assert_close(log_softmax(logits), F.log_softmax(logits, -1), rtol=1e-5, atol=1e-5)


def test_own_logsumexp_equals_torch_even_for_large_logits():
    logits, _ = batch(scale=1000.0)
    torch.testing.assert_close(logsumexp(logits), torch.logsumexp(logits, -1))
    # logits up to ~4000: one float32 ulp there is 2.4e-4, so compare at that scale
    torch.testing.assert_close(
        log_softmax_stable(logits).double(), F.log_softmax(logits.double(), -1), rtol=0, atol=1e-3
    )
    assert logsumexp(torch.full((2, 3), float("-inf"))).tolist() == [float("-inf")] * 2


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_classification_losses_equal_cross_entropy(registry, name):
    logits, target = batch()
    torch.testing.assert_close(
        loss(registry, name).forward(logits, target), F.cross_entropy(logits, target)
    )


def test_naive_overflows_on_large_logits_while_logsumexp_does_not(registry):
    logits, target = batch(scale=1.0)
    logits = logits + 100.0  # exp(100) overflows float32
    naive = loss(registry, "nll-naive").forward(logits, target)
    simplified = loss(registry, "nll-simplified").forward(logits, target)
    stable = loss(registry, "nll-logsumexp").forward(logits, target)
    assert not torch.isfinite(naive)  # inf/inf = nan
    assert not torch.isfinite(simplified)  # log(inf) = inf
    assert torch.isfinite(stable)
    torch.testing.assert_close(stable, F.cross_entropy(logits, target))


def test_mse_is_the_lessons_mse(registry):
    gen = torch.Generator().manual_seed(1)
    output, target = torch.randn(50, 1, generator=gen), torch.randn(50, generator=gen)
    torch.testing.assert_close(
        loss(registry, "mse").forward(output, target), F.mse_loss(output.squeeze(-1), target)
    )


def loss_inputs(name: str, n: int):
    if name == "mse":
        gen = torch.Generator().manual_seed(2)
        return torch.randn(n, 1, dtype=torch.float64, generator=gen), torch.randn(
            n, dtype=torch.float64, generator=gen
        )
    logits, target = batch(n=n, seed=3)
    return logits.double(), target


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_label_smoothing_equals_torch_cross_entropy_with_smoothing(registry, eps):
    """10b_mixup_label_smoothing's loss is F.cross_entropy(label_smoothing=eps)."""
    out, target = batch(seed=3)
    smoothed = bind(loss(registry, "label-smoothing"), {"eps": eps})
    torch.testing.assert_close(
        smoothed.forward(out, target), F.cross_entropy(out, target, label_smoothing=eps)
    )


@pytest.mark.parametrize("name", ["mse", *CLASSIFICATION, "label-smoothing"])
@pytest.mark.parametrize("n", [1, 37])
def test_hand_written_grad_equals_autograd(registry, name, n):
    component = loss(registry, name)
    output, target = loss_inputs(name, n)
    output.requires_grad_()
    component.forward(output, target).backward()
    mine = component.grad(output.detach(), target)
    assert mine.shape == output.shape
    torch.testing.assert_close(mine, output.grad, rtol=1e-7, atol=1e-10)


def test_softmax_grad_stays_finite_where_the_naive_loss_overflows(registry):
    logits, target = batch()
    grad = loss(registry, "nll-naive").grad(logits + 1000.0, target)
    assert torch.isfinite(grad).all()
    torch.testing.assert_close(grad, loss(registry, "nll-naive").grad(logits, target))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["mse", *CLASSIFICATION])
def test_loss_and_grad_run_on_cuda(registry, name):
    component = loss(registry, name)
    output, target = (t.cuda() for t in loss_inputs(name, 9))
    value = component.forward(output, target)
    assert value.device.type == "cuda" and torch.isfinite(value)
    assert component.grad(output, target).device.type == "cuda"
