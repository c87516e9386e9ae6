"""An optimizer declares the learning rate it is usually run at; a run the user gives
no ``train.lr`` trains at it, and one that diverges says so in its row."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import scratchlab as sl
from scratchlab.plugins.manager import load_plugins
from scratchlab.runner.cli import cli
from scratchlab.runner.plan import plan
from scratchlab.runner.spec import SweepSpec

TRAIN_DEFAULT_LR = 0.2


@pytest.fixture(scope="module")
def registry():
    return load_plugins().registry


def lrs(registry, **settings) -> dict[str, float]:
    spec = SweepSpec(
        experiments=("train",),
        components={"optimizer": ("sgd", "adam", "lamb")},
        settings={"train": settings} if settings else {},
    )
    return {run.components["optimizer"]: run.params["lr"] for run in plan(spec, registry)}


def test_an_unset_lr_is_the_optimizers_usual_one(registry):
    usual = {name: registry.get("optimizer", name).component.lr for name in ("adam", "lamb")}
    assert all(lr is not None and lr < TRAIN_DEFAULT_LR / 10 for lr in usual.values()), usual
    # sgd declares none: the experiment's own default, the lessons' loop as before
    assert registry.get("optimizer", "sgd").component.lr is None
    assert lrs(registry) == {"sgd": TRAIN_DEFAULT_LR, **usual}


def test_an_lr_the_user_sets_wins_for_every_optimizer(registry):
    assert lrs(registry, lr="0.05") == {"sgd": 0.05, "adam": 0.05, "lamb": 0.05}


@pytest.mark.slow
def test_a_diverged_run_says_so_in_its_row(tmp_path):
    db = tmp_path / "runs.db"
    sweep = sl.sweep(
        experiments=["train"],
        optimizer=["sgd"],
        dataset="synthetic",
        settings={"train.lr": 1e6, "synthetic.n_train": 256, "synthetic.n_valid": 64},
        db=db,
        inline=True,
        progress=False,
    )
    runs = sweep.runs()
    assert list(runs["status"]) == ["done"]
    assert runs["reason"].iloc[0].startswith("diverged: valid_loss nan at lr 1e+06")
    table = CliRunner().invoke(cli, ["--db", sweep.db, "runs"], env={"COLUMNS": "80"})
    assert table.exit_code == 0, table.output
    assert "done, diverged" in table.output
    shown = json.loads(CliRunner().invoke(cli, ["--db", sweep.db, "runs", "--json"]).output)
    assert shown["runs"][0]["reason"].startswith("diverged")
