"""``runner export`` (``runner/cli/export.py``): each table in each format, to a file
or stdout, filtered like ``runner runs``."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_export_writes_each_table_in_each_format(
    sample_cli, sample_output, sample_db, tmp_path, fmt
):
    def read(path):
        if fmt == "csv":
            return pd.read_csv(path)
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.DataFrame(json.loads(path.read_text()))

    expected = {"runs": 21, "timings": 16, "stats": 4 * (3 + 12 + 2) + 6 * 6}
    for table, rows in expected.items():
        path = tmp_path / f"{table}.{fmt}"
        result = sample_cli("export", "--table", table, "--format", fmt, "-o", str(path))
        assert result.exit_code == 0, result.output
        assert len(read(path)) == rows, table
    path = tmp_path / f"metrics.{fmt}"
    sample_output(
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
    metrics = read(path)
    assert set(metrics["run_id"]) == set(sample_db.train_runs[3:]) and len(metrics) == 3 * (
        20 + 4 + 1
    )


def test_export_to_stdout_and_filters(sample_output, sample_db):
    frame = pd.read_csv(
        io.StringIO(sample_output("export", "--table", "timings", "--where", "matmul=einsum"))
    )
    assert set(frame["matmul"]) == {"einsum"} and len(frame) == 4
    assert set(frame["sweep_id"]) == {sample_db.matmul_sweep, sample_db.rerun_sweep}
    stats = json.loads(
        sample_output(
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
    deep = [s for s in stats if s["model"] == "deep"]
    # non-finite values are null in JSON, and the row says which they were
    assert deep[-1]["std"] is None and deep[-1]["mean"] is None
    assert deep[-1]["nonfinite"] == {"mean": "NaN", "std": "inf", "max": "inf"}
