"""A big results database for the scale benchmarks, built fast and cached.

:func:`build` writes ``n_runs`` runs shaped like a user's months of sweeps:
a tenth ``matmul`` runs (three shapes, a timing with 10 replicates each, and
their headline metrics), a tenth ``init-stats`` runs (per-layer statistics of
the three models: 3 + 101 + 2 layers) and the rest ``train`` runs with loss
and accuracy histories, so that there are :data:`POINTS_PER_RUN` metric
points per run on average: 10,000,000 at 100,000 runs. Runs come in sweeps of
:data:`RUNS_PER_SWEEP`.

The schema, the sweeps, the runs and their params go through the store's own
write path (``open_store``, ``create_sweep``, ``add_runs``: the params are
encoded exactly as a real sweep encodes them). The results, millions of rows,
go in with ``sqlite3.executemany`` in a few large transactions: writing 100,000
results one transaction at a time through ``write_result`` would take an
hour on a shared 2-core machine, and the benchmarks measure reading.

:func:`cached` builds once per size and keeps the file (under the temp
folder by default); a file that today's code refuses (an older schema) or
that is incomplete is rebuilt. Usable by any benchmark:
``from _bigdb import cached``.
"""

from __future__ import annotations

import itertools
import math
import os
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

#: bump when the generated content changes, so cached files are rebuilt
VERSION = 1
POINTS_PER_RUN = 100
RUNS_PER_SWEEP = 10_000
STRATEGIES = ("python", "elementwise", "broadcast", "einsum", "torch")
SHAPES = ("5x784x10", "64x784x50", "512x512x512")
INITS = (
    "randn",
    "simple",
    "kaiming-normal",
    "kaiming-uniform",
    "torch-kaiming-normal",
    "torch-default",
    "xavier",
)
ACTIVATIONS = ("relu", "relu-shifted", "leaky-relu", "tanh", "identity")
LAYERS = (("mlp", 3), ("deep", 101), ("conv", 2))
LRS = (0.01, 0.05, 0.1, 0.2, 0.5, 1.0)
REPLICATES = 10
EPOCHS = 10
BASE_TIME = datetime(2025, 1, 1)


def default_path(n_runs: int) -> Path:
    """Where the ``n_runs`` database is cached."""
    return Path(tempfile.gettempdir()) / "scratchlab-bench" / f"big-v{VERSION}-{n_runs}-runs.db"


def experiment_of(index: int, n_runs: int) -> str:
    """The experiment of run ``index``: matmul, init-stats, then train, in tenths."""
    tenth = max(n_runs // 10, 1)
    return "matmul" if index < tenth else "init-stats" if index < 2 * tenth else "train"


def planned(index: int, n_runs: int):
    """Run ``index`` as a :class:`PlannedRun` (components and params as a real sweep has them)."""
    from scratchlab.core.records import PlannedRun

    experiment = experiment_of(index, n_runs)
    if experiment == "matmul":
        components = {"matmul": STRATEGIES[index % len(STRATEGIES)]}
        params = {"shapes": ",".join(SHAPES), "min_run_time": 0.2, "rtol": 1e-3}
    elif experiment == "init-stats":
        pairs = list(itertools.product(INITS, ACTIVATIONS))
        init, activation = pairs[index % len(pairs)]
        components = {"init": init, "activation": activation}
        params = {"depth": 100, "width": 512, "batch": 256}
    else:
        components = {
            "init": INITS[(index // 24) % len(INITS)],
            "activation": ACTIVATIONS[(index // 168) % 5],
            "loss": "cross-entropy",
            "matmul": "torch",
            "dataset": "mnist-5k",
        }
        params = {
            "lr": LRS[index % 6],
            "bs": (32, 64, 128, 256)[(index // 6) % 4],
            "epochs": EPOCHS,
            "hidden": 50,
        }
    return PlannedRun(
        key=f"big-{index}",
        experiment=experiment,
        components=components,
        params=params,
        seed=index % 97,
        repeat=index // 840,
    )


def _time(seconds: float) -> str:
    # the text SQLAlchemy's DateTime writes on SQLite (naive UTC, always with microseconds)
    return (BASE_TIME + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S.%f")


def _train_points(n_runs: int) -> int:
    """Metric points per train run so that the whole database has POINTS_PER_RUN per run."""
    n_train = n_runs - 2 * max(n_runs // 10, 1)
    other = max(n_runs // 10, 1) * (4 * len(SHAPES) + 1)  # matmul and init-stats headline metrics
    return max((POINTS_PER_RUN * n_runs - other) // max(n_train, 1), 2 * EPOCHS + 2)


#: seconds per multiply-add of each matmul strategy, for the stored medians
SECONDS_PER_MAC = {
    "python": 1e-6,
    "elementwise": 1e-7,
    "broadcast": 1e-8,
    "einsum": 1e-10,
    "torch": 5e-11,
}


def _matmul_rows(run_id: int, index: int, wobble: float, counters: dict, rows: dict) -> None:
    """A matmul run's timing, replicates and headline metrics for each shape."""
    for shape in SHAPES:
        m, k, n = (int(x) for x in shape.split("x"))
        median = SECONDS_PER_MAC[STRATEGIES[index % len(STRATEGIES)]] * m * k * n * wobble
        counters["timing"] += 1
        timing_id = counters["timing"]
        replicates = [median * (1 + 0.01 * (j % 5 - 2)) for j in range(REPLICATES)]
        rows["timings"].append(
            (
                timing_id,
                run_id,
                shape,
                shape,
                REPLICATES,
                100,
                median,
                median * 0.02,
                median,
                min(replicates),
                max(replicates),
                2.0 * m * k * n,
                1,
                "noisy" if index % 53 == 0 else "ok",
            )
        )
        rows["replicates"] += [(timing_id, j, r) for j, r in enumerate(replicates)]
        rows["metrics"] += [
            (run_id, f"{shape}.median_s", None, median),
            (run_id, f"{shape}.gflops", None, 2.0 * m * k * n / median / 1e9),
            (run_id, f"{shape}.max_rel_err", None, 1e-7 * wobble),
            (run_id, f"{shape}.correct", None, 1.0),
        ]
    rows["metrics"].append((run_id, "shapes_skipped", None, 0.0))


def _init_stats_rows(run_id: int, index: int, rows: dict) -> None:
    """An init-stats run's per-layer statistics of the three models and its headline metric."""
    gain = (0.7, 1.0, 1.02, 22.6)[index % 4]
    for model, layers in LAYERS:
        for layer in range(1, layers + 1):
            std = min(gain**layer, 1e300)
            rows["stats"].append(
                (
                    run_id,
                    model,
                    layer,
                    f"layer{layer}",
                    None,
                    std * 0.4,
                    std,
                    -std,
                    4 * std,
                    0.5 if index % 2 else 0.0,
                    0.0,
                )
            )
    rows["metrics"].append((run_id, "deep.last_std", None, min(gain**100, 1e300)))


def _train_rows(run_id: int, index: int, n_runs: int, wobble: float, rows: dict) -> None:
    """A train run's loss history, valid loss and accuracy per epoch, and its speed."""
    lr = LRS[index % 6]
    points = _train_points(n_runs)
    steps = points - 2 * EPOCHS - 2
    rows["metrics"] += [
        (run_id, "train_loss", s, 2.3 * wobble / (1 + lr * s)) for s in range(steps)
    ]
    for epoch in range(1, EPOCHS + 1):
        step = epoch * steps // EPOCHS
        rows["metrics"] += [
            (run_id, "valid_loss", step, 2.0 * wobble / (1 + lr * step)),
            (run_id, "valid_accuracy", step, 1 - 0.9 / (1 + lr * step * wobble)),
        ]
    rows["metrics"] += [
        (run_id, "samples_per_s", None, 4e4 * wobble),
        (run_id, "train_time_s", None, 1.5),
    ]


def _results(run_id: int, index: int, n_runs: int, counters: dict) -> dict[str, list[tuple]]:
    """The result rows of one run, by table."""
    experiment = experiment_of(index, n_runs)
    rows: dict[str, list[tuple]] = {"metrics": [], "timings": [], "replicates": [], "stats": []}
    wobble = 1 + 0.1 * math.sin(index)
    if experiment == "matmul":
        _matmul_rows(run_id, index, wobble, counters, rows)
    elif experiment == "init-stats":
        _init_stats_rows(run_id, index, rows)
    else:
        _train_rows(run_id, index, n_runs, wobble, rows)
    return rows


INSERTS = {
    "metrics": "INSERT INTO metrics (run_id, name, step, value) VALUES (?, ?, ?, ?)",
    "timings": "INSERT INTO timings (timing_id, run_id, label, shape, n, number_per_run, median, iqr, mean, min,"
    " max, flops, threads, quality) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "replicates": "INSERT INTO timing_replicates (timing_id, replicate, seconds) VALUES (?, ?, ?)",
    "stats": "INSERT INTO activation_stats (run_id, model, layer, name, step, mean, std, min, max, frac_zero,"
    " frac_nonfinite) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
}


def _plan(partial: Path, n_runs: int, started: float) -> list[tuple[int, int]]:
    """The sweeps, runs and params through the store's own write path; ``(run_id, index)``
    of every run."""
    from scratchlab.db import open_store

    run_ids: list[tuple[int, int]] = []
    with open_store(f"sqlite:///{partial}") as store:
        for first in range(0, n_runs, RUNS_PER_SWEEP):
            last = min(first + RUNS_PER_SWEEP, n_runs)
            sweep_id = store.create_sweep(
                f"big-{first // RUNS_PER_SWEEP}",
                ["runner", "sweep", "--plugins", "matmul,init"],
                {"bench": True},
                {"python": sys.version.split()[0], "cpu": "bench"},
            )
            for chunk in range(first, last, 2_000):
                plan = [planned(i, n_runs) for i in range(chunk, min(chunk + 2_000, last))]
                ids = store.add_runs(sweep_id, plan)
                run_ids += [(ids[p.key], int(p.key.removeprefix("big-"))) for p in plan]
            store.finish_sweep(sweep_id, "done")
            print(
                f"  planned {last:,} runs ({time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    return run_ids


def _write_results(
    conn: sqlite3.Connection, run_ids: list[tuple[int, int]], n_runs: int, started: float
) -> None:
    """Every run's results and final status, in transactions of 5,000 runs."""
    counters = {"timing": 0}
    batch: dict[str, list[tuple]] = {table: [] for table in INSERTS}
    statuses: list[tuple] = []

    def flush() -> None:
        with conn:
            for table, statement in INSERTS.items():
                conn.executemany(statement, batch[table])
                batch[table].clear()
            conn.executemany(
                "UPDATE runs SET status = ?, started_at = ?, finished_at = ? WHERE run_id = ?",
                statuses,
            )
            statuses.clear()

    for done, (run_id, index) in enumerate(run_ids, start=1):
        for table, rows in _results(run_id, index, n_runs, counters).items():
            batch[table] += rows
        status = "failed" if index % 50 == 49 else "done"
        statuses.append((status, _time(index * 7), _time(index * 7 + 1 + index % 13), run_id))
        if done % 5_000 == 0 or done == len(run_ids):
            flush()
            print(
                f"  wrote results of {done:,} runs ({time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )


def _complete(conn: sqlite3.Connection) -> None:
    """The failed runs' reasons, ``final_metrics`` (the raw inserts bypass the store, which
    keeps it), then one checkpointed, analysed file."""
    from scratchlab.db.final import BACKFILL

    conn.execute(
        "UPDATE runs SET reason = 'Traceback (most recent call last):\nRuntimeError: bench'"
        " WHERE status = 'failed'"
    )
    with conn:
        conn.execute(BACKFILL)
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")


def build(path: Path, n_runs: int) -> float:
    """Write the ``n_runs`` database at ``path`` (under a temporary name, renamed at the end);
    return seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    for leftover in path.parent.glob(partial.name + "*"):
        leftover.unlink()
    started = time.perf_counter()
    run_ids = _plan(partial, n_runs, started)
    conn = sqlite3.connect(partial)
    conn.execute("PRAGMA synchronous = OFF")
    _write_results(conn, run_ids, n_runs, started)
    _complete(conn)
    conn.close()
    for stale in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)  # an old file's log must not be replayed onto the new one
    os.replace(partial, path)
    for side in path.parent.glob(partial.name + "-*"):
        side.unlink()
    return time.perf_counter() - started


def is_current(path: Path, n_runs: int) -> bool:
    """The file holds ``n_runs`` finished runs and today's code opens it."""
    if not path.exists():
        return False
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            count = conn.execute(
                "SELECT count(*) FROM runs WHERE status IN ('done', 'failed')"
            ).fetchone()[0]
    except sqlite3.Error:
        return False
    if count != n_runs:
        return False
    from scratchlab.db import open_store

    try:
        open_store(f"sqlite:///{path}", read_only=True).close()
    except Exception as exc:  # an older schema, a corrupt file: rebuild it
        print(f"cached {path} not usable ({exc}); rebuilding", file=sys.stderr)
        return False
    return True


def cached(n_runs: int, path: Path | None = None) -> Path:
    """The path of an ``n_runs`` database, built now unless a current one is cached there."""
    path = path or default_path(n_runs)
    if is_current(path, n_runs):
        print(f"using cached {path}", file=sys.stderr)
    else:
        print(
            f"building {path}: {n_runs:,} runs, {POINTS_PER_RUN * n_runs:,} metric points ...",
            file=sys.stderr,
            flush=True,
        )
        print(f"built in {build(path, n_runs):.0f} s", file=sys.stderr)
    return path
