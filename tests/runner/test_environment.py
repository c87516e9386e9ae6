"""What a sweep records of torch comes from a worker forked from the forkserver, so the
driver of a supervised sweep, or of one on a local Dask cluster (whose workers are forks of
it too), never imports torch; with workers spawned, from the driver."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scratchlab.runner.environment import torch_environment

DRIVE = """
import sys
from scratchlab.runner.cli import main
try:
    main({argv!r})
except SystemExit as exc:
    assert exc.code == 0, exc.code
print("TORCH_IN_DRIVER=" + str("torch" in sys.modules))
"""

pytestmark = pytest.mark.slow  # real driver and worker processes


def _drive(toy_path, db_file, monkeypatch, start: str | None, options: tuple[str, ...]) -> str:
    if start is None:
        monkeypatch.delenv("SCRATCHLAB_WORKER_START", raising=False)
    else:
        monkeypatch.setenv("SCRATCHLAB_WORKER_START", start)
    argv = ["--db", f"sqlite:///{db_file}", "--plugin", "sweeptoy", "sweep"]
    argv += ["--experiments", "noop", "-q", *options]
    done = subprocess.run(
        [sys.executable, "-c", DRIVE.format(argv=argv)],
        capture_output=True,
        text=True,
        cwd=toy_path.parent,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


LOCAL_DASK = ("--scheduler", "local", "--workers", "1")


@pytest.mark.parametrize(
    ("start", "options", "in_driver"),
    [(None, (), False), ("spawn", (), True), (None, LOCAL_DASK, False)],
    ids=["forked", "spawned", "dask-local-forked"],
)
def test_the_sweep_records_torch_and_only_spawned_workers_make_the_driver_import_it(
    toy_path, db_file, results, monkeypatch, start, options, in_driver
):
    if options:
        pytest.importorskip("distributed")
    drove = _drive(toy_path, db_file, monkeypatch, start, options)
    assert drove == f"TORCH_IN_DRIVER={in_driver}"
    (stored,) = results.query("SELECT environment_json FROM sweeps")[0]
    recorded = json.loads(stored)["torch"]
    here = torch_environment()
    assert recorded["version"] == here["version"] and isinstance(recorded["version"], str)
    assert recorded["cuda_build"] == here["cuda_build"]
    assert recorded["devices"] == here["devices"] and recorded["devices"][0] == "cpu"
    assert recorded["threads"] >= 1
