"""LAMB's trust ratio for a parameter at zero: the lessons' 0 by default, apex's 1 on request."""

from __future__ import annotations

import pytest
import torch

from scratchlab.plugins.optimizers import by_name, optimizers


def zero_bias_after(steps: int, **params) -> torch.Tensor:
    """A bias that starts at 0 (as every bias of the lessons' models) after ``steps`` LAMB steps."""
    gen = torch.Generator().manual_seed(0)
    bias = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    opt = by_name("lamb", **params).build([bias], 0.01)
    for _ in range(steps):
        bias.grad = torch.randn(10, generator=gen, dtype=torch.float64)
        opt.step()
    return bias.detach()


def test_lamb_leaves_a_zero_norm_parameter_at_zero_by_default_as_the_lesson():
    """09_optimizers' min(r1/r2, 10) is 0 when |p| is 0: the bias never moves."""
    assert by_name("lamb").params["zero_trust"] == "lesson"
    assert zero_bias_after(40).abs().max().item() == 0.0


def test_lamb_zero_trust_one_moves_it_as_apex_does():
    """With a trust ratio of 1 the bias takes Adam's step: |b| about 0.02 after 40 steps."""
    moved = zero_bias_after(40, zero_trust="one").abs().max().item()
    assert 0.005 < moved < 0.5


def test_lamb_zero_trust_is_checked_when_a_sweep_is_planned():
    lamb = next(o for o in optimizers() if o.name == "lamb")
    assert lamb.bounds["zero_trust"]("lesson") is None
    assert "lesson, one" in lamb.bounds["zero_trust"]("half")


@pytest.mark.parametrize("zero_trust", ["lesson", "one"])
def test_lamb_settings_agree_on_a_nonzero_parameter(zero_trust):
    """The two settings differ only where |p| or the update is 0."""
    gen = torch.Generator().manual_seed(1)
    p = torch.randn(4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    start = p.detach().clone()
    opt = by_name("lamb", zero_trust=zero_trust).build([p], 0.01)
    p.grad = torch.randn(4, 5, generator=gen, dtype=torch.float64)
    opt.step()
    q = start.clone().requires_grad_()
    ref = by_name("lamb", zero_trust="lesson").build([q], 0.01)
    q.grad = p.grad.clone()
    ref.step()
    assert torch.equal(p.detach(), q.detach())
