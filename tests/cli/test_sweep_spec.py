"""From ``runner sweep``'s options to the plan (``runner/cli/sweep_spec.py``): a config
file overridden by the flags, paths made absolute, a search asked for in full, and the
options that cannot go together refused in one line before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_a_config_file_plans_includes_and_flags_override_it(sweep, tmp_path: Path):
    config = tmp_path / "sweep.toml"
    config.write_text(
        'experiments = ["echo"]\nmatmul = "toy-a,toy-b"\nrepeat = 3\n'
        "[params.echo]\nn = 6\n"
        '[[include]]\nexperiment = "echo"\nmatmul = "toy-c"\nparams = { scale = 2, "toy-c.bias" = 1 }\n'
    )
    result = sweep("--config", str(config), "--repeat", "1", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    assert [(r["components"]["matmul"], r["params"]) for r in runs] == [
        ("toy-a", {"n": 6}),
        ("toy-b", {"n": 6}),
        ("toy-c", {"n": 6, "scale": 2.0, "toy-c.bias": 1.0}),
    ]


def test_data_path_reaches_the_datasets_that_read_one_relative_to_a_config_file(
    sweep, tmp_path: Path
):
    data = tmp_path / "data"
    data.mkdir()
    (data / "mnist.pkl.gz").write_bytes(b"")
    (tmp_path / "conf").mkdir()
    config = tmp_path / "conf" / "sweep.toml"
    config.write_text(
        'experiments = ["train"]\ndataset = "mnist,mnist-idx"\ndata-path = "../data/mnist.pkl.gz"\n'
    )
    result = sweep("--config", str(config), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    params = {r["components"]["dataset"]: r["params"] for r in json.loads(result.stdout)["runs"]}
    target = str((data / "mnist.pkl.gz").resolve())
    assert params["mnist"]["mnist.path"] == target
    assert params["mnist-idx"]["mnist-idx.directory"] == target
    # the flag wins over the file, and is resolved against the working directory
    result = sweep("--config", str(config), "--data-path", "data", "--dry-run", "--json")
    paths = {r["params"].get("mnist.path") for r in json.loads(result.stdout)["runs"]}
    assert str(data.resolve()) in paths


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trials", "3"], "--trials needs --search random or --search tpe"),
        (["--prune", "median"], "--prune needs --search random or --search tpe"),
        (["--search", "tpe"], "--search needs --trials and --objective"),
        (["--search", "tpe", "--objective", "sum"], "--search needs --trials"),
        (
            ["--search", "tpe", "--trials", "2", "--objective", "sum:up"],
            "--objective 'sum:up': the direction is max or min, not 'up'",
        ),
        (["--resume", "1", "--name", "x"], "--name cannot be combined with it"),
        (["--rerun-failed", "1", "--seed", "2"], "cannot be combined with --seed"),
    ],
)
def test_a_search_half_given_or_options_that_clash_exit_2_in_one_line(
    sweep, db_file: Path, args, message
):
    result = sweep(*args)
    assert result.exit_code == 2, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and message in last
    assert "Traceback" not in result.output
    assert not db_file.exists()
