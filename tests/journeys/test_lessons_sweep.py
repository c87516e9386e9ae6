"""The lessons' categories end to end: ``runner plugins`` lists them with the plugin that adds
each; ``runner sweep`` over optimizer x norm on the CNN with ``--workers 2`` stores runs that the
app's Training and Telemetry pages draw (a real SQLite file, real worker processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from scratchlab.db import open_store, queries
from scratchlab.runner.cli import cli

# one torch thread, as the experiment fixtures use (tests/fixtures/experiments.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")

APP = Path(__file__).resolve().parents[2] / "reports" / "app.py"

NEW = {
    "optimizer": ("scratchlab.plugins.optimizers", ["sgd", "sgd-wd", "momentum", "adam", "lamb"]),
    "schedule": (
        "scratchlab.plugins.schedules",
        ["constant", "linear", "cosine", "exponential", "one-cycle"],
    ),
    "norm": (
        "scratchlab.plugins.norms",
        ["none", "batchnorm", "layernorm", "instancenorm", "groupnorm", "running-batchnorm"],
    ),
}


def test_runner_plugins_lists_the_lessons_categories_with_their_plugin():
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    components = json.loads(result.stdout)["components"]
    for category, (plugin, names) in NEW.items():
        assert [c["name"] for c in components[category]] == names
        assert {c["plugin"] for c in components[category]} == {plugin}
    assert "lsuv" in [c["name"] for c in components["init"]]
    assert "general-relu" in [c["name"] for c in components["activation"]]
    assert "label-smoothing" in [c["name"] for c in components["loss"]]
    assert "telemetry" in [c["name"] for c in components["experiment"]]


def test_dry_run_plans_every_combination_with_train():
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            "sqlite:///unused.db",
            "sweep",
            "--plugins",
            "optimizer,schedule,norm",
            "--experiments",
            "train",
            "--dry-run",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "150 runs of 1 experiment" in result.stdout  # 5 optimizers x 5 schedules x 6 norms


@pytest.mark.slow
def test_sweep_over_optimizer_and_norm_with_workers_feeds_the_training_and_telemetry_pages(
    tmp_path, monkeypatch
):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            url,
            "sweep",
            "--optimizer",
            "sgd,adam",
            "--norm",
            "none,batchnorm",
            "--experiments",
            "train,telemetry",
            "--workers",
            "2",
            "-s",
            "train.model=cnn",
            "-s",
            "train.n_train=256",
            "-s",
            "telemetry.n_train=256",
            "-s",
            "telemetry.every=4",
        ],
    )
    assert result.exit_code == 0, result.output
    with open_store(url, read_only=True) as store:
        runs = queries.list_runs(store)
        assert len(runs) == 8 and set(runs["status"]) == {"done"}
        assert {tuple(r) for r in runs[["optimizer", "norm"]].to_numpy()} == {
            ("sgd", "none"),
            ("sgd", "batchnorm"),
            ("adam", "none"),
            ("adam", "batchnorm"),
        }
        telemetry = [int(r) for r in runs[runs["experiment"] == "telemetry"]["run_id"]]
        # 4 runs x 4 conv layers x 2 steps: 256 rows are 4 steps, recorded every 4th (0) and the last (3)
        assert len(queries.activation_histograms(store, run_ids=telemetry)) == 4 * 4 * 2

    monkeypatch.setenv("SCRATCHLAB_DB", url)
    for page in ("training", "telemetry"):
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
        assert list(at.get("vega_lite_chart")), page
