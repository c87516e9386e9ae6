"""CLI start-up: ``runner --help`` and ``runner runs`` against ``python -c pass``.

\b
    python benchmarks/cli_startup.py                 # 15 alternating rounds
    python benchmarks/cli_startup.py --rounds 30 --cache-dir /tmp/bench

Each round starts the three commands as fresh subprocesses, in an order that
rotates round by round (hyperfine style, but interleaved, so that load from
other processes on a shared machine hits all three alike), and keeps their
wall times. The targets are on the differences of medians: ``runner --help``
within 0.3 s of ``python -c pass``, ``runner runs`` on a 10,000-run database
within 1.0 s.

The 10,000-run database is written once through the store's own write path
(``scratchlab.db.open_store``: ``create_sweep``, ``add_runs``,
``write_result``, ``finish_sweep``), each run with its params, a timing with
its replicates and a short metric history, and cached at a path (by default in
the system's temp folder) so that later runs of this script start at once. A
cached file that the current code refuses (an older schema) is rebuilt.

The script also checks that neither command imported torch.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Target, alternate, finish, median, parser, print_samples, subprocess_time

N_RUNS = 10_000
#: runs per sweep in the cached database: ten sweeps, as a user would have after a few weeks
RUNS_PER_SWEEP = 1_000
STRATEGIES = ("python", "elementwise", "broadcast", "einsum", "torch")

#: runs the CLI in-process and prints whether torch got imported (the last line)
TORCH_PROBE = """
import sys
from scratchlab.runner.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    if exc.code not in (0, None):
        raise
print("torch imported:", "torch" in sys.modules)
"""


def default_cache_dir() -> Path:
    """Where the 10,000-run database is kept between runs of this script."""
    return Path(tempfile.gettempdir()) / "scratchlab-bench"


def runner_executable() -> str:
    """The ``runner`` console script of this interpreter's environment."""
    candidate = Path(sys.executable).with_name("runner")
    if candidate.exists():
        return str(candidate)
    raise SystemExit(f"error: no `runner` next to {sys.executable}; run `pip install -e .` first")


def count_runs(path: Path) -> int | None:
    """Runs in a cached database file, or None when it is missing or unreadable."""
    if not path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    except sqlite3.Error:
        return None


def cache_is_current(path: Path) -> bool:
    """The cached file holds the full set of runs and today's code opens it."""
    if count_runs(path) != N_RUNS:
        return False
    from scratchlab.db import open_store

    try:
        open_store(f"sqlite:///{path}", read_only=True)
    except Exception as exc:  # an older schema, a corrupt file: rebuild it
        print(f"cached database not usable ({exc}); rebuilding", file=sys.stderr)
        return False
    return True


def planned_runs(sweep: int, count: int) -> list:
    """``count`` matmul runs of one sweep, with distinct keys and realistic params."""
    from scratchlab.db.records import PlannedRun

    return [
        PlannedRun(
            key=f"bench-{sweep:02d}-{i:05d}",
            experiment="matmul",
            components={"matmul": STRATEGIES[i % len(STRATEGIES)]},
            params={"shapes": "5x784x10", "min_run_time": 0.2},
            device="cpu",
            seed=i,
            repeat=i // len(STRATEGIES),
            component_versions={"matmul": "0.1.0+00000000"},
        )
        for i in range(count)
    ]


def result_for(index: int):
    """The stored outcome of one run: a timing with 20 replicates and 10 metric points."""
    from datetime import UTC, datetime, timedelta

    from scratchlab.db.records import MetricRecord, RunResult, TimingRecord

    base = 1e-5 * (1 + index % len(STRATEGIES))
    replicates = [base * (1 + 0.01 * (j % 7)) for j in range(20)]
    started = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=index)
    return RunResult(
        status="done" if index % 50 else "failed",
        reason=None if index % 50 else "Traceback (most recent call last):\nRuntimeError: benchmark",
        started_at=started,
        finished_at=started + timedelta(seconds=1),
        timings=[
            TimingRecord(
                label="matmul", replicates=replicates, median=sorted(replicates)[10],
                iqr=base * 0.03, mean=sum(replicates) / 20, min=min(replicates), max=max(replicates),
                number_per_run=100, shape="5x784x10", flops=2 * 5 * 784 * 10, threads=1,
            )
        ],
        metrics=[MetricRecord(name="gflops", value=0.08 * (1 + j), step=j) for j in range(10)],
    )


def build_database(path: Path) -> float:
    """Write the 10,000-run database at ``path`` through ``open_store``; return the seconds taken.

    It is built under a temporary name and renamed at the end, so an
    interrupted build never leaves a half-filled cache behind.
    """
    from scratchlab.db import open_store

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    for leftover in path.parent.glob(partial.name + "*"):
        leftover.unlink()
    start = time.perf_counter()
    store = open_store(f"sqlite:///{partial}")
    for sweep in range(N_RUNS // RUNS_PER_SWEEP):
        sweep_id = store.create_sweep(
            f"bench-{sweep}", ["runner", "sweep", "--plugins", "matmul"],
            {"plugins": ["matmul"]}, {"python": sys.version.split()[0]},
        )
        ids = store.add_runs(sweep_id, planned_runs(sweep, RUNS_PER_SWEEP))
        for offset, run_id in enumerate(ids.values()):
            store.write_result(run_id, result_for(sweep * RUNS_PER_SWEEP + offset))
        store.finish_sweep(sweep_id, "done")
        print(f"  built sweep {sweep + 1}/{N_RUNS // RUNS_PER_SWEEP}", file=sys.stderr, flush=True)
    store.close()
    # fold the write-ahead log into the main file before the rename: the cache is one self-contained file
    with sqlite3.connect(partial) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    os.replace(partial, path)
    for side in path.parent.glob(partial.name + "-*"):
        side.unlink()
    return time.perf_counter() - start


def imports_torch(argv: list[str]) -> bool:
    """Whether running the CLI with ``argv`` imports torch (checked in a fresh interpreter)."""
    result = subprocess.run(
        [sys.executable, "-c", TORCH_PROBE, *argv], capture_output=True, text=True, check=False
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines or not lines[-1].startswith("torch imported:"):
        raise RuntimeError(f"runner {' '.join(argv)} failed: {result.stderr.strip()}")
    return lines[-1].endswith("True")


def main(argv: list[str] | None = None) -> int:
    """Measure the three commands and print the targets."""
    p = parser(__doc__.split("\n\n")[0], rounds=15)
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir(),
                   help="where the 10,000-run database is cached (default: the temp folder)")
    args = p.parse_args(argv)
    db_path = args.cache_dir / f"cli-startup-{N_RUNS}-runs.db"
    if cache_is_current(db_path):
        print(f"using cached database {db_path}")
    else:
        print(f"building {db_path} ({N_RUNS:,} runs through open_store) ...", flush=True)
        print(f"built in {build_database(db_path):.1f} s")
    url = f"sqlite:///{db_path}"
    runner = runner_executable()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "runner --help": [runner, "--help"],
        "runner runs": [runner, "--db", url, "runs"],
    }
    # the environment variable must not redirect `runner --help` to another database
    env = {"SCRATCHLAB_DB": url}
    samples = alternate({name: subprocess_time(cmd, env=env) for name, cmd in commands.items()},
                        args.rounds, warmup=2)
    print()
    print_samples(samples, "s", title=f"wall time per start, {args.rounds} alternating rounds")
    torch_help = imports_torch(["--help"])
    torch_runs = imports_torch(["--db", url, "runs"])
    base = median(samples["python -c pass"])
    note = "difference of medians over {} rounds; imports torch: {}".format
    targets = [
        Target("runner --help minus python -c pass", median(samples["runner --help"]) - base, 0.3,
               unit="s", note=note(args.rounds, "yes" if torch_help else "no")),
        Target(f"runner runs ({N_RUNS:,} runs) minus python -c pass", median(samples["runner runs"]) - base,
               1.0, unit="s", note=note(args.rounds, "yes" if torch_runs else "no")),
    ]
    if torch_help or torch_runs:
        targets.append(Target("commands that import torch", float(torch_help + torch_runs), 0, unit=""))
    return finish("cli_startup", targets, json_out=args.json_out, rounds=args.rounds,
                  extra={"samples": samples, "database": str(db_path)})


if __name__ == "__main__":
    sys.exit(main())
