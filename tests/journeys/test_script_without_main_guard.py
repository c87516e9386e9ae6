"""A user's script that calls ``sl.sweep`` at top level, without an
``if __name__ == "__main__":`` guard, runs one sweep, not one per worker.

Workers are started with ``spawn``, which re-runs the parent's main module in the child
unless the runner hides it: the script would then start a new sweep inside every worker,
store it in the user's database and kill the worker with multiprocessing's bootstrapping
error.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = """
import scratchlab as sl

print("script ran as", __name__, flush=True)
sweep = sl.sweep(
    "matmul",
    experiments="matmul",
    matmul="torch,einsum",
    settings={{"matmul.shapes": "5x784x10", "matmul.min_run_time": 0.01}},
    db={db!r},
    workers=1,
    progress=False,
)
print("statuses", sorted(sweep.runs()["status"]), flush=True)
"""


def test_a_script_without_a_main_guard_runs_one_sweep(tmp_path: Path):
    db = tmp_path / "runs.db"
    script = tmp_path / "noguard.py"
    script.write_text(textwrap.dedent(SCRIPT.format(db=f"sqlite:///{db}")))
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("script ran as") == 1, done.stdout
    assert "statuses ['done', 'done']" in done.stdout, done.stdout
    with sqlite3.connect(db) as connection:
        assert connection.execute("select count(*) from sweeps").fetchone() == (1,)
