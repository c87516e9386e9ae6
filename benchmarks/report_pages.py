"""How fast each page of the report app renders on a large database.

Builds (once; reused through ``--cache``) a database with 10,000 runs and
1,000,000 metric points through the store's write path, shaped like a big
sweep: matmul runs with timings and replicates, init-stats runs with
per-layer statistics of the three models (the deep one 100 layers), and
train runs with loss and accuracy histories. Then renders every page with
Streamlit's AppTest, a few rounds each with the query cache cleared (the
read-only store stays open, as in a running server), and prints the median
render time of each page against the 2 s target.

    python benchmarks/report_pages.py                       # build or reuse, then time
    python benchmarks/report_pages.py --cache /tmp/big.db --rounds 5
"""

from __future__ import annotations

import itertools
import math
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from _common import Target, finish, parser, print_table

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "reports" / "app.py"
TARGET_S = 2.0

N_RUNS = 10_000
N_METRIC_POINTS = 1_000_000
STRATEGIES = ("python", "elementwise", "broadcast", "einsum", "torch")
SHAPES = ("5x784x10", "64x784x50", "512x512x512")
INITS = ("randn", "simple", "kaiming-normal", "kaiming-uniform", "torch-kaiming-normal", "torch-default", "xavier")
ACTIVATIONS = ("relu", "relu-shifted", "leaky-relu", "tanh", "identity")
N_MATMUL, N_INIT_STATS = 1_000, 1_000
N_TRAIN = N_RUNS - N_MATMUL - N_INIT_STATS
POINTS_PER_TRAIN_RUN = N_METRIC_POINTS // N_TRAIN  # 125: 100 train_loss, 2 x 10 per epoch, 4 epoch times, 1 samples/s
DEEP_LAYERS = 100
N_REPLICATES = 10

#: (page, URL query parameters set for it) timed in this order
PAGES: tuple[tuple[str, dict[str, str]], ...] = (
    ("sweeps", {}),
    ("runs", {}),
    ("runs", {"where": "lr>=0.5", "runs.sort": "duration_s", "runs.desc": "True"}),
    ("timings", {}),
    ("activations", {"activations.model": "deep"}),
    ("training", {}),
    ("training", {"activation": "tanh", "init": "xavier"}),
    ("compare", {"compare.runs": "9001,9002,9003"}),
)


def _planned(records, index: int):
    """The index-th run of the big sweep (matmul, then init-stats, then train runs)."""
    if index < N_MATMUL:
        strategy = STRATEGIES[index % len(STRATEGIES)]
        return records.PlannedRun(
            key=f"matmul-{index}", experiment="matmul", components={"matmul": strategy},
            params={"shapes": ",".join(SHAPES), "rtol": 1e-3, "min_run_time": 0.2},
            repeat=index // len(STRATEGIES), seed=index // len(STRATEGIES),
        )
    if index < N_MATMUL + N_INIT_STATS:
        i = index - N_MATMUL
        init, activation = list(itertools.product(INITS, ACTIVATIONS))[i % (len(INITS) * len(ACTIVATIONS))]
        repeat = i // (len(INITS) * len(ACTIVATIONS))
        return records.PlannedRun(
            key=f"init-stats-{i}", experiment="init-stats", components={"init": init, "activation": activation},
            params={"hidden": 50, "depth": DEEP_LAYERS, "width": 512, "batch": 256}, repeat=repeat, seed=repeat,
        )
    i = index - N_MATMUL - N_INIT_STATS
    lr = (0.01, 0.05, 0.1, 0.2, 0.5, 1.0)[i % 6]
    bs = (32, 64, 128, 256)[(i // 6) % 4]
    init = INITS[(i // 24) % len(INITS)]
    activation = ACTIVATIONS[(i // 168) % len(ACTIVATIONS)]
    repeat = i // 840
    return records.PlannedRun(
        key=f"train-{i}", experiment="train",
        components={"init": init, "activation": activation, "loss": "cross-entropy", "matmul": "torch",
                    "dataset": "mnist-5k"},
        params={"lr": lr, "bs": bs, "epochs": 10, "log_every": 1, "shuffle": True, "hidden": 50},
        repeat=repeat, seed=repeat,
    )


def _result(records, planned, rng) -> object:
    """A plausible result for one planned run: timings, statistics or metric histories."""
    started = datetime(2024, 6, 1, tzinfo=UTC) + timedelta(seconds=float(rng.uniform(0, 86400)))
    finished = started + timedelta(seconds=float(rng.uniform(0.5, 30)))
    if planned.experiment == "matmul":
        base = {"python": 1e-6, "elementwise": 1e-7, "broadcast": 1e-8, "einsum": 1e-10, "torch": 5e-11}
        timings = []
        for shape in SHAPES:
            m, k, n = (int(x) for x in shape.split("x"))
            median = base[planned.components["matmul"]] * m * k * n
            replicates = list(median * (1 + 0.02 * rng.standard_normal(N_REPLICATES)))
            q1, q2, q3 = np.percentile(replicates, [25, 50, 75])
            timings.append(records.TimingRecord(
                label=shape, replicates=replicates, median=float(q2), iqr=float(q3 - q1), mean=float(np.mean(replicates)),
                min=float(min(replicates)), max=float(max(replicates)), shape=shape, flops=2.0 * m * k * n, threads=1,
            ))
        return records.RunResult("done", None, started, finished, timings=timings)
    if planned.experiment == "init-stats":
        gain = {"randn": 22.6, "simple": 0.7, "xavier": 0.8}.get(planned.components["init"], 1.0)
        stats = []
        for model, layers in (("mlp", 3), ("deep", DEEP_LAYERS + 1), ("conv", 2)):
            for layer in range(layers):
                std = gain ** layer
                finite = math.isfinite(std) and std < 3e38
                stats.append(records.StatRecord(
                    model=model, layer=layer, name="input" if layer == 0 else f"layer{layer}",
                    mean=std * 0.4 if finite else math.nan, std=std if finite else math.inf, min=-std if finite else -math.inf,
                    max=std * 4 if finite else math.inf, frac_zero=0.5, frac_nonfinite=0.0 if finite else 1.0,
                ))
        return records.RunResult("done", None, started, finished, stats=stats)
    lr = planned.params["lr"]
    steps = POINTS_PER_TRAIN_RUN - 25
    noise = rng.uniform(0.9, 1.1)
    metrics = [records.MetricRecord("train_loss", float(2.3 * noise / (1 + lr * s)), s) for s in range(steps)]
    for epoch in range(10):
        step = (epoch + 1) * steps // 10
        metrics.append(records.MetricRecord("valid_loss", float(2.0 * noise / (1 + lr * step)), step))
        metrics.append(records.MetricRecord("valid_accuracy", float(1 - 0.9 / (1 + lr * step)), step))
    metrics += [records.MetricRecord("epoch_time_s", float(rng.uniform(0.5, 2)), s) for s in range(4)]
    metrics.append(records.MetricRecord("samples_per_s", float(rng.uniform(2e4, 6e4))))
    return records.RunResult("done", None, started, finished, metrics=metrics)


def build(path: Path) -> None:
    """Write the big sweep into ``path`` through the store's write path."""
    from scratchlab.db import open_store, records

    rng = np.random.default_rng(0)
    started = time.perf_counter()
    with open_store(f"sqlite:///{path}") as store:
        sweep_id = store.create_sweep(
            "big-sweep", ["runner", "sweep", "--plugins", "matmul,init,activation"], {"bench": True},
            {"python": sys.version.split()[0], "torch": "2.13.0", "cpu": "bench", "devices": ["cpu"]},
        )
        planned = [_planned(records, i) for i in range(N_RUNS)]
        ids: dict[str, int] = {}
        for chunk in range(0, N_RUNS, 1000):
            ids.update(store.add_runs(sweep_id, planned[chunk : chunk + 1000]))
        for index, run in enumerate(planned):
            store.write_result(ids[run.key], _result(records, run, rng))
            if index % 1000 == 999:
                print(f"  wrote {index + 1} runs ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        store.finish_sweep(sweep_id, "done")
    print(f"built {path} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def is_complete(path: Path) -> bool:
    """True when ``path`` holds the finished big sweep (a build that was interrupted is redone)."""
    if not path.exists():
        return False
    from scratchlab.db import DatabaseError, open_store, queries

    try:
        with open_store(f"sqlite:///{path}", read_only=True) as store:
            sweeps = queries.list_sweeps(store)
    except DatabaseError:
        return False
    return len(sweeps) == 1 and sweeps["status"].iloc[0] == "done" and int(sweeps["done"].iloc[0]) == N_RUNS


def time_page(page: str, query: dict[str, str], rounds: int) -> list[float]:
    """Seconds to render ``page`` with ``query``, once per round, query cache cleared each time."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    seconds = []
    for _ in range(rounds):
        st.cache_data.clear()
        at = AppTest.from_file(str(APP), default_timeout=120)
        sidebar = {k: v for k, v in query.items() if "." not in k}
        at.query_params.update(sidebar)
        if page == "sweeps":
            started = time.perf_counter()
            at.run()
        else:
            at.run()
            st.cache_data.clear()
            at.query_params.update(query)
            at.switch_page(f"app_pages/{page}.py")
            started = time.perf_counter()
            at.run()
        seconds.append(time.perf_counter() - started)
        if at.exception or at.error:
            raise SystemExit(f"{page} failed: {[e.value for e in [*at.exception, *at.error]]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Build or reuse the database, time every page, print the table and one
    target per page; exit 0 when every page renders within the target."""
    p = parser(__doc__.split("\n\n")[0], rounds=3)
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "scratchlab-report-pages.db",
                   help="database file to build once and reuse (default: %(default)s)")
    args = p.parse_args(argv)
    if not is_complete(args.cache):
        args.cache.unlink(missing_ok=True)
        print(f"building {N_RUNS} runs, {N_METRIC_POINTS} metric points into {args.cache} ...", file=sys.stderr)
        build(args.cache)
    os.environ["SCRATCHLAB_DB"] = f"sqlite:///{args.cache}"

    import logging

    # AppTest runs outside a server: Streamlit warns about the missing context on every run
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    rows, targets = [], []
    for page, query in PAGES:
        seconds = time_page(page, query, args.rounds)
        shown = "&".join(f"{k}={v}" for k, v in query.items()) or "(default)"
        median = statistics.median(seconds)
        rows.append((page, shown, f"{median:.3f}", f"{min(seconds):.3f}", f"{max(seconds):.3f}"))
        targets.append(Target(f"{page} page, {shown}", measured=median, limit=TARGET_S, op="<=", unit="s",
                              note=f"median of {args.rounds} AppTest renders, query cache cleared each"))
    print(f"\nreport pages on {N_RUNS} runs / {N_METRIC_POINTS} metric points "
          f"(AppTest, median of {args.rounds}, query cache cleared each round)")
    print_table(("page", "query", "median s", "min s", "max s"), rows)
    return finish("report_pages", targets, json_out=args.json_out, rounds=args.rounds,
                  extra={"runs": N_RUNS, "metric_points": N_METRIC_POINTS})


if __name__ == "__main__":
    sys.exit(main())
