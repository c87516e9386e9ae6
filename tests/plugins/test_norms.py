"""GroupNorm's group count: refused when it does not divide the channels, as nn.GroupNorm does,
and at planning time for the CNN's layers, never changed behind the user's back."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from scratchlab.plugins.manager import load_plugins
from scratchlab.plugins.norms import GroupNorm
from scratchlab.runner.cli import cli
from scratchlab.runner.plan import PlanError, SweepSpec, plan


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
