"""How much the sweep engine costs per run, and what ``--workers 2`` buys.

Two measurements, medians of ``--rounds`` alternating rounds (``_common``),
printed as tables of targets (``--json-out`` for ``run_all.py``):

1. Per-run overhead of the default execution (supervised worker processes):
   ``runner sweep`` (in this process, through the real command) over a no-op experiment, 1,000 runs and 10 runs; the
   difference divided by 990 is what one run costs the engine (planning, the
   ``pending`` row and its params, ``running``, the result's transaction,
   seeding, the hooks and the log line) with fixed costs (plugin loading,
   environment capture) cancelled out. Target: < 5 ms.
   Also shown, to explain it: ``run_experiment`` alone, the restore-and-check
   every run gets (:mod:`scratchlab.runner.isolation`: the baseline put back,
   the fingerprint compared) alone, and the two database writes alone, per run.
2. Speed-up of ``--workers 2`` (two supervised workers) over inline for a CPU-bound experiment: pure
   Python arithmetic, as the lessons' triple-loop and elementwise matmuls
   (which hold the interpreter, so inline uses one core however many torch
   threads it has). Measured on the execution engine with a warm cluster,
   and end to end with the cluster's start-up added. Target: >= 1.6x on 2 cores.

3. With ``--recycle N``: what replacing a worker costs, from ``N`` no-op runs with
   ``--max-runs-per-worker 1`` against the same runs on one worker:
   (T(recycled) - T(kept)) / N, medians of the rounds.

Run: ``python benchmarks/sweep_overhead.py`` (about a minute on 2 cores); exit
code 0 when both targets are met.
The module is also the plugin that registers the two benchmark experiments:
it puts its own folder on the import path and loads itself with ``--plugin``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _common import (
    Target,
    alternate,
    finish,
    format_value,
    median,
    parser,
    print_samples,
    print_table,
)

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
    register(
        Experiment(
            name="bench-spin",
            run=bench_spin,
            params={"loops": 2_000_000},
            description="pure-Python arithmetic",
        )
    )


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


def noop_sweep(folder: Path, n_runs: int, *flags: str) -> Callable[[], float]:
    """A case: one ``runner sweep FLAGS`` of ``n_runs`` no-op runs into a fresh database; its
    wall time."""
    counter = iter(range(10**9))

    def case() -> float:
        url = f"sqlite:///{folder}/noop-{n_runs}-{len(flags)}-{next(counter)}.db"
        return sweep_seconds(url, "--experiments", "bench-noop", "--repeat", str(n_runs), *flags)

    return case


def parts_per_run(folder: Path, n: int) -> tuple[float, float, float]:
    """Seconds per run of ``run_experiment`` alone, of the restore-and-check after it alone, and
    of the two database writes alone."""
    from scratchlab.core.records import RunResult
    from scratchlab.db import open_store
    from scratchlab.plugins.manager import load_plugins
    from scratchlab.runner.fingerprint import held_limit, plugin_modules
    from scratchlab.runner.isolation import Isolation
    from scratchlab.runner.plan import plan
    from scratchlab.runner.run_one import run_experiment
    from scratchlab.runner.spec import SweepSpec

    plugins = load_plugins([PLUGIN])
    runs = plan(SweepSpec(experiments=("bench-noop",), repeat=n), plugins.registry)
    started = time.perf_counter()
    results = [run_experiment(plugins, run) for run in runs]
    run_seconds = (time.perf_counter() - started) / n
    isolation = Isolation(plugin_modules(plugins), replaceable=True, held_limit=held_limit())
    try:
        checks = []
        for run in runs:
            isolation.begin(1)
            run_experiment(plugins, run)
            started = time.perf_counter()
            verdict = isolation.end()
            checks.append(time.perf_counter() - started)
            if verdict.note is not None:
                raise SystemExit(f"a no-op run changed its process: {verdict.note}")
        check_seconds = sum(checks) / n
    finally:
        isolation.close()
    with open_store(f"sqlite:///{folder}/parts.db") as store:
        sweep_id = store.create_sweep("parts", [], {}, {})
        ids = store.add_runs(sweep_id, runs)
        started = time.perf_counter()
        for run, result in zip(runs, results, strict=True):
            store.mark_running([ids[run.key]])
            store.write_result(ids[run.key], RunResult(**{**result.__dict__}))
        write_seconds = (time.perf_counter() - started) / n
    return run_seconds, check_seconds, write_seconds


def execution_case(
    folder: Path, name: str, backend, plugins, n_runs: int, loops: int
) -> Callable[[], float]:
    """A case: execute ``n_runs`` bench-spin runs on ``backend`` (stored first, not timed); its wall time."""
    from scratchlab.db import open_store
    from scratchlab.runner.execute import HookCaller, execute_sweep
    from scratchlab.runner.plan import plan
    from scratchlab.runner.progress import CountingReporter
    from scratchlab.runner.spec import SweepSpec

    spec = SweepSpec(
        experiments=("bench-spin",), repeat=n_runs, settings={"bench-spin": {"loops": loops}}
    )
    runs = plan(spec, plugins.registry)
    counter = iter(range(10**9))

    def case() -> float:
        label = f"{name}-{next(counter)}"
        with open_store(f"sqlite:///{folder}/{label}.db") as store:
            sweep_id = store.create_sweep(label, [], spec.to_json(), {})
            ids = store.add_runs(sweep_id, runs)
            reporter = CountingReporter()
            started = time.perf_counter()
            outcome = execute_sweep(
                store,
                {"sweep_id": sweep_id, "name": label},
                [(ids[r.key], r) for r in runs],
                backend,
                hooks=HookCaller(plugins, reporter.warn),
                reporter=reporter,
            )
            seconds = time.perf_counter() - started
        if outcome.status != "done":
            raise SystemExit(f"{label}: the sweep ended {outcome.status}")
        return seconds

    return case


#: the small sweep whose time is subtracted from the large one's: fixed costs cancel out
BASE_RUNS = 10


@dataclass
class Measured:
    """Everything one invocation measured, for the tables and the targets."""

    noop: dict[str, list[float]]  # wall times of the large and the small no-op sweep
    overhead: float  # seconds per run, from the difference of the two medians
    parts: tuple[float, float, float]  # per run: run_experiment, restore-and-check, db writes
    spin: dict[str, list[float]]  # wall times of the CPU-bound runs, inline and on 2 workers
    startup: float  # seconds to start the two workers, their imports included
    recycle: float | None  # seconds to replace a worker (None: not measured)


def parse_args(argv: list[str] | None):
    """The script's options: ``_common``'s and the sizes of the three measurements."""
    p = parser(__doc__.splitlines()[0], rounds=3)
    p.add_argument(
        "--runs", type=int, default=1000, help="no-op runs for the overhead (default 1000)"
    )
    p.add_argument(
        "--cpu-runs", type=int, default=12, help="CPU-bound runs for the speed-up (default 12)"
    )
    p.add_argument("--loops", type=int, default=5_000_000, help="iterations per CPU-bound run")
    p.add_argument(
        "--recycle",
        type=int,
        default=0,
        help="no-op runs for the worker-recycle cost (default: skip)",
    )
    return p.parse_args(argv)


def put_plugin_on_path() -> None:
    """Make this file, the plugin, importable by name here and in the worker processes."""
    sys.path.insert(0, str(HERE))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(HERE), os.environ.get("PYTHONPATH")])
    )


def measure_overhead(folder: Path, runs: int, rounds: int) -> tuple[dict[str, list[float]], float]:
    """The no-op sweeps of ``runs + BASE_RUNS`` and ``BASE_RUNS`` runs, alternating; their
    samples and the per-run overhead (difference of medians over ``runs``)."""
    large, small = f"{runs + BASE_RUNS} runs", f"{BASE_RUNS} runs"
    print(
        f"per-run overhead: {runs + BASE_RUNS} vs {BASE_RUNS} no-op runs, default (supervised)",
        file=sys.stderr,
    )
    noop = alternate(
        {large: noop_sweep(folder, runs + BASE_RUNS), small: noop_sweep(folder, BASE_RUNS)},
        rounds,
    )
    return noop, (median(noop[large]) - median(noop[small])) / runs


def measure_recycle(folder: Path, runs: int, rounds: int) -> float:
    """Seconds to replace a worker: ``runs`` no-op runs on one worker, replaced after every
    run against kept, difference of medians over ``runs``."""
    print(f"worker recycle: {runs} no-op runs, one worker each vs one", file=sys.stderr)
    one = ("--workers", "1")
    kept = noop_sweep(folder, runs, *one)
    recycled = noop_sweep(folder, runs, *one, "--max-runs-per-worker", "1")
    recycling = alternate({"kept": kept, "recycled": recycled}, rounds)
    return (median(recycling["recycled"]) - median(recycling["kept"])) / runs


def measure_speedup(
    folder: Path, cpu_runs: int, loops: int, rounds: int
) -> tuple[dict[str, list[float]], float]:
    """The CPU-bound runs inline and on two warm supervised workers, alternating; their samples
    and the workers' start-up seconds."""
    from scratchlab.plugins.manager import load_plugins
    from scratchlab.runner.inline import InlineBackend
    from scratchlab.runner.supervisor import SupervisedBackend

    plugins = load_plugins([PLUGIN])
    started = time.perf_counter()
    workers = SupervisedBackend(plugins, [PLUGIN], workers=2)
    try:
        # the first runs on each backend pay for imports (on the workers: torch and the plugins)
        execution_case(folder, "warm", workers, plugins, 2, loops)()
        startup = time.perf_counter() - started
        print(f"speed-up: {cpu_runs} CPU-bound runs, inline vs --workers 2", file=sys.stderr)
        inline = InlineBackend(plugins)
        spin = alternate(
            {
                "inline": execution_case(folder, "inline", inline, plugins, cpu_runs, loops),
                "--workers 2": execution_case(folder, "dask", workers, plugins, cpu_runs, loops),
            },
            rounds,
        )
    finally:
        workers.close()
    return spin, startup


def measure(args) -> Measured:
    """Every measurement the options ask for, in one temporary folder of databases."""
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        folder = Path(tmp)
        noop, overhead = measure_overhead(folder, args.runs, args.rounds)
        parts = parts_per_run(folder, args.runs)
        recycle = measure_recycle(folder, args.recycle, args.rounds) if args.recycle else None
        spin, startup = measure_speedup(folder, args.cpu_runs, args.loops, args.rounds)
    return Measured(noop, overhead, parts, spin, startup, recycle)


def print_breakdown(args, m: Measured) -> None:
    """The samples of both measurements and the table of what one run costs, part by part."""
    print()
    print_samples(m.noop, "s", title="no-op sweeps (wall time of the whole command)")
    print()
    print_samples(
        m.spin,
        "s",
        title=f"{args.cpu_runs} CPU-bound runs ({args.loops:,} pure-Python iterations each)",
    )
    print()
    inline, workers = median(m.spin["inline"]), median(m.spin["--workers 2"])
    run_part, check_part, write_part = m.parts
    rows = [
        ("run_experiment alone", format_value(run_part, "s")),
        ("restore-and-check after a run (isolation)", format_value(check_part, "s")),
        ("mark_running + write_result", format_value(write_part, "s")),
        ("worker start-up, incl. their imports", format_value(m.startup, "s")),
        ("speed-up counting the start-up once", f"{inline / (workers + m.startup):.2f}x"),
    ]
    if m.recycle is not None:
        rows.append(("replacing a worker (--max-runs-per-worker 1)", format_value(m.recycle, "s")))
    print_table(("part", "per run / once"), rows, title="breakdown")


def targets(args, m: Measured) -> list[Target]:
    """The two targets: the per-run overhead and the speed-up of two workers."""
    large = args.runs + BASE_RUNS
    return [
        Target(
            "per-run overhead, supervised workers, db writes included",
            m.overhead,
            5e-3,
            "<=",
            "s",
            note=f"(T({large} runs) - T({BASE_RUNS} runs)) / {args.runs},"
            f" medians of {args.rounds} rounds",
        ),
        Target(
            "speed-up of --workers 2 over inline, CPU-bound",
            median(m.spin["inline"]) / median(m.spin["--workers 2"]),
            1.6,
            ">=",
            "x",
            note=f"warm supervised workers, medians of {args.rounds} rounds, {os.cpu_count()} CPUs",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    """Measure, print the tables, return the exit code (0 when every target is met)."""
    args = parse_args(argv)
    put_plugin_on_path()
    measured = measure(args)
    print_breakdown(args, measured)
    return finish(
        "sweep_overhead", targets(args, measured), json_out=args.json_out, rounds=args.rounds
    )


if __name__ == "__main__":
    sys.exit(main())
