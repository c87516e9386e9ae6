"""``runner compare`` and ``runner sweep`` say what a user needs at 80 columns (issue 24,
item 16): slow-downs as factors, fastest first, in µs; ``--by`` groups final metrics;
a sweep that does not exist is named as such; ``--plugin`` points to ``--plugins``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from scratchlab.core.records import MetricRecord, PlannedRun, RunResult
from scratchlab.db import open_store
from scratchlab.runner.cli import cli

OPTIMIZERS = {"sgd": 0.86, "momentum": 0.89, "adam": 0.90}
NORMS = ("none", "batchnorm")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "80"}, terminal_width=80)


def test_a_slower_strategy_reads_as_a_slow_down_fastest_first_in_microseconds(sample_db):
    result = invoke(
        "--db",
        sample_db.url,
        "compare",
        "--sweep",
        str(sample_db.matmul_sweep),
        "--baseline",
        "torch",
    )
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Times are in µs" in text and "e-0" not in text and "0.000" not in text
    assert "(2,000x slower)" in text  # python against torch, not 0.0005x
    rows = [line.split()[0] for line in text.splitlines() if line.startswith("  ")]
    order = [r for r in rows if r in ("torch", "einsum", "broadcast", "python")]
    assert order == ["torch", "einsum", "broadcast", "python"]


def test_a_sweep_that_does_not_exist_is_named(sample_db):
    result = invoke("--db", sample_db.url, "compare", "--sweep", "999")
    assert result.exit_code == 1
    assert "no sweep 999" in result.output and "timings" not in result.output


@pytest.fixture
def optimizer_db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with open_store(url) as store:
        sweep = store.create_sweep("opt", ["runner", "sweep"], {}, {})
        planned = [
            PlannedRun(f"{o}-{n}-{r}", "train", {"optimizer": o, "norm": n}, {"lr": 0.2}, repeat=r)
            for o in OPTIMIZERS
            for n in NORMS
            for r in (0, 1)
        ]
        ids = store.add_runs(sweep, planned)
        for run in planned:
            optimizer = run.components["optimizer"]
            accuracy = OPTIMIZERS[optimizer] + (0.01 if run.components["norm"] == "none" else 0)
            store.write_result(
                ids[run.key], RunResult("done", metrics=[MetricRecord("valid_accuracy", accuracy)])
            )
        store.finish_sweep(sweep, "done")
    return url


def test_metrics_by_a_category_is_one_row_per_its_value(optimizer_db):
    plain = json.loads(invoke("--db", optimizer_db, "compare", "--metrics", "--json").output)
    assert len(plain["rows"]) == len(OPTIMIZERS) * len(NORMS)
    result = invoke("--db", optimizer_db, "compare", "--metrics", "--by", "optimizer", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["config"]: r for r in json.loads(result.output)["rows"]}
    assert set(rows) == {f"optimizer={o}" for o in OPTIMIZERS}
    assert all(r["runs"] == 2 * len(NORMS) for r in rows.values())
    assert rows["optimizer=adam"]["valid_accuracy mean"] == pytest.approx(0.905)
    table = invoke("--db", optimizer_db, "compare", "--metrics", "--by", "optimizer").output
    assert "norm" not in table.split("valid_accuracy")[0]  # the table's columns: optimizer, runs
    wrong = invoke("--db", optimizer_db, "compare", "--metrics", "--by", "optimiser")
    assert wrong.exit_code == 1 and "cannot compare by 'optimiser'" in wrong.output


def test_sweep_plugin_points_to_plugins(tmp_path):
    result = invoke("--db", f"sqlite:///{tmp_path / 'runs.db'}", "sweep", "--plugin", "matmul")
    assert result.exit_code == 2
    assert "no such option: --plugin; did you mean --plugins?" in result.output
    assert not (tmp_path / "runs.db").exists()
