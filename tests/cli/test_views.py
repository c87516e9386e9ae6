"""``runner runs``, ``show``, ``compare``, ``export`` and ``report`` against a
database written through the store's write path."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import urllib.request

import pandas as pd
import pytest
from click.testing import CliRunner

from scratchlab.reports.browser import free_port, wait_for
from scratchlab.runner.cli import cli
from scratchlab.runner.cli.report import streamlit_command


@pytest.fixture
def runner(sample_db):
    """``runner(*args)``: invoke the CLI on the sample database; returns the click Result."""
    cli_runner = CliRunner()

    def invoke(*args: str):
        return cli_runner.invoke(cli, ["--db", sample_db.url, *args], catch_exceptions=False)

    return invoke


def ok(result):
    assert result.exit_code == 0, result.output
    return result.output


def test_runs_lists_filtered_runs_as_table_json_and_csv(runner, sample_db, samples):
    table = ok(runner("runs", "--sweep", str(sample_db.train_sweep)))
    assert "FloatingPointError: loss is nan" in table and "11 runs" in table
    # database strings are printed as written, never read as rich markup
    assert "[bold]not markup[/bold]" in table

    payload = json.loads(ok(runner("runs", "--status", "failed", "--json")))
    assert payload["total"] == 1 and payload["runs"][0]["run_id"] == sample_db.failed_run
    assert payload["runs"][0]["reason"] == samples.TRACEBACK and payload["runs"][0]["lr"] == 5.0

    payload = json.loads(
        ok(runner("runs", "--where", "lr>=0.5", "--where", "init=kaiming-normal", "--json"))
    )
    assert [r["lr"] for r in payload["runs"]] == [0.5, 0.5, 0.5]

    frame = pd.read_csv(
        io.StringIO(
            ok(runner("runs", "--experiment", "matmul", "--where", "matmul=torch,einsum", "--csv"))
        )
    )
    assert sorted(frame["matmul"]) == ["einsum", "einsum", "torch", "torch"]

    payload = json.loads(
        ok(runner("runs", "--limit", "5", "--offset", "5", "--sort", "run_id", "--desc", "--json"))
    )
    assert payload["total"] == 21 and [r["run_id"] for r in payload["runs"]] == [16, 15, 14, 13, 12]

    payload = json.loads(
        ok(
            runner(
                "runs", "--sweep", str(sample_db.train_sweep), "--sort", "lr", "--desc", "--json"
            )
        )
    )
    assert payload["runs"][0]["lr"] == 5.0
    # an init-stats run has no lr: missing, not the number NaN
    assert payload["runs"][-1]["experiment"] == "init-stats" and payload["runs"][-1]["lr"] is None


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["runs", "--where", "lr>=fast"], 2, "needs a number"),
        (["runs", "--json", "--csv"], 2, "one of --json and --csv"),
        (["runs", "--status", "lost"], 2, "'lost' is not one of"),
        (["runs", "--sort", "colour"], 1, "cannot order runs by 'colour'"),
        (["show", "999"], 1, "no run 999"),
        (["compare", "--sweep", "2"], 1, "has no timings"),
        (["compare", "--sweep", "1", "--baseline", "numpy"], 1, "no matmul named 'numpy'"),
        (["compare", "--sweep", "3", "--against", "77"], 1, "no sweep 77"),
    ],
)
def test_user_mistakes_are_one_line_errors(runner, args, code, message):
    result = runner(*args)
    assert result.exit_code == code, result.output
    assert message in result.output and "Traceback" not in result.output


def test_a_missing_database_is_reported_and_not_created(tmp_path):
    path = tmp_path / "none.db"
    for args in (["runs"], ["show", "1"], ["compare"], ["export"], ["report"]):
        result = CliRunner().invoke(cli, ["--db", f"sqlite:///{path}", *args])
        assert result.exit_code == 1 and "no results database" in result.output, result.output
    assert not path.exists()


def test_show_prints_params_timings_stats_metrics_and_error(runner, sample_db, samples):
    einsum = sample_db.matmul_runs["einsum"]
    text = ok(runner("show", str(einsum)))
    assert "einsum" in text and "5x784x10" in text and "gflops" in text
    payload = json.loads(ok(runner("show", str(einsum), "--json")))
    assert payload["components"] == {"matmul": "einsum"} and payload["params"]["rtol"] == 0.001
    medians = {t["shape"]: t["median"] for t in payload["timings"]}
    assert medians == pytest.approx({s: samples.expected_median("einsum", s) for s in medians})
    assert payload["error"] is None

    failed = json.loads(ok(runner("show", str(sample_db.failed_run), "--json")))
    assert failed["run"]["status"] == "failed" and failed["run"]["reason"] == samples.TRACEBACK
    assert failed["error"].startswith("FloatingPointError") and failed["metrics"] == {
        "train_loss": None
    }
    assert failed["nonfinite"] == {
        "train_loss": "NaN"
    }  # JSON has no NaN: null, and which it was beside
    assert samples.TRACEBACK.splitlines()[-1][:40] in ok(runner("show", str(sample_db.failed_run)))

    stats = json.loads(ok(runner("show", str(sample_db.train_runs[0] - 4), "--json")))["stats"]
    deep = next(s for s in stats if s["model"] == "deep")
    assert deep["layers"] == 12 and deep["first_nonfinite"] is None


def test_compare_prints_a_benchmark_table_with_speedups(runner, sample_db, samples):
    text = ok(runner("compare", "--sweep", str(sample_db.matmul_sweep)))
    assert (
        all(s in text for s in samples.STRATEGIES)
        and "Times are in µs" in text
        and "(2,000x faster)" in text
    )
    payload = json.loads(
        ok(
            runner(
                "compare", "--sweep", str(sample_db.matmul_sweep), "--baseline", "torch", "--json"
            )
        )
    )
    assert payload["baseline"] == "torch" and payload["by"] == "matmul"
    speedups = {(r["matmul"], r["shape"]): r["speedup"] for r in payload["rows"]}
    assert speedups[("python", "5x784x10")] == pytest.approx(0.0005)
    assert len(payload["rows"]) == len(samples.STRATEGIES) * 2


def test_compare_against_flags_regressions_and_environment_changes(runner, sample_db):
    args = [
        "compare",
        "--sweep",
        str(sample_db.rerun_sweep),
        "--against",
        str(sample_db.matmul_sweep),
    ]
    text = ok(runner(*args))
    assert "slower" in text and "torch: 2.3.0 -> 2.4.0" in text
    payload = json.loads(ok(runner(*args, "--json")))
    slower = [(r["matmul"], r["shape"]) for r in payload["rows"] if r["change"] == "slower"]
    assert (
        sorted(slower) == [("einsum", "5x784x10"), ("einsum", "64x784x50")]
        and payload["regressions"] == 2
    )
    failing = runner(*args, "--fail-on-regression")
    assert failing.exit_code == 1 and "2 timing(s) got slower" in failing.output
    assert ok(
        runner(
            "compare",
            "--sweep",
            str(sample_db.matmul_sweep),
            "--against",
            str(sample_db.matmul_sweep),
            "--fail-on-regression",
        )
    )


def test_compare_metrics_aggregates_repeats(runner, sample_db):
    payload = json.loads(
        ok(
            runner(
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
    )
    rows = {r["config"]: r for r in payload["rows"]}
    assert set(rows) == {"lr=0.1", "lr=0.5"} and rows["lr=0.5"]["runs"] == 3
    assert rows["lr=0.5"]["valid_accuracy mean"] == pytest.approx(0.96)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_export_writes_each_table_in_each_format(runner, sample_db, tmp_path, fmt):
    def read(path):
        if fmt == "csv":
            return pd.read_csv(path)
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.DataFrame(json.loads(path.read_text()))

    expected = {"runs": 21, "timings": 16, "stats": 4 * (3 + 12 + 2) + 6 * 6}
    for table, rows in expected.items():
        path = tmp_path / f"{table}.{fmt}"
        result = runner("export", "--table", table, "--format", fmt, "-o", str(path))
        assert result.exit_code == 0, result.output
        assert len(read(path)) == rows, table
    path = tmp_path / f"metrics.{fmt}"
    ok(
        runner(
            "export",
            "--table",
            "metrics",
            "--experiment",
            "train",
            "--where",
            "lr=0.5",
            "--format",
            fmt,
            "-o",
            str(path),
        )
    )
    metrics = read(path)
    assert set(metrics["run_id"]) == set(sample_db.train_runs[3:]) and len(metrics) == 3 * (
        20 + 4 + 1
    )


def test_export_to_stdout_and_filters(runner, sample_db):
    frame = pd.read_csv(
        io.StringIO(ok(runner("export", "--table", "timings", "--where", "matmul=einsum")))
    )
    assert set(frame["matmul"]) == {"einsum"} and len(frame) == 4
    assert set(frame["sweep_id"]) == {sample_db.matmul_sweep, sample_db.rerun_sweep}
    stats = json.loads(
        ok(
            runner(
                "export",
                "--table",
                "stats",
                "--status",
                "done",
                "--where",
                "init=randn",
                "--where",
                "activation=relu",
                "--format",
                "json",
            )
        )
    )
    deep = [s for s in stats if s["model"] == "deep"]
    # non-finite values are null in JSON, and the row says which they were
    assert deep[-1]["std"] is None and deep[-1]["mean"] is None
    assert deep[-1]["nonfinite"] == {"mean": "NaN", "std": "inf", "max": "inf"}


def test_report_command_line_passes_the_database_after_the_separator():
    command = streamlit_command("sqlite:///x.db", port=8600, headless=True, address="127.0.0.1")
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("reports/server.py")
    assert command[-3:] == ["--", "--db", "sqlite:///x.db"]
    assert command[command.index("--server.port") + 1] == "8600"
    assert command[command.index("--server.headless") + 1] == "true"


@pytest.mark.slow  # real worker processes or a served app: seconds each
def test_report_serves_the_app_and_stops_with_it(sample_db, tmp_path):
    port = free_port()
    health = f"http://127.0.0.1:{port}/_stcore/health"
    with (tmp_path / "report.log").open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scratchlab.runner.cli",
                "--db",
                sample_db.url,
                "report",
                "--no-browser",
                "--port",
                str(port),
                "--address",
                "127.0.0.1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        try:
            assert wait_for(health, timeout=60) == "ok"
        finally:
            process.terminate()
            assert process.wait(timeout=30) == 0
    # the terminate reached the streamlit server: nothing answers on the port any more
    with pytest.raises(OSError):
        urllib.request.urlopen(health, timeout=2)


def test_report_asks_nothing_outside_the_machine(sample_db, tmp_path):
    """Issue 24 item 19: headless, with no address given, Streamlit looked the machine's
    external IP up on a web service to print it; ``runner report`` names the address."""
    port = free_port()
    log_path = tmp_path / "report.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "scratchlab.runner.cli", "--db", sample_db.url),
                *("report", "--no-browser", "--port", str(port)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        try:
            assert wait_for(f"http://127.0.0.1:{port}/_stcore/health", timeout=60) == "ok"
        finally:
            process.terminate()
            process.wait(timeout=30)
    text = log_path.read_text()
    assert f"http://localhost:{port}" in text
    assert "External URL" not in text and "external IP" not in text, text


@pytest.mark.slow  # a subprocess or real sweep: tens of seconds on a busy machine
def test_views_never_import_torch(sample_db, tmp_path):
    script = f"""
import sys
from scratchlab.runner.cli import cli
url = {sample_db.url!r}
for args in (["runs"], ["show", "3"], ["compare"], ["compare", "--sweep", "2", "--metrics"],
             ["export", "--table", "stats", "-o", {str(tmp_path / "s.csv")!r}]):
    cli.main(args=["--db", url, *args], standalone_mode=False)
print("torch" in sys.modules)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"
