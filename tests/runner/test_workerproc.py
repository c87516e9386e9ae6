"""The first worker of a sweep, started before the plan (issue 24, item 18)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from click.testing import CliRunner

from scratchlab.runner.cli import cli


def test_a_sweep_that_fails_to_plan_leaves_no_worker_running(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    result = CliRunner().invoke(cli, ["--db", db, "sweep", "--experiments", "nosuch"])
    assert result.exit_code == 2, result.output
    assert "unknown experiment 'nosuch'" in result.output
    assert not multiprocessing.active_children()  # the worker started early was stopped
