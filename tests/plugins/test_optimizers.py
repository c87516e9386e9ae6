"""Optimizers of 09_optimizers, step for step against ``torch.optim`` (float64, 25 steps).

Each test trains two copies of the same small net on the same batches, one with
the lessons' optimizer and one with torch's, and compares every parameter
after 25 steps: max abs difference below 1e-10 (float64 rounding only).

LAMB's trust ratio for a parameter at zero: the lessons' 0 by default, apex's 1 on request."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from scratchlab.plugins.optimizers import by_name, debias, optimizers

# one torch thread, as the experiment fixtures use (tests/fixtures/experiments.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")

STEPS = 25


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3)).double()


def batches():
    gen = torch.Generator().manual_seed(1)
    return [
        (
            torch.randn(8, 6, generator=gen, dtype=torch.float64),
            torch.randint(0, 3, (8,), generator=gen),
        )
        for _ in range(STEPS)
    ]


def train(model, opt):
    for x, y in batches():
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        opt.zero_grad()
    return [p.detach().clone() for p in model.parameters()]


def max_diff(a, b) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a, b, strict=True))


def compare(name: str, params: dict, lr: float, torch_opt) -> float:
    mine = net()
    theirs = net()
    ours = train(mine, by_name(name, **params).build(list(mine.parameters()), lr))
    reference = train(theirs, torch_opt(theirs.parameters()))
    return max_diff(ours, reference)


@pytest.mark.parametrize(
    ("name", "params", "torch_opt"),
    [
        ("sgd", {}, lambda p: torch.optim.SGD(p, lr=0.1)),
        # decoupled decay before the step == L2 for plain SGD
        ("sgd-wd", {"wd": 0.05}, lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.05)),
        ("momentum", {"mom": 0.9}, lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0)),
        (
            "adam",
            {"mom": 0.9, "sqr_mom": 0.99, "eps": 1e-5},
            lambda p: torch.optim.Adam(p, lr=0.1, betas=(0.9, 0.99), eps=1e-5),
        ),
        (
            "adam",
            {"wd": 0.1},
            lambda p: torch.optim.AdamW(p, lr=0.1, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.1),
        ),
    ],
)
def test_matches_torch_optim_step_for_step(name, params, torch_opt):
    assert compare(name, params, 0.1, torch_opt) < 1e-10


def test_sgd_wd_really_decays():
    """The wd comparison is not vacuous: without decay the parameters differ."""
    assert compare("sgd-wd", {"wd": 0.05}, 0.1, lambda p: torch.optim.SGD(p, lr=0.1)) > 1e-4


def test_dampened_momentum_differs_from_torch_by_the_first_gradient():
    """Dampened: avg_t = mom*avg + (1-mom)*g from zero. torch.optim.SGD multiplies the gradient by
    1 - dampening, so dampening=mom is the same recursion, but its buffer starts at g_1 undamped:
    torch's buffer minus ours is mom * g_1 after step 1 and mom**t * g_1 after step t."""
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    q = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    mom, lr = 0.9, 0.1
    ours = by_name("momentum", mom=mom, dampening=True).build([p], lr)
    theirs = torch.optim.SGD([q], lr=lr, momentum=mom, dampening=mom)
    g = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    for t in range(1, STEPS + 1):
        p.grad, q.grad = g.clone(), g.clone()
        ours.step()
        theirs.step()
        avg = ours.state[p]["grad_avg"]
        assert torch.allclose(avg, (1 - mom**t) * g)  # the lessons' dampened average
        buf = theirs.state[q]["momentum_buffer"]
        assert torch.allclose(buf - avg, mom**t * g)


def test_lamb_follows_the_formula():
    """One LAMB step by hand, as 09_optimizers writes it: debiased Adam direction plus wd*p,
    scaled by min(rms(p)/rms(update), 10)."""
    gen = torch.Generator().manual_seed(3)
    p = torch.randn(4, 5, generator=gen, dtype=torch.float64).requires_grad_()
    start = p.detach().clone()
    lr, mom, sqr_mom, eps, wd = 0.01, 0.9, 0.99, 1e-6, 0.1
    opt = by_name("lamb", wd=wd).build([p], lr)
    grads = [torch.randn(4, 5, generator=gen, dtype=torch.float64) for _ in range(3)]
    expected = start.clone()
    m = torch.zeros_like(start)
    v = torch.zeros_like(start)
    for t, g in enumerate(grads, start=1):
        p.grad = g.clone()
        opt.step()
        m = mom * m + (1 - mom) * g
        v = sqr_mom * v + (1 - sqr_mom) * g * g
        update = (m / (1 - mom**t)) / ((v / (1 - sqr_mom**t)).sqrt() + eps) + wd * expected
        trust = min(expected.pow(2).mean().sqrt() / update.pow(2).mean().sqrt(), 10.0)
        expected = expected - lr * trust * update
    assert (p.detach() - expected).abs().max().item() < 1e-12


def test_debias_is_adams_bias_correction():
    """Dividing the dampened average by debias(mom, 1-mom, t) is Adam's m / (1 - beta**t)."""
    for t in (1, 2, 10):
        assert debias(0.9, 0.1, t) == pytest.approx(1 - 0.9**t)
        assert debias(0.9, 1.0, t) == pytest.approx((1 - 0.9**t) / 0.1)


def test_hypers_are_read_every_step_so_a_schedule_can_set_lr():
    p = torch.zeros(1, requires_grad=True)
    opt = by_name("sgd").build([p], 1.0)
    for lr in (1.0, 0.5, 0.0):
        opt.hypers["lr"] = lr
        p.grad = torch.ones(1)
        opt.step()
    assert p.item() == pytest.approx(-1.5)
    assert not math.isnan(p.item())


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
