"""What the read-only views share (``runner/cli/common.py``): a missing database is one
line and is not created, and none of them imports torch."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from scratchlab.runner.cli import cli


def test_a_missing_database_is_reported_and_not_created(tmp_path):
    path = tmp_path / "none.db"
    for args in (["runs"], ["show", "1"], ["compare"], ["export"], ["report"]):
        result = CliRunner().invoke(cli, ["--db", f"sqlite:///{path}", *args])
        assert result.exit_code == 1 and "no results database" in result.output, result.output
    assert not path.exists()


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
