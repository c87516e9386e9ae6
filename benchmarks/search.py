"""Does a search find the grid's best in fewer runs, and what does a trial cost the engine?

The lessons' CNN on mnist-5k (1 epoch on the first ``N_TRAIN`` rows, 1 torch thread, the
valid accuracy evaluated every ``LOG_EVERY`` steps so a pruner has something to judge),
over optimizer × norm × lr:

1. **grid**: every optimizer × norm × six lrs on a log grid 0.01-2, run once (in this
   process, through ``run_experiment``, each run's accuracy curve recorded) and kept in a
   JSON file (``--grid``), so later invocations reuse it;
2. **grid in random order**, with and without pruning, is *replayed* from that table, for
   each seed: the runs in a shuffled order, the best accuracy so far after each; with
   pruning, Optuna's MedianPruner judges each run's recorded curve as it would have live
   (a pruned run costs the fraction of its time up to the step it was stopped at);
3. **random** and **TPE** searches over optimizer × norm × lr in 0.01..2 (log), with and
   without median pruning, run for real (``run_sweep`` with ``search=``, inline, a
   temporary database), ``--trials`` trials for each of ``--seeds`` sampler seeds.

The table: for each method, the mean best accuracy after 10, 20 and all runs, and the runs
and seconds (mean over seeds) it took to reach the grid's best accuracy (minus
``--tolerance``), with how many seeds got there.

4. **overhead**: ``--overhead-trials`` (1,000) TPE trials of an experiment that does
   nothing (inline, a temporary SQLite file); the time the search's own steps take per trial
   (ask, plan, store the runs, tell, read the objective back, write the result) in the first
   and the last 100 trials. Target: under 20 ms per trial at 1,000 trials.

Run (CPU-heavy; about 15 minutes on a quiet core)::

    nice python benchmarks/search.py --json-out search.json

``--stage grid|searches|overhead`` runs one part. The module is also the plugin that
registers the no-op experiment of the overhead stage.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scratchlab.plugins import Experiment, hookimpl

HERE = Path(__file__).resolve().parent
OPTIMIZERS = ("sgd", "momentum", "adam", "lamb")
NORMS = ("none", "batchnorm", "groupnorm")
LRS = tuple(round(0.01 * 200 ** (i / 5), 6) for i in range(6))  # 0.01 .. 2, log-spaced
N_TRAIN = 2000
LOG_EVERY = 8
OBJECTIVE = "valid_accuracy"
BUDGETS = (10, 20)


def settings(lr: Any) -> dict[str, dict[str, Any]]:
    """The ``-s`` settings of every run; ``lr`` a value or a range."""
    return {
        "train": {"model": "cnn", "lr": lr, "n_train": N_TRAIN, "log_every": LOG_EVERY},
    }


def spec(lr: Any) -> Any:
    """The sweep spec of the grid at one lr, or (a range) of the search."""
    from scratchlab.runner.spec import SweepSpec

    return SweepSpec(
        experiments=("train",),
        components={"optimizer": OPTIMIZERS, "norm": NORMS},
        settings=settings(lr),
        threads=(1,),
    )


# --------------------------------------------------------------------------- 1. the grid


def run_grid(path: Path) -> list[dict[str, Any]]:
    """Every grid point, run once in this process with its accuracy curve recorded."""
    import torch

    from scratchlab.plugins.manager import load_plugins
    from scratchlab.runner.live import Link, LiveOptions
    from scratchlab.runner.plan import plan
    from scratchlab.runner.run_one import run_experiment

    class Recording(Link):
        """Asks for the valid accuracy at every evaluation, never stops a run."""

        options = LiveOptions(interval=math.inf, judged=(OBJECTIVE,))

    torch.set_num_threads(1)
    plugins = load_plugins()
    rows = []
    for lr in LRS:
        for run in plan(spec(lr), plugins.registry):
            result = run_experiment(plugins, run, link=Recording())
            curve = {m.step: m.value for m in result.metrics if m.name == OBJECTIVE}
            rows.append(
                {
                    "optimizer": run.components["optimizer"],
                    "norm": run.components["norm"],
                    "lr": lr,
                    "status": result.status,
                    "curve": sorted(curve.items()),
                    "accuracy": curve[max(curve)] if curve else None,
                    "seconds": (result.finished_at - result.started_at).total_seconds(),
                }
            )
            print(
                f"grid {len(rows)}: {rows[-1]['optimizer']} {rows[-1]['norm']} lr={lr}"
                f" {rows[-1]['accuracy']} {rows[-1]['seconds']:.1f}s",
                file=sys.stderr,
            )
    path.write_text(json.dumps(rows))
    return rows


# --------------------------------------------------------------------------- 2. replaying it


def replay(rows: Sequence[dict], seed: int, prune: bool) -> list[tuple[float, float]]:
    """(seconds so far, accuracy) per run of the grid in a shuffled order; with ``prune`` a
    MedianPruner judges each recorded curve (a pruned run's accuracy does not count)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    order = list(rows)
    random.Random(seed).shuffle(order)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner())
    out, elapsed = [], 0.0
    for row in order:
        trial = study.ask()
        last = row["curve"][-1][0] if row["curve"] else 1
        stopped = None
        for step, value in row["curve"]:
            trial.report(value, step)
            if prune and step < last and trial.should_prune():
                stopped = step
                break
        if stopped is None:
            elapsed += row["seconds"]
            study.tell(trial, row["accuracy"] if row["accuracy"] is not None else 0.0)
            out.append((elapsed, row["accuracy"] or 0.0))
        else:
            elapsed += row["seconds"] * stopped / last
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            out.append((elapsed, float("nan")))
    return out


# --------------------------------------------------------------------------- 3. searching


def run_search(method: str, seed: int, prune: bool, trials: int) -> list[tuple[float, float]]:
    """(seconds so far, accuracy or NaN for a pruned run) per run of a real search."""
    from scratchlab.db import open_store
    from scratchlab.db.queries import list_runs
    from scratchlab.runner.search import SearchSpec
    from scratchlab.runner.sweeping import Execution, run_sweep

    search = SearchSpec(
        method=method,
        trials=trials,
        objective=OBJECTIVE,
        prune="median" if prune else "none",
        seed=seed,
    )
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/search.db"
        outcome = run_sweep(
            spec("0.01..2:log"), db=url, execution=Execution(inline=True), search=search
        )
        with open_store(url, read_only=True) as store:
            runs = list_runs(store, sweep_ids=(outcome.sweep_id,), with_metrics=[OBJECTIVE])
    out, elapsed = [], 0.0
    for _, run in runs.sort_values("run_id").iterrows():
        elapsed += float(run["duration_s"])
        value = run[OBJECTIVE] if run["status"] == "done" else float("nan")
        out.append((elapsed, float(value)))
    return out


# --------------------------------------------------------------------------- the table


def summarise(curves: Sequence[list[tuple[float, float]]], target: float) -> dict[str, Any]:
    """Mean best-so-far at the budgets; runs and seconds to reach ``target`` (mean of the
    seeds that reached it) and how many did."""

    def best_at(curve: list, n: int) -> float:
        values = [v for _, v in curve[:n] if not math.isnan(v)]
        return max(values) if values else float("nan")

    reached = []
    for curve in curves:
        hit = next((i for i, (_, v) in enumerate(curve) if not math.isnan(v) and v >= target), None)
        if hit is not None:
            reached.append((hit + 1, curve[hit][0]))
    return {
        **{f"best@{n}": statistics.mean(best_at(c, n) for c in curves) for n in BUDGETS},
        "best": statistics.mean(best_at(c, len(c)) for c in curves),
        "best_per_seed": [round(best_at(c, len(c)), 4) for c in curves],
        "runs": len(curves[0]),
        "reached": f"{len(reached)}/{len(curves)}",
        "runs_to_best": statistics.mean(r for r, _ in reached) if reached else float("nan"),
        "seconds_to_best": statistics.mean(s for _, s in reached) if reached else float("nan"),
    }


def print_table(rows: dict[str, dict[str, Any]], target: float) -> None:
    """The comparison as a Markdown table (what docs/performance.md shows)."""
    print(f"\ngrid best valid accuracy {target:.3f} (target: reach it, minus the tolerance)\n")
    head = [
        "method",
        *(f"best@{n}" for n in BUDGETS),
        "best",
        "runs",
        "reached",
        "runs to best",
        "s to best",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, r in rows.items():
        cells = [
            name,
            *(f"{r[f'best@{n}']:.3f}" for n in BUDGETS),
            f"{r['best']:.3f}",
            str(r["runs"]),
            r["reached"],
            f"{r['runs_to_best']:.1f}",
            f"{r['seconds_to_best']:.0f}",
        ]
        print("| " + " | ".join(cells) + " |")


# --------------------------------------------------------------------------- 4. overhead


def bench_noop(ctx) -> None:
    """Records the objective at once: what remains is the engine's cost."""
    ctx.metric("y", (ctx.params["x"] - 0.3) ** 2)


@hookimpl
def register_experiments(register):
    """The overhead stage's experiment."""
    register(Experiment(name="search-noop", run=bench_noop, uses=(), params={"x": 0.5}))


def overhead(trials: int) -> dict[str, float]:
    """Milliseconds per trial of the search's own steps in the first and last 100 trials:
    all of them, and Optuna's part (``ask`` and ``tell``) apart from ours (planning, storing
    the runs and the result, the objective read back)."""
    from scratchlab.db import open_store
    from scratchlab.plugins.manager import load_plugins
    from scratchlab.runner.search import SearchSpec
    from scratchlab.runner.spec import SweepSpec
    from scratchlab.runner.sweep_execute import execute_prepared
    from scratchlab.runner.sweep_prepare import prepare_new
    from scratchlab.runner.sweeping import Execution

    sys.path.insert(0, str(HERE))
    plugins = load_plugins(("search",))
    search = SearchSpec(method="tpe", trials=trials, objective="y", direction="minimize")
    noop = SweepSpec(experiments=("search-noop",), settings={"search-noop": {"x": "0..1"}})
    prepared = prepare_new(noop, plugins, name="overhead", search=search)
    driver, spent, sampler = prepared.search, [], []

    def timed(fn, into):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                into.append((driver.count, time.perf_counter() - started))

        return wrapper

    driver.more = timed(driver.more, spent)
    driver.study.ask = timed(driver.study.ask, sampler)
    driver.study.tell = timed(driver.study.tell, sampler)
    with tempfile.TemporaryDirectory() as folder, open_store(f"sqlite:///{folder}/o.db") as store:
        store.write_result = timed(store.write_result, spent)
        execute_prepared(prepared, store=store, plugins=plugins, execution=Execution(inline=True))
    per_trial = {}
    for label, low, high in (
        ("first 100", 0, 100),
        (f"last 100 of {trials}", trials - 100, trials),
    ):
        total = 1000 * sum(s for n, s in spent if low < n <= high) / 100
        optuna_ms = 1000 * sum(s for n, s in sampler if low < n <= high) / 100
        per_trial[f"{label}: all"] = total
        per_trial[f"{label}: Optuna (ask, tell)"] = optuna_ms
        per_trial[f"{label}: ours (plan, store, read)"] = total - optuna_ms
    return per_trial


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stages asked for; print the tables; exit 0 when the targets are met."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stage", choices=("all", "grid", "searches", "overhead"), default="all")
    parser.add_argument(
        "--grid", type=Path, default=Path(tempfile.gettempdir()) / "scratchlab-search-grid.json"
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--tolerance", type=float, default=0.0)
    parser.add_argument("--overhead-trials", type=int, default=1000)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"script": "search", "targets": []}
    if args.stage in ("all", "grid", "searches"):
        rows = json.loads(args.grid.read_text()) if args.grid.exists() else run_grid(args.grid)
        done = [r for r in rows if r["accuracy"] is not None]
        best = max(r["accuracy"] for r in done)
        print(f"grid: {len(rows)} runs, {sum(r['seconds'] for r in rows):.0f} s, best {best:.3f}")
    if args.stage in ("all", "searches"):
        target = best - args.tolerance
        seeds = range(args.seeds)
        table = {}
        for prune in (False, True):
            suffix = " + median pruning" if prune else ""
            table[f"grid, random order{suffix}"] = summarise(
                [replay(rows, s, prune) for s in seeds], target
            )
            for method in ("random", "tpe"):
                curves = [run_search(method, s, prune, args.trials) for s in seeds]
                table[f"{method}{suffix}"] = summarise(curves, target)
                print(f"{method}{suffix}: {table[f'{method}{suffix}']}", file=sys.stderr)
        print_table(table, target)
        report["table"] = table
    if args.stage in ("all", "overhead"):
        per_trial = overhead(args.overhead_trials)
        for label, ms in per_trial.items():
            print(f"sampler and storage per trial, {label}: {ms:.1f} ms")
        worst = max(v for k, v in per_trial.items() if k.endswith(": all"))
        report["overhead_ms"] = per_trial
        report["targets"].append(
            {
                "name": f"search overhead per trial at {args.overhead_trials:,} trials",
                "measured": worst,
                "limit": 20.0,
                "op": "<=",
                "unit": "ms",
                "passed": worst <= 20.0,
            }
        )
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2, default=str))
    return 0 if all(t["passed"] for t in report["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
