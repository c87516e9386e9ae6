"""Normalisations of 07_batchnorm: forward and backward against ``torch.nn``, train and eval.

GroupNorm's group count: refused when it does not divide the channels, as nn.GroupNorm does,
and at planning time for the CNN's layers, never changed behind the user's back."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from scratchlab.plugins import bind
from scratchlab.plugins.manager import load_plugins
from scratchlab.plugins.norm_layers import GroupNorm, RunningBatchNorm
from scratchlab.plugins.norms import norms
from scratchlab.runner.cli import cli
from scratchlab.runner.plan import plan
from scratchlab.runner.spec import PlanError, SweepSpec

# one torch thread, as the experiment fixtures use (tests/fixtures/experiments.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")

NF = 8


def build(name, **params):
    return bind(next(n for n in norms() if n.name == name), params).build(NF).double()


def batch(seed: int, n: int = 6):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, NF, 5, 5, generator=gen, dtype=torch.float64) * 3 + 1


def set_affine(ours, theirs, seed=7):
    """Give both modules the same non-trivial per-channel scale and shift."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.rand(NF, generator=gen, dtype=torch.float64) + 0.5
    b = torch.randn(NF, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        ours.mults.copy_(w.view(NF, 1, 1))
        ours.adds.copy_(b.view(NF, 1, 1))
        theirs.weight.copy_(w)
        theirs.bias.copy_(b)


def forward_backward(module, x, grad):
    x = x.clone().requires_grad_()
    out = module(x)
    out.backward(grad)
    params = [p.grad.reshape(-1).clone() for p in module.parameters()]
    return out.detach(), x.grad, params


def assert_same(ours, theirs, x, grad):
    out_a, gx_a, gp_a = forward_backward(ours, x, grad)
    out_b, gx_b, gp_b = forward_backward(theirs, x, grad)
    torch.testing.assert_close(out_a, out_b, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(gx_a, gx_b, rtol=1e-9, atol=1e-10)
    for a, b in zip(gp_a, gp_b, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


TORCH = {
    "batchnorm": lambda: nn.BatchNorm2d(NF, eps=1e-5, momentum=0.1),
    "instancenorm": lambda: nn.InstanceNorm2d(NF, eps=1e-5, affine=True),
    "groupnorm": lambda: nn.GroupNorm(4, NF, eps=1e-5),
}


@pytest.mark.parametrize("name", list(TORCH))
def test_matches_torch_nn_in_train_then_eval(name):
    ours, theirs = build(name), TORCH[name]().double()
    set_affine(ours, theirs)
    for step in range(3):  # several training batches move the running statistics
        assert_same(ours.train(), theirs.train(), batch(step), batch(100 + step))
    for module in (ours, theirs):
        module.zero_grad()
    assert_same(ours.eval(), theirs.eval(), batch(10), batch(11))


def test_batchnorm_running_statistics_are_torchs():
    ours, theirs = build("batchnorm"), TORCH["batchnorm"]().double()
    for step in range(4):
        ours(batch(step))
        theirs(batch(step))
    torch.testing.assert_close(ours.means.reshape(-1), theirs.running_mean)
    torch.testing.assert_close(ours.vars.reshape(-1), theirs.running_var)


def test_layernorm_is_torch_layernorm_times_a_scalar():
    """The lessons' LayerNorm learns one scalar mult and add; torch's is elementwise."""
    ours = build("layernorm")
    with torch.no_grad():
        ours.mult.fill_(1.7)
        ours.add.fill_(-0.3)
    reference = nn.LayerNorm((NF, 5, 5), eps=1e-5, elementwise_affine=False).double()
    for mode in ("train", "eval"):
        getattr(ours, mode)()
        x, grad = batch(1), batch(2)
        out, gx, (g_mult, g_add) = forward_backward(ours, x, grad)
        xr = x.clone().requires_grad_()
        normalised = reference(xr)
        (normalised * 1.7 - 0.3).backward(grad)
        torch.testing.assert_close(out, normalised.detach() * 1.7 - 0.3)
        torch.testing.assert_close(gx, xr.grad)
        torch.testing.assert_close(g_mult.squeeze(), (grad * normalised.detach()).sum())
        torch.testing.assert_close(g_add.squeeze(), grad.sum())
        ours.zero_grad()


def test_none_is_identity():
    x = batch(0)
    assert torch.equal(build("none")(x), x)


def test_running_batchnorm_follows_the_lessons_formula():
    """After one bs-6 batch: mom1 = 1 - 0.9/sqrt(5); the debiased sums are the batch's own,
    so training output is the batch normalised by its biased variance (clamped >= 0.01 while
    fewer than 20 samples were seen)."""
    rbn = RunningBatchNorm(NF).double()
    x = batch(3)
    out = rbn(x)
    mean = x.mean((0, 2, 3), keepdim=True)
    var = (x * x).mean((0, 2, 3), keepdim=True) - mean * mean
    torch.testing.assert_close(out, (x - mean) / (var.clamp_min(0.01) + 1e-5).sqrt())
    assert rbn.dbias.item() == pytest.approx(1 - 0.9 / 5**0.5)
    # eval uses the same running statistics and changes nothing
    before = rbn.sums.clone()
    torch.testing.assert_close(rbn.eval()(x), out.detach())
    assert torch.equal(rbn.sums, before)


def test_running_batchnorm_trains_at_batch_size_one_without_nan():
    rbn = RunningBatchNorm(NF).double()
    out = rbn(batch(4, n=1))
    assert torch.isfinite(out).all()


@pytest.fixture(scope="module")
def registry():
    return load_plugins(strict=True, disabled=()).registry


@pytest.mark.parametrize("groups", [3, 12])
def test_groupnorm_refuses_a_group_count_that_does_not_divide_the_channels(groups):
    with pytest.raises(ValueError):
        nn.GroupNorm(groups, 8)
    with pytest.raises(ValueError, match=f"groups={groups} does not divide 8 channels"):
        GroupNorm(8, groups=groups)


def test_groupnorm_with_a_dividing_count_is_torchs():
    x = torch.randn(4, 8, 5, 5, dtype=torch.float64)
    ours = GroupNorm(8, groups=2).double()
    theirs = nn.GroupNorm(2, 8).double()
    assert ours.groups == 2
    assert torch.allclose(ours(x), theirs(x), atol=1e-12)


@pytest.mark.parametrize("experiment", ["train", "telemetry"])
def test_planning_refuses_groups_that_do_not_divide_a_cnn_layer(registry, experiment):
    spec = SweepSpec(
        experiments=(experiment,),
        components={"norm": ("groupnorm",)},
        settings={"groupnorm": {"groups": 3}, experiment: {"model": "cnn"}},
    )
    with pytest.raises(PlanError) as caught:
        plan(spec, registry)
    message = str(caught.value)
    assert "\n" not in message
    assert "groups=3" in message and "conv1" in message and "8 channels" in message


def test_planning_accepts_groups_that_divide_every_layer(registry):
    spec = SweepSpec(
        experiments=("train",),
        components={"norm": ("groupnorm",)},
        settings={"groupnorm": {"groups": 8}, "train": {"model": "cnn"}},
    )
    (run,) = plan(spec, registry)
    assert run.params["groupnorm.groups"] == 8


def test_the_sweep_command_says_it_in_one_line_and_writes_nothing(tmp_path):
    db = tmp_path / "runs.db"
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            f"sqlite:///{db}",
            "sweep",
            "--experiments",
            "train",
            "--norm",
            "groupnorm",
            "-s",
            "train.model=cnn",
            "-s",
            "groupnorm.groups=12",
        ],
    )
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: train: groupnorm.groups=12 does not divide 8 channels of layer conv1"
        " (the cnn's channels: 8-16-32-32)"
    ]
    assert "Traceback" not in result.output
    assert not db.exists()
