"""The scale benchmarks' generator writes a database today's code reads, with what it promises."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import _bigdb


def test_the_generated_database_has_the_promised_shape_and_the_cli_reads_it(tmp_path):
    from click.testing import CliRunner

    from scratchlab.runner.cli import cli

    path = _bigdb.cached(100, tmp_path / "big.db")
    assert _bigdb.is_current(path, 100)
    with sqlite3.connect(path) as conn:
        count = dict(
            conn.execute("SELECT experiment, count(*) FROM runs GROUP BY experiment").fetchall()
        )
        points = conn.execute("SELECT count(*) FROM metrics").fetchone()[0]
        layers = conn.execute(
            "SELECT count(DISTINCT layer) FROM activation_stats WHERE model = 'deep'"
        ).fetchone()[0]
        replicates = conn.execute("SELECT count(*) FROM timing_replicates").fetchone()[0]
    assert count == {"matmul": 10, "init-stats": 10, "train": 80}
    assert abs(points - 100 * _bigdb.POINTS_PER_RUN) <= 100  # 100 points per run on average
    assert layers == 101 and replicates == 10 * len(_bigdb.SHAPES) * _bigdb.REPLICATES

    url = f"sqlite:///{path}"
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            url,
            "runs",
            "--experiment",
            "train",
            "--where",
            "valid_accuracy>=0.85",
            "--sort",
            "valid_accuracy",
            "--desc",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert '"total"' in result.output


def test_a_cached_file_is_reused_and_an_incomplete_one_rebuilt(tmp_path):
    path = _bigdb.cached(30, tmp_path / "small.db")
    stamp = path.stat().st_mtime_ns
    assert _bigdb.cached(30, path).stat().st_mtime_ns == stamp
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM runs WHERE run_id = (SELECT max(run_id) FROM runs)")
    assert not _bigdb.is_current(path, 30)
    _bigdb.cached(30, path)
    assert _bigdb.is_current(path, 30)
