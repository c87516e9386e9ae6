"""The plugin API's contracts, checked where a run starts, and param bounds,
checked when a sweep is planned: each broken rule is one line naming the
plugin and the rule, and the run is ``failed`` (never ``done`` with garbage,
never a traceback from inside torch)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from scratchlab.db import open_store, queries
from scratchlab.plugins.manager import load_plugins
from scratchlab.runner.cli import cli
from scratchlab.runner.plan import plan
from scratchlab.runner.run_one import run_experiment
from scratchlab.runner.spec import PlanError, SweepSpec

pytestmark = pytest.mark.usefixtures("clean_plugin_env")

BROKEN = """
import torch
from scratchlab.plugins import Dataset, DataSplits, Init, Matmul, hookimpl

def _splits(x, y):
    return DataSplits(x[:150], y[:150], x[150:], y[150:], n_classes=10)

def raw_pixels():  # the lessons' mistake: 0-255 values as float64, never normalised
    g = torch.Generator().manual_seed(0)
    return _splits(torch.randint(0, 256, (200, 784), generator=g).double(), torch.randint(0, 10, (200,), generator=g))

def unnormalised():
    g = torch.Generator().manual_seed(0)
    return _splits(torch.randint(0, 256, (200, 784), generator=g).float(), torch.randint(0, 10, (200,), generator=g))

def int32_labels():
    g = torch.Generator().manual_seed(0)
    return _splits(torch.randn(200, 784, generator=g), torch.randint(0, 10, (200,), generator=g, dtype=torch.int32))

def transposing(weight, gain):
    weight.data = weight.data.t().contiguous()

@hookimpl
def register_datasets(register):
    register(Dataset(name="raw-pixels", load=raw_pixels))
    register(Dataset(name="unnormalised", load=unnormalised))
    register(Dataset(name="int32-labels", load=int32_labels))

@hookimpl
def register_inits(register):
    register(Init(name="transposing", fn=transposing))

@hookimpl
def register_matmuls(register):
    register(Matmul(name="transposed", fn=lambda a, b: (a @ b).t()))
"""


@pytest.fixture
def plugins(plugin_path):
    plugin_path({"broken_plugin": BROKEN})
    loaded = load_plugins(["broken_plugin"])
    assert not loaded.failures, loaded.failures
    return loaded


def run_one(plugins, **spec):
    (planned,) = plan(SweepSpec(**spec), plugins.registry)
    return run_experiment(plugins, planned)


@pytest.mark.parametrize(
    ("dataset", "rule"),
    [
        (
            "raw-pixels",
            "dataset 'raw-pixels' (plugin 'broken_plugin') broke the Dataset contract: x_train must be float32, got float64",
        ),
        (
            "unnormalised",
            "dataset 'unnormalised' (plugin 'broken_plugin') broke the Dataset contract: x_train must be "
            "normalised (mean about 0, std about 1), got mean 12",
        ),
        (
            "int32-labels",
            "dataset 'int32-labels' (plugin 'broken_plugin') broke the Dataset contract: y_train must be "
            "int64 class labels, got int32",
        ),
    ],
)
def test_a_dataset_that_breaks_the_contract_fails_the_run_in_one_line(plugins, dataset, rule):
    result = run_one(
        plugins,
        experiments=("train",),
        components={"dataset": (dataset,)},
        settings={"train": {"epochs": 1}},
    )
    assert result.status == "failed"
    assert result.reason.startswith(rule) and "\n" not in result.reason
    assert not result.metrics  # nothing trained on garbage


def test_an_init_that_changes_the_weights_shape_fails_the_run(plugins):
    result = run_one(
        plugins,
        experiments=("init-stats",),
        components={"init": ("transposing",)},
        settings={"init-stats": {"models": "mlp"}},
    )
    assert result.status == "failed"
    assert result.reason.startswith(
        "init 'transposing' (plugin 'broken_plugin') broke the Init contract: it must fill the weight in place "
        "keeping its shape (50, 784) (PyTorch's (out, in) layout), but left it (784, 50)"
    )


def test_a_matmul_with_the_wrong_result_shape_fails_before_anything_is_timed(plugins):
    result = run_one(plugins, experiments=("matmul",), components={"matmul": ("transposed",)})
    assert (result.status, result.reason) == (
        "failed",
        "matmul 'transposed' (plugin 'broken_plugin') broke the Matmul contract: (3, 4) @ (4, 5) must give (3, 5), got (5, 3)",
    )
    assert not result.timings


def test_the_failed_run_is_stored_with_its_one_line_reason(plugin_path, tmp_path):
    plugin_path({"broken_plugin": BROKEN})
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            db,
            "--plugin",
            "broken_plugin",
            "sweep",
            "--experiments",
            "train",
            "--dataset",
            "raw-pixels",
            "--inline",
            "-q",
        ],
    )
    assert result.exit_code == 1, result.output
    with open_store(db, read_only=True) as store:
        (row,) = queries.list_runs(store).to_dict("records")
    assert row["status"] == "failed" and "broke the Dataset contract" in row["reason"]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("train.lr=-0.5", "train.lr=-0.5 is not allowed: expected a finite number > 0"),
        ("train.lr=nan", "train.lr=nan is not allowed: expected a finite number > 0"),
        ("train.epochs=0", "train.epochs=0 is not allowed: expected an integer in [1, 10000]"),
        ("train.bs=-64", "train.bs=-64 is not allowed: expected an integer in [1, 1048576]"),
        (
            "matmul.min_run_time=0",
            "matmul.min_run_time=0.0 is not allowed: expected a finite number > 0",
        ),
        (
            "matmul.shapes=5x0x10",
            "matmul.shapes='5x0x10' is not allowed: expected MxKxN shapes with positive integers",
        ),
        (
            "init-stats.depth=0",
            "init-stats.depth=0 is not allowed: expected an integer in [1, 10000]",
        ),
        ("synthetic.n_classes=1", "synthetic.n_classes=1 is not allowed: expected an integer >= 2"),
    ],
)
def test_a_param_outside_its_bounds_is_a_plan_error_naming_it(setting, message):
    plugins = load_plugins()
    target, _, value = setting.partition("=")
    name, _, param = target.rpartition(".")
    spec = SweepSpec(
        experiments=("train", "matmul", "init-stats"),
        components={"dataset": ("synthetic",)},
        settings={name: {param: value}},
    )
    with pytest.raises(PlanError) as caught:
        plan(spec, plugins.registry)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_the_sweep_command_refuses_a_bad_bound_before_writing_anything(tmp_path):
    db = tmp_path / "runs.db"
    result = CliRunner().invoke(
        cli, ["--db", f"sqlite:///{db}", "sweep", "--experiments", "train", "-s", "train.lr=-1"]
    )
    assert result.exit_code == 2
    assert (
        result.stderr.strip().splitlines()[-1]
        == "Error: train.lr=-1.0 is not allowed: expected a finite number > 0"
    )
    assert not db.exists()
