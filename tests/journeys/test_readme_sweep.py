"""The README's main command, ``runner sweep --plugins matmul,init``, end to end on the embedded data."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()

#: Smaller models, data and batches per experiment, so the test takes a minute or two,
#: not the full command's many (most of which is the elementwise matmul training MNIST).
REDUCTIONS: dict[str, tuple[str, ...]] = {
    "train": ("hidden=8", "bs=1000"),
    "matmul": ("min_run_time=0.05",),
    "init-stats": ("depth=10", "width=64", "batch=64", "n_images=10"),
    "gradcheck": ("batch=100",),
    "telemetry": ("bs=500", "n_train=1000"),
}


def reduced(experiments) -> list[str]:
    """``-s`` options shrinking each of ``experiments`` that has a reduction."""
    return [
        arg
        for e in experiments
        for setting in REDUCTIONS.get(e, ())
        for arg in ("-s", f"{e}.{setting}")
    ]


def readme_main_command() -> list[str]:
    """The ``runner ...`` part of the README's first command."""
    first = re.findall(r"```bash\n(.*?)\n```", README, re.S)[0]
    return first.rpartition("&& ")[2].split()


@pytest.mark.slow
@pytest.mark.timeout(1500)  # ~100 runs; minutes on a busy 2-core machine
def test_the_readme_main_command_runs_end_to_end_into_runs_db(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("SCRATCHLAB_DB", raising=False)
    command = readme_main_command()
    assert command == ["runner", "sweep", "--plugins", "matmul,init"]
    base = [sys.executable, "-m", "scratchlab.runner.cli", *command[1:]]
    plan = subprocess.run(
        [*base, "--dry-run", "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert plan.returncode == 0, plan.stderr[-3000:]
    planned = Counter(r["experiment"] for r in json.loads(plan.stdout)["runs"])
    base += reduced(planned)
    # the four lessons' experiments, each inits (and matmuls) times over, whatever components are built in
    assert {"matmul", "init-stats", "gradcheck", "train"} <= set(planned)
    assert planned["train"] > planned["init-stats"] >= 7

    result = subprocess.run(
        [*base, "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    database = tmp_path / "runs.db"  # the default database, in the working directory
    assert database.exists()
    with sqlite3.connect(database) as db:
        stored = Counter(
            dict(db.execute("SELECT experiment, count(*) FROM runs GROUP BY experiment").fetchall())
        )
        assert stored == planned
        statuses = dict(db.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall())
        assert set(statuses) <= {"done", "skipped"}, statuses
        # only train with the triple-loop python matmul is skipped: too many multiply-adds
        skipped = db.execute(
            "SELECT DISTINCT r.experiment, p.value_text, r.reason FROM runs r JOIN params p USING (run_id)"
            " WHERE r.status = 'skipped' AND p.name = 'matmul'"
        ).fetchall()
        assert (
            len(skipped) == 1
            and skipped[0][:2] == ("train", "python")
            and "multiply-adds" in skipped[0][2]
        )
        # every done run stored what its experiment records
        assert (
            db.execute("SELECT count(DISTINCT run_id) FROM timings").fetchone()[0]
            >= planned["matmul"]
        )
        assert (
            db.execute(
                "SELECT count(DISTINCT run_id) FROM activation_stats JOIN runs USING (run_id)"
                " WHERE experiment = 'init-stats'"
            ).fetchone()[0]
            == planned["init-stats"]
        )
        done_train = db.execute(
            "SELECT count(*) FROM runs WHERE experiment = 'train' AND status = 'done'"
        ).fetchone()[0]
        assert done_train == planned["train"] - statuses.get("skipped", 0)
        assert (
            db.execute(
                "SELECT count(DISTINCT run_id) FROM metrics JOIN runs USING (run_id) WHERE experiment = 'train'"
            ).fetchone()[0]
            == done_train
        )
        assert db.execute("SELECT status FROM sweeps").fetchall() == [("done",)]
    for experiment in (*planned, "total"):
        assert experiment in result.stdout
