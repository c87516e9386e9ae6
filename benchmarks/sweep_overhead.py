"""How much the sweep engine costs per run, and what ``--workers 2`` buys.

Two measurements, each the median of ``--repeats`` tries, printed as a table:

1. Per-run overhead, inline: ``runner sweep`` (in this process, through the
   real command) over a no-op experiment, 1,000 runs and 10 runs; the
   difference divided by 990 is what one run costs the engine (planning, the
   ``pending`` row and its params, ``running``, the result's transaction,
   seeding, the hooks and the log line) with fixed costs (plugin loading,
   environment capture) cancelled out. Target: < 5 ms.
   Also shown, to explain it: ``run_experiment`` alone and the two database
   writes alone, per run.
2. Speed-up of ``--workers 2`` over inline for a CPU-bound experiment: pure
   Python arithmetic, as the lessons' triple-loop and elementwise matmuls
   (which hold the interpreter, so inline uses one core however many torch
   threads it has). Measured on the execution engine with a warm cluster,
   and end to end with the cluster's start-up added. Target: >= 1.6x on 2 cores.

Run: ``python benchmarks/sweep_overhead.py`` (about a minute on 2 cores).
The module is also the plugin that registers the two benchmark experiments:
it puts its own folder on the import path and loads itself with ``--plugin``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from scratchlab.plugins import Experiment, hookimpl

HERE = Path(__file__).resolve().parent
PLUGIN = Path(__file__).stem  # this module, imported by name as a --plugin


def bench_noop(ctx) -> None:
    """Does nothing: what remains is the engine's cost."""


def bench_spin(ctx) -> None:
    """Pure-Python CPU work (one core, holds the GIL), ``loops`` iterations."""
    total = 0
    for i in range(ctx.params["loops"]):
        total += i * i % 7
    ctx.metric("total", float(total))


@hookimpl
def register_experiments(register) -> None:
    """The benchmark's two experiments."""
    register(Experiment(name="bench-noop", run=bench_noop, description="does nothing"))
    register(Experiment(name="bench-spin", run=bench_spin, params={"loops": 2_000_000},
                        description="pure-Python arithmetic"))


# --------------------------------------------------------------------------- measurements


def sweep_seconds(db_url: str, *args: str) -> float:
    """Wall time of one ``runner --plugin <this> sweep ARGS`` in this process (exit 0 asserted)."""
    from click.testing import CliRunner

    from scratchlab.runner.cli import cli

    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["--db", db_url, "--plugin", PLUGIN, "sweep", *args, "-q"])
    seconds = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"sweep failed ({result.exit_code}): {result.output[-2000:]}")
    return seconds


def per_run_overhead(folder: Path, n: int, repeats: int) -> float:
    """Median over ``repeats`` of (T(n + 10 runs) - T(10 runs)) / n, in seconds."""
    samples = []
    for i in range(repeats):
        small = sweep_seconds(f"sqlite:///{folder}/small-{i}.db", "--experiments", "bench-noop", "--repeat", "10")
        large = sweep_seconds(
            f"sqlite:///{folder}/large-{i}.db", "--experiments", "bench-noop", "--repeat", str(n + 10)
        )
        samples.append((large - small) / n)
    return statistics.median(samples)


def parts_per_run(folder: Path, n: int) -> tuple[float, float]:
    """Seconds per run of ``run_experiment`` alone and of the two database writes alone."""
    from scratchlab.db import open_store
    from scratchlab.db.records import RunResult
    from scratchlab.plugins.manager import load_plugins
    from scratchlab.runner.context import run_experiment
    from scratchlab.runner.plan import SweepSpec, plan

    plugins = load_plugins([PLUGIN])
    runs = plan(SweepSpec(experiments=("bench-noop",), repeat=n), plugins.registry)
    started = time.perf_counter()
    results = [run_experiment(plugins, run) for run in runs]
    run_seconds = (time.perf_counter() - started) / n
    with open_store(f"sqlite:///{folder}/parts.db") as store:
        sweep_id = store.create_sweep("parts", [], {}, {})
        ids = store.add_runs(sweep_id, runs)
        started = time.perf_counter()
        for run, result in zip(runs, results, strict=True):
            store.mark_running([ids[run.key]])
            store.write_result(ids[run.key], RunResult(**{**result.__dict__}))
        write_seconds = (time.perf_counter() - started) / n
    return run_seconds, write_seconds


def execution_seconds(folder: Path, name: str, backend, plugins, n_runs: int, loops: int) -> float:
    """Wall time of executing ``n_runs`` bench-spin runs on ``backend`` (stored first, not timed)."""
    from scratchlab.db import open_store
    from scratchlab.runner.execute import HookCaller, execute_sweep
    from scratchlab.runner.plan import SweepSpec, plan
    from scratchlab.runner.progress import Reporter

    spec = SweepSpec(experiments=("bench-spin",), repeat=n_runs, settings={"bench-spin": {"loops": loops}})
    runs = plan(spec, plugins.registry)
    with open_store(f"sqlite:///{folder}/{name}.db") as store:
        sweep_id = store.create_sweep(name, [], spec.to_json(), {})
        ids = store.add_runs(sweep_id, runs)
        items = [(ids[r.key], r) for r in runs]
        reporter = Reporter()
        started = time.perf_counter()
        outcome = execute_sweep(
            store, {"sweep_id": sweep_id, "name": name}, items, backend,
            hooks=HookCaller(plugins, reporter.warn), reporter=reporter,
        )
        seconds = time.perf_counter() - started
    if outcome.status != "done":
        raise SystemExit(f"{name}: the sweep ended {outcome.status}")
    return seconds


def speed_up(folder: Path, n_runs: int, loops: int, repeats: int) -> dict[str, float]:
    """Median inline and 2-worker execution times, and the cluster's start-up time."""
    from scratchlab.plugins.manager import load_plugins
    from scratchlab.runner.execute import DaskBackend, InlineBackend

    plugins = load_plugins([PLUGIN])
    inline = InlineBackend(plugins)
    execution_seconds(folder, "warm-inline", inline, plugins, 2, loops)  # imports, data caches
    inline_times = [
        execution_seconds(folder, f"inline-{i}", inline, plugins, n_runs, loops) for i in range(repeats)
    ]
    started = time.perf_counter()
    dask = DaskBackend.local(2, [PLUGIN])
    try:
        execution_seconds(folder, "warm-dask", dask, plugins, 2, loops)  # workers import torch and the plugins
        startup = time.perf_counter() - started
        dask_times = [
            execution_seconds(folder, f"dask-{i}", dask, plugins, n_runs, loops) for i in range(repeats)
        ]
    finally:
        dask.close()
    return {"inline": statistics.median(inline_times), "dask": statistics.median(dask_times), "startup": startup}


def main(argv: list[str] | None = None) -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="no-op runs for the overhead")
    parser.add_argument("--cpu-runs", type=int, default=12, help="CPU-bound runs for the speed-up")
    parser.add_argument("--loops", type=int, default=2_000_000, help="iterations per CPU-bound run")
    parser.add_argument("--repeats", type=int, default=3, help="tries per measurement (median)")
    args = parser.parse_args(argv)

    # this file is the plugin: importable by name here and in the Dask workers
    sys.path.insert(0, str(HERE))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))

    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        folder = Path(tmp)
        overhead = per_run_overhead(folder, args.runs, args.repeats)
        run_part, write_part = parts_per_run(folder, args.runs)
        timings = speed_up(folder, args.cpu_runs, args.loops, args.repeats)

    exec_ratio = timings["inline"] / timings["dask"]
    e2e_ratio = timings["inline"] / (timings["dask"] + timings["startup"])
    rows = [
        ("per-run overhead, inline (1,000 no-op runs)", f"{overhead * 1e3:.2f} ms", "< 5 ms", overhead < 5e-3),
        ("  of which run_experiment alone", f"{run_part * 1e3:.2f} ms", "", None),
        ("  of which mark_running + write_result", f"{write_part * 1e3:.2f} ms", "", None),
        (f"inline, {args.cpu_runs} CPU-bound runs", f"{timings['inline']:.2f} s", "", None),
        (f"--workers 2, {args.cpu_runs} CPU-bound runs (warm)", f"{timings['dask']:.2f} s", "", None),
        ("local cluster start-up (incl. worker imports)", f"{timings['startup']:.2f} s", "", None),
        ("speed-up of --workers 2, warm cluster", f"{exec_ratio:.2f}x", ">= 1.6x", exec_ratio >= 1.6),
        ("speed-up of --workers 2, with start-up", f"{e2e_ratio:.2f}x", "", None),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"sweep engine overhead (medians of {args.repeats}; {os.cpu_count()} CPUs)")
    print(f"{'measure':<{width}}  {'value':>10}  {'target':>8}  ok")
    for label, value, target, ok in rows:
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"{label:<{width}}  {value:>10}  {target:>8}  {mark}")


if __name__ == "__main__":
    main()
