"""Training overhead: the ``train`` experiment against the lessons' hand-written loop.

\b
    python benchmarks/train_overhead.py              # 30 alternating rounds, 3 memory rounds
    python benchmarks/train_overhead.py --profile    # where our side spends its time (cProfile)

The reference is the lessons' loop (03_minibatch_training) written out here by
hand: ``nn.Linear -> relu -> nn.Linear``, ``F.cross_entropy``,
``loss.backward()``, ``with torch.no_grad(): for p in model.parameters():
p -= p.grad * lr``, ``model.zero_grad()``; one epoch, then the valid loss and
accuracy as the lessons' ``fit`` prints them; ``bs``, ``lr`` and ``hidden``
are the experiment's defaults (the lessons': 64, 0.5, 50).
It starts from the same weights as the experiment (the seed, then Kaiming
normal drawn in the same order: ``lin1`` with gain sqrt(2), ``lin2`` with
gain 1, biases zero) on the same ``mnist-5k`` data, so both sides see the
same batch losses (the script checks the first logged ones: equal numbers mean
equal work).

Our side is ``scratchlab.runner.run_one.run_experiment`` on the ``train`` run
that ``runner sweep --experiments train --matmul torch`` plans (defaults,
statistics off), and the same with ``stats_every`` = steps per epoch. Each
case is timed end to end (model set-up, the epoch, validation, and for ours
the run context and the result), alternating round by round; the targets are
ratios of medians. Peak memory is measured in a fresh subprocess per run: the
data is loaded, the peak-RSS count restarted, one run done; the target is on
the run's peak above the loaded data (the whole process's peak, dominated by
torch and the data, is shown too).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys

import torch
from _common import (
    Target,
    alternate,
    finish,
    median,
    parser,
    print_samples,
    print_table,
    ratio,
    rotated,
    set_threads,
    wall_time,
)
from _lessons_loop import SEED, bare_loop
from _rss import current_rss_bytes, peak_rss_bytes, reset_peak_rss

DATASET = "mnist-5k"
#: the components the hand-written loop hard-codes; the run must use exactly these
LOOP_COMPONENTS = {
    "init": "kaiming-normal",
    "activation": "relu",
    "loss": "cross-entropy",
    "dataset": DATASET,
}


def load_plugins():
    """The plugin set the runner uses (built-ins and installed plugins)."""
    from scratchlab.plugins.manager import load_plugins as load

    return load()


def load_data(plugins):
    """The ``mnist-5k`` splits exactly as the experiment gets them (same loader, default params)."""
    from scratchlab.plugins.types import bind

    return bind(plugins.registry.get("dataset", DATASET).component).load()


def steps_per_epoch(data, bs: int) -> int:
    """Optimiser steps in one epoch at batch size ``bs``."""
    return math.ceil(data.x_train.shape[0] / bs)


def planned_train(plugins, stats_every: int = 0):
    """The ``train`` run that ``runner sweep --experiments train --matmul torch`` plans."""
    from scratchlab.runner.plan import plan
    from scratchlab.runner.spec import SweepSpec

    settings = {"train": {"stats_every": stats_every}} if stats_every else {}
    (run,) = plan(
        SweepSpec(
            experiments=("train",), components={"matmul": ("torch",)}, settings=settings, seed=SEED
        ),
        plugins.registry,
    )
    chosen = {c: run.components[c] for c in LOOP_COMPONENTS}
    if chosen != LOOP_COMPONENTS or run.params["epochs"] != 1 or run.params["shuffle"]:
        # the hand-written loop mirrors these defaults; comparing against other work would mislead
        raise SystemExit(
            f"error: the train defaults changed ({chosen}, {run.params}); update this script"
        )
    return run


def ours(plugins, planned) -> dict:
    """One ``run_experiment`` of ``planned``: the last value of each metric, and
    ``train_loss`` as step -> value."""
    from scratchlab.runner.run_one import run_experiment

    result = run_experiment(plugins, planned)
    if result.status != "done":
        raise RuntimeError(f"train run ended {result.status}: {result.reason}")
    values: dict = {"train_loss": {}}
    for metric in result.metrics:
        if metric.name == "train_loss":
            values["train_loss"][metric.step] = metric.value
        else:
            values[metric.name] = metric.value
    return values


def check_same_work(plugins, data, planned, steps: int = 4) -> str:
    """A line saying whether both sides compute the same thing: the batch losses
    of the first ``steps`` logged steps agree to 1e-3.

    Only the first few: at lr 0.5 the loop is chaotic enough that the last bit of
    rounding (PyTorch's fused ``addmm`` in ``nn.Linear`` against the
    experiment's ``x @ w + b``) grows into visibly different losses after some
    40 steps, although both do the same arithmetic.
    """
    log_every = planned.params["log_every"]
    bare, mine = bare_loop(data, planned.params, log_every=log_every), ours(plugins, planned)
    compared = sorted(mine["train_loss"])[:steps]
    pairs = [(s, bare["train_loss"].get(s, math.nan), mine["train_loss"][s]) for s in compared]
    same = bool(pairs) and all(math.isclose(b, o, rel_tol=1e-3) for _, b, o in pairs)
    shown = ", ".join(f"step {s}: {b:.4f}/{o:.4f}" for s, b, o in pairs)
    verdict = (
        "same computation"
        if same
        else "DIFFERENT computations: the comparison is not like for like"
    )
    return (
        f"batch loss bare/ours at {shown}: {verdict}; after the epoch, valid accuracy"
        f" {bare['valid_accuracy']:.3f}/{mine['valid_accuracy']:.3f}"
    )


# ------------------------------------------------------------------ memory


def memory_child(side: str) -> None:
    """In a fresh process: load the data, then do one run of ``side``; print its peak RSS.

    Both sides import the same modules and hold the same splits in memory
    before the peak count restarts (ours loads them into the run context's own
    cache, which ``run_experiment`` then uses), so ``run`` is what the run
    itself adds at its peak. Prints ``process=<bytes> base=<bytes>
    run=<bytes> reset=<0|1>``: the process's peak from its start, the resident
    set when the count restarted, and the peak above it.
    """
    from scratchlab.plugins.types import bind
    from scratchlab.runner.rundata import load_dataset

    plugins = load_plugins()
    planned = planned_train(plugins)
    if side == "bare":
        data = load_data(plugins)
    else:
        entry = plugins.registry.get("dataset", DATASET)
        load_dataset(bind(entry.component), entry.version)
    process_before = peak_rss_bytes()
    reset = reset_peak_rss()
    base = current_rss_bytes()
    if side == "bare":
        bare_loop(data, planned.params)
    else:
        ours(plugins, planned)
    run_peak = peak_rss_bytes()
    print(
        f"process={max(process_before, run_peak)} base={base} run={run_peak - base} reset={int(reset)}"
    )


def measure_memory(rounds: int) -> dict[str, list[dict[str, int]]]:
    """Run each side in ``rounds`` fresh subprocesses, alternating; what :func:`memory_child` printed."""
    results: dict[str, list[dict[str, int]]] = {"bare": [], "train": []}
    for index in range(rounds):
        for side in rotated(list(results), index):
            out = subprocess.run(
                [sys.executable, __file__, "--memory-child", side],
                capture_output=True,
                text=True,
                check=False,
            )
            line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
            if out.returncode != 0 or not line.startswith("process="):
                raise RuntimeError(f"memory run of {side} failed: {out.stderr.strip()[-2000:]}")
            results[side].append(
                {key: int(value) for key, value in (item.split("=") for item in line.split())}
            )
    return results


# ----------------------------------------------------------------- profile


def profile_ours(plugins, planned, runs: int = 20) -> None:
    """Print where ``run_experiment`` spends its time over ``runs`` runs (cProfile, by cumulative time)."""
    import cProfile
    import pstats

    ours(plugins, planned)  # warm: data cache, lazy imports
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        ours(plugins, planned)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def inner_epoch_times(plugins, data, planned, rounds: int) -> dict:
    """The training steps alone: bare timed around its loop, ours from its ``epoch_time_s`` metric."""
    bare_times, our_times = [], []
    for index in range(rounds):
        for side in rotated(["bare", "train"], index):
            if side == "bare":
                bare_times.append(bare_loop(data, planned.params)["epoch_time_s"])
            else:
                our_times.append(ours(plugins, planned)["epoch_time_s"])
    return {
        "bare": bare_times,
        "train": our_times,
        "bare_median": median(bare_times),
        "train_median": median(our_times),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options: ``_common``'s (rounds, threads, JSON), memory rounds, profiling."""
    p = parser(__doc__.split("\n\n")[0], rounds=30, threads=True)
    p.add_argument(
        "--memory-rounds", type=int, default=3, help="fresh-process runs per side (default 3)"
    )
    p.add_argument("--profile", action="store_true", help="profile our side with cProfile and stop")
    p.add_argument("--memory-child", choices=("bare", "train"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def print_setup(data, plain, steps: int) -> None:
    """The line that says what both sides train: torch, threads, rows, hyper-parameters."""
    hyper = ", ".join(f"{k} {plain.params[k]}" for k in ("bs", "lr", "hidden"))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads;"
        f" {data.x_train.shape[0]} training rows,"
        f" {hyper}, {steps} steps per epoch; stats_every={steps} for the stats case"
    )


def time_runs(plugins, data, plain, with_stats, rounds: int) -> dict[str, list[float]]:
    """The three cases end to end, alternating round by round; prints and returns the samples."""
    samples = alternate(
        {
            "bare loop": wall_time(lambda: bare_loop(data, plain.params)),
            "train": wall_time(lambda: ours(plugins, plain)),
            "train + stats": wall_time(lambda: ours(plugins, with_stats)),
        },
        rounds,
        warmup=2,
    )
    print()
    print_samples(
        samples, "s", title=f"one run (set-up, 1 epoch, validation), {rounds} alternating rounds"
    )
    return samples


def print_memory(
    memory: dict[str, list[dict[str, int]]], rounds: int
) -> dict[str, dict[str, float]]:
    """The peak-memory table; returns each side's medians in MiB (``run`` and ``process``)."""
    mib = {
        side: {key: median([r[key] for r in runs]) / 2**20 for key in ("process", "run")}
        for side, runs in memory.items()
    }
    print()
    print_table(
        ("side", "run's peak above loaded data", "process peak"),
        [(side, f"{m['run']:.2f} MiB", f"{m['process']:.1f} MiB") for side, m in mib.items()],
        title=f"peak resident memory, fresh process per run, median of {rounds}",
    )
    if not all(r["reset"] for runs in memory.values() for r in runs):
        print("  (the peak count could not be restarted here: run peaks include the data loading)")
    return mib


def print_inner(inner: dict) -> None:
    """The training steps alone, side by side (shown, not a target)."""
    print(
        f"\ninner epoch only (training steps, no set-up or validation),"
        f" median of {len(inner['bare'])}:"
        f" bare {inner['bare_median'] * 1e3:.1f} ms, train {inner['train_median'] * 1e3:.1f} ms,"
        f" ratio {ratio(inner['train_median'], inner['bare_median']):.3f}x (not a target)"
    )


def targets(
    samples: dict[str, list[float]], mib: dict, rounds: int, memory_rounds: int
) -> list[Target]:
    """The three targets: run time with and without stats, and the run's peak memory."""
    bare = median(samples["bare loop"])
    rounds_note = f"medians of {rounds} alternating rounds, end to end"
    train, whole = mib["train"], mib["bare"]
    return [
        Target(
            "train / bare loop, run time",
            ratio(median(samples["train"]), bare),
            1.10,
            note=rounds_note,
        ),
        Target(
            "train + stats once per epoch / bare loop",
            ratio(median(samples["train + stats"]), bare),
            1.25,
            note=rounds_note,
        ),
        Target(
            "train / bare loop, peak memory of the run",
            ratio(train["run"], whole["run"]),
            1.2,
            note=f"peak RSS above the loaded data, median of {memory_rounds} fresh processes per side;"
            f" whole-process peaks {train['process']:.1f} vs {whole['process']:.1f} MiB"
            f" ({ratio(train['process'], whole['process']):.3f}x)",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    """Measure the three cases and the memory, print the targets."""
    args = parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child)
        return 0
    set_threads(args.threads)
    plugins = load_plugins()
    data = load_data(plugins)
    plain = planned_train(plugins)
    steps = steps_per_epoch(data, plain.params["bs"])
    with_stats = planned_train(plugins, stats_every=steps)
    if args.profile:
        profile_ours(plugins, plain)
        return 0
    print_setup(data, plain, steps)
    print(check_same_work(plugins, data, plain))
    samples = time_runs(plugins, data, plain, with_stats, args.rounds)
    inner = inner_epoch_times(plugins, data, plain, rounds=min(args.rounds, 10))
    memory = measure_memory(args.memory_rounds)
    mib = print_memory(memory, args.memory_rounds)
    print_inner(inner)
    return finish(
        "train_overhead",
        targets(samples, mib, args.rounds, args.memory_rounds),
        json_out=args.json_out,
        rounds=args.rounds,
        extra={"samples": samples, "memory": memory},
    )


if __name__ == "__main__":
    sys.exit(main())
