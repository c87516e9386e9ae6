"""benchmarks/db_write.py: both sides store exactly the same rows, and the script reports its target."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
TABLES = (
    "runs",
    "params",
    "timings",
    "timing_replicates",
    "activation_stats",
    "metrics",
    "final_metrics",
)


@pytest.fixture
def db_write(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import db_write

    return db_write


def newest(folder: Path, prefix: str) -> Path:
    return max(folder.glob(f"{prefix}-*.db"), key=lambda p: p.stat().st_mtime_ns)


def dump(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in TABLES
        }
    finally:
        conn.close()


def test_raw_sqlite3_side_writes_what_our_write_path_writes(db_write, tmp_path):
    workload = db_write.make_workload(4)
    db_write.write_ours(workload, tmp_path)
    db_write.write_raw(workload, tmp_path)
    ours, raw = dump(newest(tmp_path, "ours")), dump(newest(tmp_path, "raw"))
    assert len(ours["metrics"]) == 4 * db_write.N_POINTS
    assert len(ours["timing_replicates"]) == 4 * db_write.N_REPLICATES
    assert len(ours["activation_stats"]) == 4 * db_write.N_STATS
    assert len(ours["params"]) == 4 * db_write.N_PARAMS
    for table in TABLES:
        assert ours[table] == raw[table], table


def test_script_prints_both_paths_and_the_target(tmp_path):
    out = tmp_path / "db_write.json"
    result = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "db_write.py"),
            "--runs",
            "10",
            "--rounds",
            "1",
            "--json-out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 1), (
        result.stderr
    )  # 1: target missed on a loaded machine, still a report
    for text in (
        "raw sqlite3",
        "scratchlab",
        "runs/s",
        "points/s",
        "scratchlab runs/s vs raw sqlite3",
    ):
        assert text in result.stdout
    payload = json.loads(out.read_text())
    (target,) = payload["targets"]
    assert target["op"] == ">=" and target["limit"] == 50.0 and target["measured"] > 0
    assert set(payload["runs_per_s"]) >= {"raw sqlite3", "scratchlab"}
