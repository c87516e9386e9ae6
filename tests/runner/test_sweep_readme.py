"""The README's main command, ``runner sweep --plugins matmul,init``, end to end on the embedded data."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()

#: Smaller models and batches so the test takes seconds, not the full command's
#: couple of minutes (most of which is the elementwise matmul training MNIST).
REDUCED = (
    "-s", "train.hidden=8", "-s", "train.bs=1000",
    "-s", "matmul.min_run_time=0.05",
    "-s", "init-stats.depth=10", "-s", "init-stats.width=64", "-s", "init-stats.batch=64",
    "-s", "init-stats.n_images=10",
    "-s", "gradcheck.batch=100",
)


def readme_main_command() -> list[str]:
    """The ``runner ...`` part of the README's first command."""
    first = re.findall(r"```bash\n(.*?)\n```", README, re.S)[0]
    return first.rpartition("&& ")[2].split()


@pytest.mark.slow
def test_the_readme_main_command_runs_end_to_end_into_runs_db(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("SCRATCHLAB_DB", raising=False)
    command = readme_main_command()
    assert command == ["runner", "sweep", "--plugins", "matmul,init"]
    result = subprocess.run(
        [sys.executable, "-m", "scratchlab.runner.cli", *command[1:], *REDUCED, "-q"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    database = tmp_path / "runs.db"  # the default database, in the working directory
    assert database.exists()
    with sqlite3.connect(database) as db:
        runs = db.execute("SELECT experiment, status, count(*) FROM runs GROUP BY experiment, status").fetchall()
        # 5 matmuls; 7 inits (x relu); 7 inits (x relu, cross-entropy); 7 inits x 5 matmuls for train
        assert sorted(runs) == [
            ("gradcheck", "done", 7), ("init-stats", "done", 7), ("matmul", "done", 5),
            ("train", "done", 28), ("train", "skipped", 7),
        ]
        skipped = db.execute(
            "SELECT DISTINCT p.value_text, r.reason FROM runs r JOIN params p USING (run_id)"
            " WHERE r.status = 'skipped' AND p.name = 'matmul'"
        ).fetchall()
        assert len(skipped) == 1 and skipped[0][0] == "python" and "multiply-adds" in skipped[0][1]
        # every done run stored what its experiment records
        assert db.execute("SELECT count(DISTINCT run_id) FROM timings").fetchone()[0] >= 5
        assert db.execute(
            "SELECT count(DISTINCT run_id) FROM activation_stats JOIN runs USING (run_id)"
            " WHERE experiment = 'init-stats'"
        ).fetchone()[0] == 7
        assert db.execute(
            "SELECT count(DISTINCT run_id) FROM metrics JOIN runs USING (run_id) WHERE experiment = 'train'"
        ).fetchone()[0] == 28
        assert db.execute("SELECT status FROM sweeps").fetchall() == [("done",)]
    for experiment in ("matmul", "init-stats", "gradcheck", "train", "total"):
        assert experiment in result.stdout
