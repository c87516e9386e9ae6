"""Result writes: our write path against raw ``sqlite3`` doing the same inserts.

\b
    python benchmarks/db_write.py                    # 400 runs, 5 alternating rounds
    python benchmarks/db_write.py --runs 1000 --rounds 7

Every run carries 7 params rows (its experiment, 2 component choices and 4 parameters), 300 metric
points, one timing with 100 replicates and 100 layer statistics. Each round
writes N such runs into a fresh database file once per side, in the same
process, alternating which side goes first:

- **scratchlab**: the calls the runner makes: ``Store.add_runs`` for the N
  planned runs (one transaction: run rows and params), then
  ``Store.write_result`` per run (one transaction each; it also deletes any
  earlier results of the run and updates its status and times);
- **raw sqlite3**: the ``sqlite3`` module inserting the same rows into the
  same schema (created by ``open_store``, so same tables, indexes, WAL and
  ``synchronous=NORMAL``), ``executemany`` per table, one transaction per run
  holding that run's row, params and results;
- **mlflow** (only if ``import mlflow`` works): ``MlflowClient.log_batch`` of
  the 6 params and 300 metric points per run into a SQLite tracking store
  (MLflow has no place for the timing and the stats, so it does less work).

It prints runs/s and metric points/s per side (medians over rounds) and the
target: scratchlab at >= 50% of raw sqlite3's runs/s.
"""

from __future__ import annotations

import math
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import Target, alternate, finish, format_value, median, parser, print_table

from scratchlab.core.records import MetricRecord, PlannedRun, RunResult, StatRecord, TimingRecord
from scratchlab.db import open_store
from scratchlab.db.final import final_rows
from scratchlab.db.params import COMPONENT, EXPERIMENT, encode

N_PARAMS = 7  # the experiment row, 2 component choices, 4 parameters
N_POINTS = 300
N_REPLICATES = 100
N_STATS = 100
TARGET_RATIO = 0.5

Workload = list[tuple[PlannedRun, RunResult]]


def make_workload(n_runs: int) -> Workload:
    """N runs with their results; values vary per run (and include NaN and inf, as real runs do)."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    items = []
    for i in range(n_runs):
        planned = PlannedRun(
            key=f"run-{i:06d}",
            experiment="train",
            components={"matmul": ("torch", "einsum")[i % 2], "init": "kaiming-normal"},
            params={"lr": 0.5 / (1 + i % 7), "bs": 64, "epochs": 3, "slope": 0.01 * (i % 5)},
            seed=i,
            component_versions={"matmul": "0.1.0+abc123", "init": "0.1.0+def456"},
        )
        replicates = [1e-3 * (1 + ((i + r) % 13) / 100) for r in range(N_REPLICATES)]
        result = RunResult(
            status="done",
            started_at=t0 + timedelta(seconds=i),
            finished_at=t0 + timedelta(seconds=i + 1),
            timings=[
                TimingRecord(
                    label="forward",
                    replicates=replicates,
                    median=replicates[50],
                    iqr=1e-5,
                    mean=sum(replicates) / N_REPLICATES,
                    min=min(replicates),
                    max=max(replicates),
                    shape="64x784x50",
                    flops=2 * 64 * 784 * 50,
                    threads=1,
                )
            ],
            stats=[
                StatRecord(
                    model="deep",
                    layer=layer,
                    name=f"linear{layer}",
                    mean=0.01 * layer,
                    std=1.0 + layer,
                    min=-math.inf if layer == 99 else -3.0,
                    max=3.0,
                    frac_zero=0.5,
                    frac_nonfinite=0.0,
                    step=None,
                )
                for layer in range(N_STATS)
            ],
            metrics=[
                MetricRecord("train_loss", math.nan if step == 7 else 2.3 / (1 + step), step)
                for step in range(N_POINTS)
            ],
        )
        items.append((planned, result))
    return items


def fresh_database(folder: Path, name: str) -> Path:
    """An empty scratchlab database file at head (schema, indexes, WAL)."""
    path = folder / f"{name}-{time.monotonic_ns()}.db"
    open_store(f"sqlite:///{path}").close()
    return path


def write_ours(workload: Workload, folder: Path) -> float:
    """Seconds for our write path to store the workload into a fresh database."""
    store = open_store(f"sqlite:///{fresh_database(folder, 'ours')}")
    try:
        sweep_id = store.create_sweep("bench", ["db_write.py"], {}, {})
        start = time.perf_counter()
        run_ids = store.add_runs(sweep_id, [planned for planned, _ in workload])
        for planned, result in workload:
            store.write_result(run_ids[planned.key], result)
        return time.perf_counter() - start
    finally:
        store.close()


def _nan_null(value: float | None) -> float | None:
    # what our Real column stores for NaN (SQLite would do it anyway)
    return None if value is None or value != value else value


#: the statements the raw side runs: the same rows our write path stores, table by table
RAW_INSERTS = {
    "runs": 'INSERT INTO runs (sweep_id, "key", experiment, device, dtype, seed, repeat, status, '
    "started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "params": "INSERT INTO params (run_id, name, kind, value_text, value_num, version)"
    " VALUES (?, ?, ?, ?, ?, ?)",
    "timings": "INSERT INTO timings (run_id, label, shape, n, number_per_run, median, iqr, mean,"
    " min, max, flops, threads) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "timing_replicates": "INSERT INTO timing_replicates (timing_id, replicate, seconds)"
    " VALUES (?, ?, ?)",
    "activation_stats": "INSERT INTO activation_stats (run_id, model, layer, name, step, mean,"
    " std, min, max, frac_zero, frac_nonfinite) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "metrics": "INSERT INTO metrics (run_id, name, step, value) VALUES (?, ?, ?, ?)",
    "final_metrics": "INSERT INTO final_metrics (run_id, name, step, value) VALUES (?, ?, ?, ?)",
}
#: the text SQLAlchemy's DateTime writes on SQLite
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def _param_rows(run_id: int, planned: PlannedRun) -> list[tuple]:
    """The run's params rows: its experiment, its component choices, then its parameters."""
    versions = planned.component_versions
    rows = [(run_id, EXPERIMENT, EXPERIMENT, planned.experiment, None, versions.get(EXPERIMENT))]
    rows += [
        (run_id, c, COMPONENT, n, None, versions.get(c)) for c, n in planned.components.items()
    ]
    rows += [(run_id, k, *encode(k, v), None) for k, v in planned.params.items()]
    return rows


def _insert_timings(conn: sqlite3.Connection, run_id: int, timings: list[TimingRecord]) -> None:
    """Each timing's row, then its replicates under the new row's id."""
    for t in timings:
        timing_id = conn.execute(
            RAW_INSERTS["timings"],
            (
                run_id,
                t.label,
                t.shape,
                len(t.replicates),
                t.number_per_run,
                t.median,
                t.iqr,
                t.mean,
                t.min,
                t.max,
                t.flops,
                t.threads,
            ),
        ).lastrowid
        conn.executemany(
            RAW_INSERTS["timing_replicates"],
            [(timing_id, i, s) for i, s in enumerate(t.replicates)],
        )


def _stat_rows(run_id: int, stats: list[StatRecord]) -> list[tuple]:
    """The run's activation_stats rows."""
    return [
        (
            run_id,
            s.model,
            s.layer,
            s.name,
            s.step,
            s.mean,
            s.std,
            s.min,
            s.max,
            s.frac_zero,
            s.frac_nonfinite,
        )
        for s in stats
    ]


def _insert_run(
    conn: sqlite3.Connection, sweep_id: int, planned: PlannedRun, result: RunResult
) -> None:
    """One run in one transaction: its row, params, timings, stats, metrics and final metrics."""
    conn.execute("BEGIN IMMEDIATE")
    run_id = conn.execute(
        RAW_INSERTS["runs"],
        (
            sweep_id,
            planned.key,
            planned.experiment,
            planned.device,
            planned.dtype,
            planned.seed,
            planned.repeat,
            result.status,
            result.started_at.strftime(TIME_FORMAT),
            result.finished_at.strftime(TIME_FORMAT),
        ),
    ).lastrowid
    conn.executemany(RAW_INSERTS["params"], _param_rows(run_id, planned))
    _insert_timings(conn, run_id, result.timings)
    conn.executemany(RAW_INSERTS["activation_stats"], _stat_rows(run_id, result.stats))
    conn.executemany(
        RAW_INSERTS["metrics"],
        [(run_id, p.name, p.step, _nan_null(p.value)) for p in result.metrics],
    )
    conn.executemany(
        RAW_INSERTS["final_metrics"],
        [
            (r, name, step, _nan_null(value))
            for r, name, step, value in final_rows(run_id, result.metrics)
        ],
    )
    conn.execute("COMMIT")


def write_raw(workload: Workload, folder: Path) -> float:
    """Seconds for raw ``sqlite3`` to insert the same rows, one transaction per run."""
    path = fresh_database(folder, "raw")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "INSERT INTO sweeps (name, argv_json, spec_json, environment_json, status, started_at) "
        "VALUES ('bench', '[]', '{}', '{}', 'running', '2026-01-01 00:00:00.000000')"
    )
    sweep_id = conn.execute("SELECT max(sweep_id) FROM sweeps").fetchone()[0]
    try:
        start = time.perf_counter()
        for planned, result in workload:
            _insert_run(conn, sweep_id, planned, result)
        return time.perf_counter() - start
    finally:
        conn.close()


def write_mlflow(workload: Workload, folder: Path) -> float:
    """Seconds for MLflow's SQLite tracking store to log the params and metric points."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{folder / f'mlflow-{time.monotonic_ns()}.db'}")
    experiment_id = client.create_experiment(f"bench-{time.monotonic_ns()}")
    start = time.perf_counter()
    for planned, result in workload:
        run = client.create_run(experiment_id)
        stamp = int(time.time() * 1000)
        params = [Param(k, v) for k, v in planned.components.items()]
        params += [Param(k, str(v)) for k, v in planned.params.items()]
        points = [Metric(p.name, p.value, stamp, p.step) for p in result.metrics]
        client.log_batch(run.info.run_id, metrics=points, params=params)
        client.set_terminated(run.info.run_id)
    return time.perf_counter() - start


def mlflow_available() -> bool:
    """Whether the optional MLflow column can be measured."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table and the target; exit 0 when the target is met."""
    p = parser(__doc__.split("\n\n")[0], rounds=5)
    p.add_argument(
        "--runs", type=int, default=400, help="runs written per side per round (default 400)"
    )
    args = p.parse_args(argv)
    workload = make_workload(args.runs)
    with tempfile.TemporaryDirectory(prefix="scratchlab-db-write-") as scratch:
        folder = Path(scratch)
        cases: dict[str, Callable[[], float]] = {
            "raw sqlite3": lambda: write_raw(workload, folder),
            "scratchlab": lambda: write_ours(workload, folder),
        }
        if mlflow_available():
            cases["mlflow"] = lambda: write_mlflow(workload, folder)
        samples = alternate(cases, args.rounds)
    runs_per_s = {name: args.runs / median(seconds) for name, seconds in samples.items()}
    raw = runs_per_s["raw sqlite3"]
    print(
        f"\ndb_write: {args.runs} runs per side per round, each {N_PARAMS} params, {N_POINTS} metric points, "
        f"1 timing x {N_REPLICATES} replicates, {N_STATS} layer stats; medians of {args.rounds} rounds"
    )
    print_table(
        ("path", "runs/s", "points/s", "vs raw sqlite3"),
        [
            (name, f"{rate:,.0f}", f"{rate * N_POINTS:,.0f}", format_value(100 * rate / raw, "%"))
            for name, rate in runs_per_s.items()
        ],
    )
    if "mlflow" not in runs_per_s:
        print("(mlflow is not importable here: no mlflow column)")
    target = Target(
        "scratchlab runs/s vs raw sqlite3",
        measured=100 * runs_per_s["scratchlab"] / raw,
        limit=100 * TARGET_RATIO,
        op=">=",
        unit="%",
        note=f"medians of {args.rounds} alternating rounds of {args.runs} runs per side",
    )
    return finish(
        "db_write",
        [target],
        json_out=args.json_out,
        rounds=args.rounds,
        extra={"runs": args.runs, "runs_per_s": runs_per_s},
    )


if __name__ == "__main__":
    sys.exit(main())
