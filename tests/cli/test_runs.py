"""``runner runs`` and ``runner show`` (``runner/cli/runs.py``) against a database
written through the store's write path."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest


def test_runs_lists_filtered_runs_as_table_json_and_csv(sample_output, sample_db, samples):
    table = sample_output("runs", "--sweep", str(sample_db.train_sweep))
    assert "FloatingPointError: loss is nan" in table and "11 runs" in table
    # database strings are printed as written, never read as rich markup
    assert "[bold]not markup[/bold]" in table

    payload = json.loads(sample_output("runs", "--status", "failed", "--json"))
    assert payload["total"] == 1 and payload["runs"][0]["run_id"] == sample_db.failed_run
    assert payload["runs"][0]["reason"] == samples.TRACEBACK and payload["runs"][0]["lr"] == 5.0

    payload = json.loads(
        sample_output("runs", "--where", "lr>=0.5", "--where", "init=kaiming-normal", "--json")
    )
    assert [r["lr"] for r in payload["runs"]] == [0.5, 0.5, 0.5]

    frame = pd.read_csv(
        io.StringIO(
            sample_output(
                "runs", "--experiment", "matmul", "--where", "matmul=torch,einsum", "--csv"
            )
        )
    )
    assert sorted(frame["matmul"]) == ["einsum", "einsum", "torch", "torch"]

    payload = json.loads(
        sample_output(
            "runs", "--limit", "5", "--offset", "5", "--sort", "run_id", "--desc", "--json"
        )
    )
    assert payload["total"] == 21 and [r["run_id"] for r in payload["runs"]] == [16, 15, 14, 13, 12]

    payload = json.loads(
        sample_output(
            "runs", "--sweep", str(sample_db.train_sweep), "--sort", "lr", "--desc", "--json"
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
    ],
)
def test_user_mistakes_are_one_line_errors(sample_cli, args, code, message):
    result = sample_cli(*args)
    assert result.exit_code == code, result.output
    assert message in result.output and "Traceback" not in result.output


def test_show_prints_params_timings_stats_metrics_and_error(sample_output, sample_db, samples):
    einsum = sample_db.matmul_runs["einsum"]
    text = sample_output("show", str(einsum))
    assert "einsum" in text and "5x784x10" in text and "gflops" in text
    payload = json.loads(sample_output("show", str(einsum), "--json"))
    assert payload["components"] == {"matmul": "einsum"} and payload["params"]["rtol"] == 0.001
    medians = {t["shape"]: t["median"] for t in payload["timings"]}
    assert medians == pytest.approx({s: samples.expected_median("einsum", s) for s in medians})
    assert payload["error"] is None

    failed = json.loads(sample_output("show", str(sample_db.failed_run), "--json"))
    assert failed["run"]["status"] == "failed" and failed["run"]["reason"] == samples.TRACEBACK
    assert failed["error"].startswith("FloatingPointError") and failed["metrics"] == {
        "train_loss": None
    }
    assert failed["nonfinite"] == {
        "train_loss": "NaN"
    }  # JSON has no NaN: null, and which it was beside
    assert samples.TRACEBACK.splitlines()[-1][:40] in sample_output(
        "show", str(sample_db.failed_run)
    )

    stats = json.loads(sample_output("show", str(sample_db.train_runs[0] - 4), "--json"))["stats"]
    deep = next(s for s in stats if s["model"] == "deep")
    assert deep["layers"] == 12 and deep["first_nonfinite"] is None
