"""``import scratchlab as sl``: reading results, the app's charts and running a sweep from Python."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import scratchlab as sl
from scratchlab.db import DatabaseError
from scratchlab.runner.cli import cli

ACCURACY = {"kaiming-normal": 0.9, "xavier": 0.85, "randn": 0.75}


def test_import_scratchlab_loads_nothing_heavy():
    code = (
        "import sys, scratchlab as sl; "
        "print(sorted(m for m in ('torch', 'pandas', 'sqlalchemy', 'altair') if m in sys.modules)); "
        "print(sorted(n for n in ('open', 'sweep', 'charts', 'Results', 'Sweep') if n in dir(sl)))"
    )
    lines = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert lines == ["[]", "['Results', 'Sweep', 'charts', 'open', 'sweep']"]
    with pytest.raises(AttributeError, match="no attribute 'colour'"):
        sl.colour  # noqa: B018 - the lookup is the test


def test_runs_have_params_and_final_metrics_as_columns(results_url):
    with sl.open(results_url) as results:
        runs = results.runs(experiment="train")
        assert len(runs) == 4 and runs["valid_accuracy"].dtype == float
        done = runs[runs["status"] == "done"]
        assert (
            dict(zip(done["init"], done["valid_accuracy"], strict=True)) == ACCURACY
        )  # the final, not the first
        failed = runs[runs["status"] == "failed"].iloc[0]
        assert failed["lr"] == 9.0 and failed["train_loss"] != failed["train_loss"]  # NaN
        assert results.runs(status="failed")["run_id"].tolist() == [failed["run_id"]]
        assert results.runs("1", where="init=xavier,randn", status="done")["init"].tolist() == [
            "xavier",
            "randn",
        ]
        # final metrics filter and sort like params, in SQL
        best = results.runs(where="valid_accuracy>=0.8", sort="valid_accuracy", desc=True)
        assert best["init"].tolist() == ["kaiming-normal", "xavier"]
        assert results.runs(where={"valid_accuracy": (None, 0.8)})["init"].tolist() == ["randn"]
        assert results.runs(sweep=2, where={"init": "randn"})["experiment"].tolist() == [
            "init-stats"
        ]
        assert list(results.sweeps()["name"]) == ["train", "init"]


def test_timings_activations_metrics_and_one_run(results_url):
    with sl.open(results_url) as results:
        assert results.timings()["median_s"].tolist() == [1e-6]
        deep = results.activations(sweep=2, model="deep")
        assert len(deep) == 10 and set(deep["layer"]) == {1, 2, 3, 4, 5}
        assert results.activations(model="conv").empty
        history = results.metrics(experiment="train", name="valid_accuracy")
        assert len(history) == 6 and set(history["step"]) == {2, 4}
        run = results.run(int(results.runs(experiment="matmul")["run_id"].iloc[0]))
        assert run["components"] == {"matmul": "torch"} and run["metrics"] == {
            "4x8x4.median_s": 1e-6
        }


def test_notebook_frames_carry_components_units_and_one_experiments_columns(results_url):
    with sl.open(results_url) as results:
        # the unit in every time column's name, as runs() says 4x8x4.median_s
        timings = results.timings()
        assert {"median_s", "iqr_s", "min_s"} <= set(timings.columns)
        assert not {"median", "iqr", "min"} & set(timings.columns)
        # per-layer stats and histories group by component, as a notebook user writes
        deep = results.activations(sweep=2, model="deep")
        assert sorted(deep.groupby("init")["std"].max().index) == ["kaiming-normal", "randn"]
        assert set(deep["activation"]) == {"relu"}
        history = results.metrics(experiment="train", name="valid_accuracy")
        finals = history[history["step"] == 4].groupby("init")["value"].max()
        assert finals.to_dict() == pytest.approx(ACCURACY)
        # one experiment's runs: its own params and metrics, not the others'
        train = results.runs(experiment="train")
        assert "depth" not in train.columns and "4x8x4.median_s" not in train.columns
        assert {"init", "lr", "valid_accuracy"} <= set(train.columns)
        assert "depth" in results.runs().columns


def test_the_default_database_is_the_command_lines(results_url, monkeypatch, tmp_path):
    monkeypatch.setenv("SCRATCHLAB_DB", results_url)
    assert len(sl.open().runs()) == 7
    monkeypatch.delenv("SCRATCHLAB_DB")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatabaseError, match="no results database"):
        sl.open()
    assert not (tmp_path / "runs.db").exists()  # opening read-only never creates one


def test_charts_are_the_apps_altair_charts(results_url):
    with sl.open(results_url) as results:
        layers = sl.charts.layers(results, model="deep", value="std")
        spec = layers.to_dict()
        title = spec["title"]["text"] if isinstance(spec["title"], dict) else spec["title"]
        assert title == "activation std per layer"
        parts = spec.get("layer", [spec])  # the lines, and the marks of curves that leave
        assert any(
            p.get("encoding", {}).get("y", {}).get("scale", {}).get("type") == "log" for p in parts
        )
        # the 2 inits x 5 layers, plus a marker where randn's line leaves the focused range
        assert len(layers.data) >= 10 and set(layers.data["init"]) == {"kaiming-normal", "randn"}
        assert sl.charts.curves(results, "valid_accuracy", experiment="train").to_dict()["layer"]
        assert sl.charts.timings(results).to_dict()
        assert sl.charts.statuses(results, sweep=1).to_dict()
        with pytest.raises(sl.charts.NoData, match="model 'conv'"):
            sl.charts.layers(results, model="conv")


@pytest.mark.slow  # real worker processes or a served app: seconds each
def test_sweep_runs_through_the_cli_engine_and_reads_back(tmp_path):
    db = tmp_path / "runs.db"
    sweep = sl.sweep(
        plugins=["matmul"],
        matmul=["torch", "einsum"],
        experiments="matmul",
        db=db,
        progress=False,
        settings={"matmul.shapes": "4x8x4", "matmul.min_run_time": 0.01},
    )
    assert sweep.status == "done" and sweep.sweep_id == 1
    runs = sweep.runs()
    assert sorted(runs["matmul"]) == ["einsum", "torch"] and (runs["4x8x4.median_s"] > 0).all()
    # the same rows the command line sees, with the experiment's headline stored for it
    cli_runs = json.loads(CliRunner().invoke(cli, ["--db", sweep.db, "runs", "--json"]).output)[
        "runs"
    ]
    assert sorted(r["run_id"] for r in cli_runs) == sorted(runs["run_id"])
    table = CliRunner().invoke(cli, ["--db", sweep.db, "runs"], env={"COLUMNS": "80"}).output
    assert "4x8x4.median_s" in table and "4x8x4.gflops" in table
    with pytest.raises(TypeError, match="unknown keyword colour"):
        sl.sweep(plugins=["matmul"], colour="red", db=db)
