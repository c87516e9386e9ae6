"""`runner runs --stale`: results made by code that has changed since."""

from __future__ import annotations

import json

from click.testing import CliRunner

from scratchlab.core.records import PlannedRun, RunResult
from scratchlab.db import open_store
from scratchlab.plugins.manager import load_plugins
from scratchlab.runner.cli import cli


def planned(key: str, matmul: str, version: str) -> PlannedRun:
    return PlannedRun(
        key=key,
        experiment="matmul",
        components={"matmul": matmul},
        params={"shapes": "5x784x10"},
        component_versions={"matmul": version},
    )


def test_stale_lists_runs_whose_component_changed_or_is_gone(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    now = load_plugins().registry.get("matmul", "torch").version
    store = open_store(url)
    sweep_id = store.create_sweep("s", ["runner", "sweep"], {}, {})
    ids = store.add_runs(
        sweep_id,
        [
            planned("current", "torch", now),
            planned("edited", "torch", "0.0.1+deadbeef"),
            planned("gone", "strassen", "1.0+cafef00d"),
        ],
    )
    for run_id in ids.values():
        store.write_result(run_id, RunResult(status="done"))
    store.close()

    result = CliRunner().invoke(cli, ["--db", url, "runs", "--stale", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["total"] == 2
    notes = {run["run_id"]: run["stale"] for run in payload["runs"]}
    assert notes == {
        ids["edited"]: f"matmul torch 0.0.1+deadbeef -> {now}",
        ids["gone"]: "matmul strassen 1.0+cafef00d -> not installed",
    }

    table = CliRunner().invoke(cli, ["--db", url, "runs", "--stale"], env={"COLUMNS": "250"})
    assert table.exit_code == 0, table.output
    assert "not installed" in table.stdout and "2 runs" in table.stdout

    plain = json.loads(CliRunner().invoke(cli, ["--db", url, "runs", "--json"]).stdout)
    assert plain["total"] == 3 and all("stale" not in run for run in plain["runs"])


def test_an_experiment_whose_code_changed_is_stale_and_an_unversioned_one_is_not(tmp_path):
    """The experiment's version is stored like a component's; a run stored without
    one (before experiments had versions) is compared on its components only."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    registry = load_plugins().registry
    matmul_now = registry.get("matmul", "torch").version
    experiment_now = registry.get("experiment", "matmul").version
    store = open_store(url)
    sweep_id = store.create_sweep("s", ["runner", "sweep"], {}, {})
    runs = {
        "current": planned("current", "torch", matmul_now),
        "edited": planned("edited", "torch", matmul_now),
        "old": planned("old", "torch", matmul_now),
    }
    runs["current"].component_versions["experiment"] = experiment_now
    runs["edited"].component_versions["experiment"] = "0.0.1+0ld0c0de"
    ids = store.add_runs(sweep_id, list(runs.values()))
    store.close()

    payload = json.loads(CliRunner().invoke(cli, ["--db", url, "runs", "--stale", "--json"]).stdout)
    assert {run["run_id"]: run["stale"] for run in payload["runs"]} == {
        ids["edited"]: f"experiment matmul 0.0.1+0ld0c0de -> {experiment_now}",
    }
    shown = json.loads(
        CliRunner().invoke(cli, ["--db", url, "show", str(ids["edited"]), "--json"]).stdout
    )
    assert shown["component_versions"] == {"experiment": "0.0.1+0ld0c0de", "matmul": matmul_now}
    assert "experiment" not in shown["params"]
