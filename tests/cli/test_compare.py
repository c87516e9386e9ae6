"""``runner compare`` (``runner/cli/compare.py``): benchmark tables with speed-ups
against a baseline or another sweep, and final metrics aggregated over repeats. At 80
columns (issue 24, item 16): slow-downs as factors, fastest first, in µs; ``--by``
groups final metrics; a sweep that does not exist is named as such."""

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


def test_compare_prints_a_benchmark_table_with_speedups(sample_output, sample_db, samples):
    text = sample_output("compare", "--sweep", str(sample_db.matmul_sweep))
    assert (
        all(s in text for s in samples.STRATEGIES)
        and "Times are in µs" in text
        and "(2,000x faster)" in text
    )
    payload = json.loads(
        sample_output(
            "compare", "--sweep", str(sample_db.matmul_sweep), "--baseline", "torch", "--json"
        )
    )
    assert payload["baseline"] == "torch" and payload["by"] == "matmul"
    speedups = {(r["matmul"], r["shape"]): r["speedup"] for r in payload["rows"]}
    assert speedups[("python", "5x784x10")] == pytest.approx(0.0005)
    assert len(payload["rows"]) == len(samples.STRATEGIES) * 2


def test_compare_against_flags_regressions_and_environment_changes(
    sample_cli, sample_output, sample_db
):
    args = [
        "compare",
        "--sweep",
        str(sample_db.rerun_sweep),
        "--against",
        str(sample_db.matmul_sweep),
    ]
    text = sample_output(*args)
    assert "slower" in text and "torch: 2.3.0 -> 2.4.0" in text
    payload = json.loads(sample_output(*args, "--json"))
    slower = [(r["matmul"], r["shape"]) for r in payload["rows"] if r["change"] == "slower"]
    assert (
        sorted(slower) == [("einsum", "5x784x10"), ("einsum", "64x784x50")]
        and payload["regressions"] == 2
    )
    failing = sample_cli(*args, "--fail-on-regression")
    assert failing.exit_code == 1 and "2 timing(s) got slower" in failing.output
    assert sample_output(
        "compare",
        "--sweep",
        str(sample_db.matmul_sweep),
        "--against",
        str(sample_db.matmul_sweep),
        "--fail-on-regression",
    )


def test_compare_metrics_aggregates_repeats(sample_output, sample_db):
    payload = json.loads(
        sample_output(
            "compare",
            "--sweep",
            str(sample_db.train_sweep),
            "--metrics",
            "--experiment",
            "train",
            "--status",
            "done",
            "--json",
        )
    )
    rows = {r["config"]: r for r in payload["rows"]}
    assert set(rows) == {"lr=0.1", "lr=0.5"} and rows["lr=0.5"]["runs"] == 3
    assert rows["lr=0.5"]["valid_accuracy mean"] == pytest.approx(0.96)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["compare", "--sweep", "2"], 1, "has no timings"),
        (["compare", "--sweep", "1", "--baseline", "numpy"], 1, "no matmul named 'numpy'"),
        (["compare", "--sweep", "3", "--against", "77"], 1, "no sweep 77"),
    ],
)
def test_compare_mistakes_are_one_line_errors(sample_cli, args, code, message):
    result = sample_cli(*args)
    assert result.exit_code == code, result.output
    assert message in result.output and "Traceback" not in result.output
