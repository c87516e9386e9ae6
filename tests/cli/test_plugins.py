"""``runner plugins`` shows every built-in building block with a description."""

from __future__ import annotations

import json

from click.testing import CliRunner

from scratchlab.runner.cli import cli

BUILTINS = {
    "matmul": ["python", "elementwise", "broadcast", "einsum", "torch"],
    "init": [
        "randn",
        "simple",
        "kaiming-normal",
        "kaiming-uniform",
        "torch-kaiming-normal",
        "torch-default",
        "xavier",
    ],
    "activation": ["relu", "relu-shifted", "leaky-relu", "tanh", "identity"],
    "loss": ["mse", "nll-naive", "nll-simplified", "nll-logsumexp", "cross-entropy"],
    "dataset": ["mnist-5k", "mnist", "mnist-idx", "synthetic"],
}
MODULES = ["matmul", "inits", "activations", "losses", "datasets"]


def test_runner_plugins_json_lists_every_builtin_with_a_description():
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    for category, names in BUILTINS.items():
        rows = {row["name"]: row for row in payload["components"][category]}
        assert set(names) <= set(rows), f"{category}: missing {set(names) - set(rows)}"
        for name in names:
            assert rows[name]["description"].strip(), f"{category} {name} has no description"
            assert rows[name]["plugin"].startswith("scratchlab.plugins.")
    status = {info["name"]: info["status"] for info in payload["plugins"]}
    assert all(status[f"scratchlab.plugins.{m}"] == "ok" for m in MODULES), status
    params = {row["name"]: row["params"] for row in payload["components"]["activation"]}
    assert params["leaky-relu"] == {"slope": 0.01}


def test_runner_plugins_table_shows_the_descriptions():
    result = CliRunner(env={"COLUMNS": "300"}).invoke(
        cli, ["plugins"]
    )  # rich wraps at 80 otherwise
    assert result.exit_code == 0, result.output
    for names in BUILTINS.values():
        for name in names:
            assert name in result.stdout
    assert "row of a times a column of b" in result.stdout
