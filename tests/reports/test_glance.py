"""``runner runs`` at a glance: one table per experiment that fits the terminal,
headline results as columns, noisy timings marked, stored text escaped.

The database holds the README's main job (``runner sweep --plugins matmul,init``)
as the real planner plans it, with made-up results written through the store,
so the widths are those of the real component, param and metric names.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from scratchlab.core.keys import HEADLINES_KEY
from scratchlab.core.records import MetricRecord, RunResult, TimingRecord
from scratchlab.db import open_store
from scratchlab.plugins.manager import load_plugins
from scratchlab.plugins.registry import declared_headlines
from scratchlab.runner.cli import cli
from scratchlab.runner.plan import plan
from scratchlab.runner.spec import SweepSpec

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ESC_NAME = "\x1b[31mred\x1b[0m"


def accuracy(index: int) -> float:
    """The made-up final valid accuracy of the ``index``-th train run: 0.70 .. 0.97."""
    return 0.70 + (index * 7 % 28) / 100


def fake_result(run, index: int) -> RunResult:
    """A plausible result for one planned run of the main job."""
    times = (START, START + timedelta(seconds=1 + index % 7))
    if run.experiment == "matmul":
        median = {"python": 0.2, "elementwise": 3e-3, "broadcast": 2e-4, "einsum": 2e-5}.get(
            run.components["matmul"], 1e-5
        )
        noisy = "noisy" if run.components["matmul"] == "einsum" else "ok"
        timing = TimingRecord(
            label="5x784x10",
            replicates=[median] * 5,
            median=median,
            iqr=median / 50,
            mean=median,
            min=median,
            max=median,
            shape="5x784x10",
            flops=78400.0,
            quality=noisy,
        )
        metrics = [
            MetricRecord("5x784x10.max_abs_err", 4e-5),
            MetricRecord("5x784x10.max_rel_err", 7e-7),
            MetricRecord("5x784x10.correct", 1.0),
            MetricRecord("5x784x10.gflops", 78400 / median / 1e9),
            MetricRecord("5x784x10.median_s", median),
        ]
        return RunResult("done", None, *times, timings=[timing], metrics=metrics)
    if run.experiment == "init-stats":
        first = 32.0 if run.components["init"] == "randn" else math.nan
        return RunResult(
            "done",
            None,
            *times,
            metrics=[
                MetricRecord("first_nonfinite_layer", first),
                MetricRecord("deep.last_std", 0.7 if first != first else math.nan),
            ],
        )
    if run.experiment == "gradcheck":
        metrics = [MetricRecord(f"{t}.max_rel_err", 1e-7) for t in ("x", "w1", "b1", "w2", "b2")]
        metrics += [
            MetricRecord("max_rel_err", 1.5e-7),
            MetricRecord("passed", 1.0),
            MetricRecord("loss", 2.3),
        ]
        return RunResult("done", None, *times, metrics=metrics)
    if run.experiment != "train":
        return RunResult(
            "done", None, *times
        )  # an experiment added since (telemetry): no headline here
    if run.components.get("matmul") == "python":
        return RunResult(
            "skipped", "python: 64x784x50 is 2.5e+06 multiply-adds, limit 1e+06", *times
        )
    metrics = [
        MetricRecord("train_loss", 0.5, 70),
        MetricRecord("valid_loss", 0.31, 79),
        MetricRecord("valid_accuracy", accuracy(index), 79),
        MetricRecord("epoch_time_s", 12.5, 79),
        MetricRecord("samples_per_s", 4000.0 + index),
    ]
    return RunResult("done", None, *times, metrics=metrics)


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    """(url, {run_id: valid accuracy of the done train runs}) of the main job's database."""
    plugins = load_plugins()
    runs = plan(SweepSpec(plugins=("matmul", "init")), plugins.registry)
    url = f"sqlite:///{tmp_path_factory.mktemp('glance') / 'runs.db'}"
    spec = {HEADLINES_KEY: declared_headlines(plugins.registry, {r.experiment for r in runs})}
    accuracies = {}
    with open_store(url) as store:
        sweep_id = store.create_sweep(
            ESC_NAME, ["runner", "sweep", "--plugins", "matmul,init"], spec, {}
        )
        ids = store.add_runs(sweep_id, runs)
        for index, run in enumerate(runs):
            result = fake_result(run, index)
            store.write_result(ids[run.key], result)
            if run.experiment == "train" and result.status == "done":
                accuracies[ids[run.key]] = accuracy(index)
        store.finish_sweep(sweep_id, "done")
    return url, accuracies


def runs(url: str, *args: str, columns: int = 80) -> str:
    result = CliRunner().invoke(
        cli, ["--db", url, "runs", "--limit", "0", *args], env={"COLUMNS": str(columns)}
    )
    assert result.exit_code == 0, result.output
    return result.output


def tables(text: str) -> dict[str, list[str]]:
    """The printed lines under each experiment's title."""
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.strip() in ("matmul", "init-stats", "gradcheck", "train", "telemetry"):
            current = line.strip()
            found[current] = []
        elif current:
            found[current].append(line)
    return found


def test_at_80_columns_every_line_fits_and_the_headlines_are_whole(main_job):
    url, accuracies = main_job
    text = runs(url)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text  # nothing cut
    by_experiment = tables(text)
    assert set(by_experiment) == {
        "matmul",
        "init-stats",
        "gradcheck",
        "train",
        "telemetry",
    }  # never a mix
    train_header = by_experiment["train"][0]
    for header in ("run_id", "status", "matmul", "init", "valid_accuracy"):
        assert header in train_header
    run_id, best = max(accuracies.items(), key=lambda item: item[1])
    row = next(line for line in by_experiment["train"] if line.split("│")[0].strip() == str(run_id))
    assert f"{best:.4g}" in row
    # the constant params are said once, below the table
    assert "lr=0.2" in "\n".join(by_experiment["train"]).replace("\n", " ")
    assert "5x784x10.median_s" in by_experiment["matmul"][0]
    assert "first_nonfinite_layer" in by_experiment["init-stats"][0]


def test_wider_terminals_show_more_and_wide_shows_everything(main_job):
    url, _ = main_job
    narrow, broad = runs(url), runs(url, columns=160)
    assert (
        "samples_per_s" not in tables(narrow)["train"][0]
        and "samples_per_s" in tables(broad)["train"][0]
    )
    assert max(len(line) for line in broad.splitlines()) <= 160
    assert "hidden: " in narrow and "--wide" in narrow
    wide = runs(url, "--wide")
    assert "epoch_time_s" in wide and "train_loss" in wide and "hidden: " not in wide


def test_columns_chooses_exactly_the_columns(main_job):
    url, _ = main_job
    text = runs(
        url, "--experiment", "train", "--status", "done", "--columns", "run_id,valid_accuracy"
    )
    header = tables(text)["train"][0]
    assert header.split() == ["run_id", "┃", "valid_accuracy"]
    result = CliRunner().invoke(cli, ["--db", url, "runs", "--columns", "run_id,colour"])
    assert (
        result.exit_code == 2
        and "no column colour" in result.output
        and "Traceback" not in result.output
    )


def test_noisy_timings_are_marked(main_job):
    url, _ = main_job
    matmul = tables(runs(url, "--experiment", "matmul"))["matmul"]
    einsum = next(line for line in matmul if "einsum" in line)
    torch_row = next(line for line in matmul if " torch " in line)
    assert "~" in einsum and "~" not in torch_row
    assert any("noisy" in line for line in matmul)


def test_json_has_params_and_final_metrics_and_no_nan_strings(main_job):
    url, _ = main_job
    payload = json.loads(runs(url, "--experiment", "init-stats", "--json"))
    rows = payload["runs"]
    assert {r["reason"] for r in rows} == {None}
    randn = next(r for r in rows if r["init"] == "randn")
    other = next(r for r in rows if r["init"] != "randn")
    assert randn["first_nonfinite_layer"] == 32 and randn["deep.last_std"] is None
    assert randn["nonfinite"] == {"deep.last_std": "NaN"}
    assert other["first_nonfinite_layer"] is None and other["nonfinite"] == {
        "first_nonfinite_layer": "NaN"
    }
    assert "NaN" not in json.dumps([{k: v for k, v in r.items() if k != "nonfinite"} for r in rows])
    # beside a skipped run's reason, a done run's missing reason is null, never "NaN"
    train = json.loads(runs(url, "--experiment", "train", "--json"))["runs"]
    assert {r["status"] for r in train} == {"done", "skipped"}
    assert all((r["reason"] is None) == (r["status"] == "done") for r in train)
    assert "NaN" not in json.dumps(train)


def test_stored_control_characters_are_escaped(main_job):
    url, _ = main_job
    result = CliRunner().invoke(cli, ["--db", url, "show", "1"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\\x1b[31mred" in result.output


def test_compare_metrics_is_one_table_per_experiment_within_120_columns(main_job):
    url, accuracies = main_job
    result = CliRunner().invoke(cli, ["--db", url, "compare", "--metrics"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    total = json.loads(runs(url, "--json", "--limit", "1"))["total"]
    by_experiment = tables(result.output)
    # one table per experiment the main job plans, never a mix
    assert set(by_experiment) == {"matmul", "init-stats", "gradcheck", "train", "telemetry"}
    # one line per configuration plus a few per table (it was 4,199 lines for 54 runs)
    assert max(len(line) for line in lines) <= 120 and len(lines) < total + 12 * len(by_experiment)
    assert "valid_accuracy" in by_experiment["train"][0] and "runs" in by_experiment["train"][0]
    payload = json.loads(
        CliRunner().invoke(cli, ["--db", url, "compare", "--metrics", "--json"]).output
    )
    train = [
        r
        for r in payload["rows"]
        if r["experiment"] == "train" and r["valid_accuracy mean"] is not None
    ]
    assert sorted(r["valid_accuracy mean"] for r in train) == pytest.approx(
        sorted(accuracies.values())
    )


def test_where_and_sort_take_final_metrics(main_job):
    url, accuracies = main_job
    payload = json.loads(runs(url, "--where", "valid_accuracy>=0.8", "--json"))
    assert sorted(r["run_id"] for r in payload["runs"]) == sorted(
        i for i, a in accuracies.items() if a >= 0.8
    )
    assert payload["total"] == len(payload["runs"]) and {
        r["experiment"] for r in payload["runs"]
    } == {"train"}
    text = runs(
        url, "--where", "valid_accuracy>=0.85", "--sort", "valid_accuracy", "--desc", "--limit", "3"
    )
    header, *lines = tables(text)["train"]
    position = [h.strip() for h in header.split("┃")].index("valid_accuracy")
    assert position == 2  # what is sorted and filtered by comes first, after run id and status
    shown = [float(line.split("│")[position]) for line in lines if "│" in line]
    assert shown == sorted(shown, reverse=True) and shown[0] == pytest.approx(
        max(accuracies.values())
    )


def test_export_runs_has_final_metrics_and_neutralised_cells(main_job, tmp_path):
    import pandas as pd

    url, accuracies = main_job
    out = tmp_path / "runs.parquet"
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            url,
            "export",
            "--where",
            "valid_accuracy>=0.8",
            "--format",
            "parquet",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert frame["valid_accuracy"].dtype == float
    assert sorted(frame["run_id"]) == sorted(i for i, a in accuracies.items() if a >= 0.8)


def test_csv_export_neutralises_a_stored_formula(tmp_path):
    from scratchlab.core.records import PlannedRun

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with open_store(url) as store:
        sweep_id = store.create_sweep("hostile", [], {}, {})
        ids = store.add_runs(
            sweep_id,
            [
                PlannedRun(
                    key="k", experiment="x", components={}, params={"lr": -0.5}, seed=0, repeat=0
                )
            ],
        )
        store.write_result(
            ids["k"], RunResult("failed", '=HYPERLINK("http://evil","x")', START, START)
        )
    for args in (["export"], ["runs", "--csv"]):
        text = CliRunner().invoke(cli, ["--db", url, *args]).output
        assert (
            "'=HYPERLINK" in text and ",-0.5" in text
        )  # the formula is text; the number stays a number
    raw = CliRunner().invoke(cli, ["--db", url, "export", "--keep-formulas"]).output
    assert '"=HYPERLINK' in raw


def test_show_and_compare_mark_noisy_timings(main_job):
    url, _ = main_job
    text = (
        CliRunner()
        .invoke(cli, ["--db", url, "compare", "--experiment", "matmul"], env={"COLUMNS": "120"})
        .output
    )
    einsum = next(line for line in text.splitlines() if line.strip().startswith("einsum"))
    torch_row = next(line for line in text.splitlines() if line.strip().startswith("torch"))
    assert "~" in einsum and "~" not in torch_row and "noisy" in text
    payload = json.loads(runs(url, "--experiment", "matmul", "--json"))
    einsum_id = next(r["run_id"] for r in payload["runs"] if r["matmul"] == "einsum")
    shown = (
        CliRunner()
        .invoke(cli, ["--db", url, "show", str(einsum_id)], env={"COLUMNS": "120"})
        .output
    )
    assert "noisy" in shown
    detail = json.loads(
        CliRunner().invoke(cli, ["--db", url, "show", str(einsum_id), "--json"]).output
    )
    assert detail["timings"][0]["quality"] == "noisy"


def test_runs_pages_each_experiment_and_says_how_to_see_more(main_job):
    """Issue 24 item 9: the limit is per experiment, so a long experiment (40 train runs)
    does not push the later ones (telemetry) off the page, and each cut table says how
    to see the rest; following that hint shows the next runs."""
    url, _ = main_job
    result = CliRunner().invoke(cli, ["--db", url, "runs", "--limit", "10"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    found = tables(result.output)
    assert set(found) == {"matmul", "init-stats", "gradcheck", "train", "telemetry"}
    train = " ".join(found["train"])
    assert "10 of 40 runs" in train and "next: --experiment train --offset 10" in train
    assert "all: --limit 0" in train
    assert "--offset" not in " ".join(found["matmul"])  # 5 matmul runs: nothing left out
    assert result.output.rstrip().splitlines()[-1] == "39 of 69 runs (--limit 0 shows every run)"
    first = [int(line.split("│")[0]) for line in found["train"] if "│" in line]
    following = CliRunner().invoke(
        cli,
        ["--db", url, "runs", "--experiment", "train", "--offset", "10", "--limit", "10"],
        env={"COLUMNS": "80"},
    )
    assert following.exit_code == 0, following.output
    then = [int(line.split("│")[0]) for line in tables(following.output)["train"] if "│" in line]
    assert len(then) == 10 and min(then) > max(first)


def _words_intact(text: str, words: list[str], columns: int) -> None:
    """Every line fits ``columns`` and each of ``words`` is printed whole on one line."""
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= columns, text
    broken = [w for w in words if not any(w in line for line in lines)]
    assert not broken, (broken, text)


def test_show_never_splits_a_number_at_80_columns(tmp_path):
    """Issue 24 item 10: ``runner show`` at 80 columns printed ``7.031e`` / ``-06``; now
    columns that do not fit are left out and named, and every number shown is whole."""
    from scratchlab.core.records import PlannedRun
    from scratchlab.reports.terminal import cell

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    values = [7.0312345e-06, 7.1234567e-06, 6.9876543e-06]
    with open_store(url) as store:
        sweep = store.create_sweep("show", ["runner"], {}, {})
        ids = store.add_runs(sweep, [PlannedRun("k", "matmul", {"matmul": "einsum"}, {})])
        timings = [
            TimingRecord(
                label=f"{shape}.forward_and_backward",
                replicates=values,
                median=values[0],
                iqr=2.3456789e-07,
                mean=7.0474485e-06,
                min=values[2],
                max=values[1],
                shape=shape,
                flops=1.2345e9,
                threads=2,
                quality="noisy",
            )
            for shape in ("64x784x50", "5x784x10")
        ]
        metrics = [MetricRecord("64x784x50.max_rel_err", 1.2345678e-07)]
        store.write_result(
            ids["k"],
            RunResult(
                "done", None, START, START + timedelta(seconds=2), timings=timings, metrics=metrics
            ),
        )
    result = CliRunner().invoke(cli, ["--db", url, "show", "1"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    numbers = [cell(v) for v in (values[0], 2.3456789e-07, 1.2345678e-07)]  # median, iqr, metric
    _words_intact(result.output, [*numbers, "64x784x50.forward_and_backward"], 80)
    hidden = next(line for line in result.output.splitlines() if line.startswith("hidden:"))
    assert "min" in hidden and "quality" in hidden
    assert "hidden:" in result.output  # the timings table is wider than 80: said, not folded


def test_app_runs_page_shows_what_varies_first_and_lists_the_rest(main_job, monkeypatch):
    """Issue 24 item 8: the app's Runs page had 88 columns with 41 final metrics before
    the first component; now it follows ``runner runs``: one experiment at a time, the
    components that vary, then the headline results; constant columns are said once
    and every other column is one pick away."""
    from streamlit.testing.v1 import AppTest

    from scratchlab.reports import browser

    url, _ = main_job
    monkeypatch.setenv("SCRATCHLAB_DB", url)
    at = AppTest.from_file(str(browser.APP), default_timeout=90)
    at.run()
    at.query_params.update({"runs.experiment": "train"})
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    options = at.radio(key="runs.experiment").options
    assert [o.replace("\\", "") for o in options] == [
        "matmul (5)",
        "init-stats (8)",
        "gradcheck (8)",
        "train (40)",
        "telemetry (8)",
    ]
    (table,) = [d.value for d in at.dataframe if "run_id" in d.value.columns]
    columns = list(table.columns)
    assert columns[:5] == ["open", "run_id", "status", "init", "matmul"]
    assert columns[5:8] == ["valid_accuracy", "valid_loss", "samples_per_s"]
    assert len(columns) <= 12 and "activation" not in columns and "loss" not in columns
    # the first columns are filled: no sea of None
    assert table[columns[:5]].notna().to_numpy().mean() == 1.0
    shared = " ".join(c.value.replace("\\", "") for c in at.caption)
    assert "activation=relu" in shared and "dataset=mnist-5k" in shared
    chooser = at.multiselect(key="runs.columns")
    assert {"epoch_time_s", "train_loss", "seed"} <= set(chooser.options)
    chooser.select("train_loss").run()
    (table,) = [d.value for d in at.dataframe if "run_id" in d.value.columns]
    assert list(table.columns)[-1] == "train_loss"
    assert at.query_params["runs.columns"] in ("train_loss", ["train_loss"])  # kept in the link
