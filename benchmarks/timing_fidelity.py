"""Timing fidelity: what ``runner sweep`` stores against a bare ``torch.utils.benchmark``.

\b
    python benchmarks/timing_fidelity.py                 # 7 rounds on the CPU
    python benchmarks/timing_fidelity.py --rounds 3 --matmul einsum,torch   # a quick look
    python benchmarks/timing_fidelity.py --from-db sqlite:///gpu.db --device cuda   # gpu_check.sh

Each round runs a real sweep in this process (``runner --db <temp> sweep
--plugins matmul --experiments matmul -s matmul.shapes=5x784x10``, through
click's ``CliRunner``; the runs execute wherever the sweep's default puts
them) and reads back the median, IQR and verdict it stored for each strategy;
and, just before and just after it, times the same strategy on the same shape with a
bare ``Timer("fn(a, b)").blocked_autorange()`` at the thread count the sweep
recorded. A first sweep is a warm-up (and tells the thread count); it is not
counted.

The estimator is paired (:mod:`_fidelity`): each round gives one stored/bare ratio per
strategy (the stored median of that round's sweep over the bare median measured beside it,
the one of the two whose probe reading is nearer), and the target is the median of those
per-round ratios, within 10%, shown with every round's ratio. A round counts only when both
sides found the machine in the same state: the calibration probe (``torch.mm`` on this shape
at the same thread count) is read around and between each side's blocks, and the two
readings must agree within 20%. On the 2-core
machine at load 0.5 a µs-scale 2-thread median was either about 8.7 or about 12.3 µs (1.4x)
on either side from one round to the next (the run of 2026-12-03: torch 12.4/8.8 then
8.7/11.8 µs stored/bare in consecutive rounds), while both sides ran with the same settings
and the driver sat idle: the machine's state at the moment, seconds apart for the two sides
of a round, which the probe reads on both. At least 3 rounds must pair, so a stored side
that always met a busier machine than the bare one (its own doing) fails.

Both sides also report what they ran under (:func:`scratchlab.runner.timing.conditions`:
thread counts, torch's flags, affinity, nice, thread environment variables, the Timer's
``min_run_time``, calls per block and blocks); a target fails if a setting differs. The
driver's own CPU time during the sweeps is printed (it must not take a core from its worker).

``--skew F`` multiplies every stored median by F as it is read back: the check that
the statistic still catches stored timings that are off (``--skew 1.2`` must fail).

With ``--from-db`` it measures once against the timings already in a
database instead (every strategy and shape there, on ``--device``): that is
the last step of ``gpu_check.sh``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from _common import Target, finish, parser, print_table, ratio, set_threads
from _fidelity import (
    MISSING,
    NAN,
    PROBE_MATCH,
    Measured,
    closest,
    conditions_compared,
    fidelity_targets,
    ratio_rows,
)

SHAPE = "5x784x10"
#: strategies shown in the per-round progress line
STEADY = ("einsum", "torch")
#: a strategy's bare timing gets the experiment's own default min_run_time
MIN_RUN_TIME = 0.2


def sweep_argv(
    url: str,
    shapes: str,
    device: str = "cpu",
    strategies: Sequence[str] | None = None,
    threads: int | None = None,
) -> list[str]:
    """The ``runner`` arguments of one fidelity sweep (only the matmul experiment: train is not
    timed here): every strategy, or ``strategies``; ``threads`` torch threads, or the sweep's own
    ``auto``."""
    chosen = ["--matmul", ",".join(strategies)] if strategies else ["--plugins", "matmul"]
    return [
        "--db",
        url,
        "sweep",
        *chosen,
        "--experiments",
        "matmul",
        "--device",
        device,
        "-s",
        f"matmul.shapes={shapes}",
        *(["--threads", str(threads)] if threads else []),
        "--quiet",
    ]


def run_sweep(url: str, strategies: Sequence[str] | None = None, threads: int | None = None):
    """One real ``runner sweep`` in this process; raises with its output if it did not succeed.
    Returns (wall seconds, CPU seconds this process used meanwhile): the driver's share of a CPU
    while its worker timed."""
    from click.testing import CliRunner

    from scratchlab.runner.cli import cli

    cpu, wall = time.process_time(), time.perf_counter()
    result = CliRunner().invoke(cli, sweep_argv(url, SHAPE, strategies=strategies, threads=threads))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if result.exit_code != 0:
        raise RuntimeError(f"runner sweep exited with {result.exit_code}:\n{result.output}")
    return wall, cpu


def stored_timings(url: str, sweep_id: int | None = None):
    """Rows (strategy, shape, device, median, iqr, threads, n, quality, conditions) of the done
    matmul timings, of one sweep or (None) of every sweep; ``conditions`` is what the timing
    ran under (:func:`scratchlab.runner.timing.conditions`; empty for an older database)."""
    from scratchlab.db import open_store, queries

    with open_store(url, read_only=True) as store:
        frame = queries.timings(store, sweep_ids=sweep_id)
    frame = frame[frame["experiment"] == "matmul"]
    return [
        {
            "strategy": row.matmul,
            "shape": row.shape,
            "device": row.device,
            "median": float(row.median),
            "iqr": float(row.iqr),
            "threads": int(row.threads) if row.threads == row.threads else None,
            "n": int(row.n),
            "quality": getattr(row, "quality", "ok"),
            "conditions": evidence(row).get("conditions", {}),
            "probe_s": float(evidence(row).get("probe_s") or NAN),
        }
        for row in frame.itertuples()
    ]


def evidence(row) -> dict:
    """The evidence a stored timing keeps (its quality_json), empty where there is none."""
    return json.loads(row.quality_json or "{}")


def latest_sweep(url: str) -> int:
    """The id of the newest sweep in the database."""
    from scratchlab.db import open_store, queries

    with open_store(url, read_only=True) as store:
        return int(queries.list_sweeps(store)["sweep_id"].max())


def strategy_fn(plugins, name: str):
    """The strategy's callable exactly as a run gets it (bound with its default params)."""
    from scratchlab.plugins.types import bind

    return bind(plugins.registry.get("matmul", name).component).fn


def bare_timing(fn, shape: str, device: str, threads: int | None) -> Measured:
    """``fn(a, b)`` on random operands of ``shape``, timed by a bare Timer at ``threads``.

    The verdict comes from the same watch the stored side has (the probe
    before, between blocks and after; the threads' CPU wait), kept outside the
    Timer's timed blocks, so the bare number stays bare and a round spoiled by
    contention can be told apart on this side too. The conditions are read the way
    the stored side reads them, at the thread count the Timer runs with.
    """
    import torch
    from torch.utils.benchmark import Timer

    from scratchlab.runner.calibration import Watch
    from scratchlab.runner.timing import conditions

    m, k, n = (int(d) for d in shape.split("x"))
    a = torch.randn(m, k, device=device)
    b = torch.randn(k, n, device=device)
    threads = threads or torch.get_num_threads()
    timer = Timer(stmt="fn(a, b)", globals={"fn": fn, "a": a, "b": b}, num_threads=threads)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        settings = conditions()
    finally:
        torch.set_num_threads(before)
    watch = Watch(threads)
    watch.start()
    measurement = timer.blocked_autorange(
        min_run_time=MIN_RUN_TIME, callback=lambda *_: watch.between()
    )
    verdict, watched = watch.verdict(measurement.median, measurement.iqr)
    timer_settings = {
        "number_per_run": measurement.number_per_run,
        "blocks": len(measurement.times),
        "min_run_time": MIN_RUN_TIME,
    }
    ran = {**settings, **timer_settings}
    return Measured(measurement.median, measurement.iqr, verdict, ran, watched["probe_s"])


@dataclass
class Rounds:
    """Every round's measurements, per strategy and side, and what the driver cost."""

    stored: dict[str, list[Measured]] = field(default_factory=dict)
    bare: dict[str, list[Measured]] = field(default_factory=dict)
    sweep_wall_s: float = 0.0  # wall time of the counted sweeps
    driver_cpu_s: float = 0.0  # CPU time this process (the sweeps' driver) used meanwhile


def stored_round(url: str, names: Sequence[str], rounds: Rounds, threads: int | None, strategies):
    """One counted sweep; its timings join ``rounds.stored`` (a strategy it did not store keeps
    its place as :data:`MISSING`: rounds pair by index)."""
    wall, cpu = run_sweep(url, strategies, threads)
    rounds.sweep_wall_s += wall
    rounds.driver_cpu_s += cpu
    rows = {row["strategy"]: row for row in stored_timings(url, latest_sweep(url))}
    for name in names:
        row = rows.get(name)
        rounds.stored.setdefault(name, []).append(
            MISSING
            if row is None
            else Measured(
                row["median"], row["iqr"], row["quality"], row["conditions"], row["probe_s"]
            )
        )


def progress_line(rounds: Rounds, index: int, total: int) -> str:
    """``round 3/7 (stored/bare): torch 12.4/8.8 us, 1000/100 calls, probe 12.1/8.9 us, ...``."""
    parts = []
    for name in STEADY:
        if name in rounds.stored and name in rounds.bare:
            s, b = rounds.stored[name][-1], rounds.bare[name][-1]
            calls = "/".join(str(x.conditions.get("number_per_run", "?")) for x in (s, b))
            parts.append(
                f"{name} {s.median * 1e6:.1f}/{b.median * 1e6:.1f} us, {calls} calls,"
                f" probe {s.probe_s * 1e6:.1f}/{b.probe_s * 1e6:.1f} us"
            )
    return f"  round {index + 1}/{total} (stored/bare): {'; '.join(parts)}"


def bare_pass(plugins, names: Sequence[str], threads: int | None) -> dict[str, Measured]:
    """Every strategy in ``names`` timed once by the bare Timer, in that order."""
    return {name: bare_timing(strategy_fn(plugins, name), SHAPE, "cpu", threads) for name in names}


def fidelity_rounds(
    url: str,
    plugins,
    rounds: int,
    threads: int | None = None,
    strategies: Sequence[str] | None = None,
) -> Rounds:
    """A warm-up sweep, then ``rounds`` rounds of: the bare timings, a stored sweep, the bare
    timings again; each stored timing is paired with the bare one of its round taken in the
    machine's state nearest its own (:func:`_fidelity.closest`, by the probe).

    The bare passes time the strategies in the reverse of the order the sweep ran them (it
    runs the slowest first), so the pass before the sweep ends with the strategy the sweep
    times first and the pass after it begins with the one the sweep timed last: every
    strategy has a bare timing seconds from its stored one (the machine's state changes
    within seconds)."""
    names = list(strategies or plugins.registry.names("matmul"))
    out = Rounds()
    # warm-up: imports, the worker, the probe's calibration; and the threads it times at
    run_sweep(url, strategies, threads)
    warm = stored_timings(url, latest_sweep(url))
    threads = next((row["threads"] for row in warm), threads)
    swept = [row["strategy"] for row in warm]  # in the order the sweep timed them
    bare_order = [*reversed(swept), *(name for name in names if name not in swept)]
    for index in range(rounds):
        before = bare_pass(plugins, bare_order, threads)
        stored_round(url, names, out, threads, strategies)
        after = bare_pass(plugins, bare_order, threads)
        for name in names:
            pair = closest(out.stored[name][-1], [before[name], after[name]])
            out.bare.setdefault(name, []).append(pair)
        print(progress_line(out, index, rounds), file=sys.stderr, flush=True)
    return out


def from_db(url: str, device: str) -> int:
    """Compare every stored matmul timing on ``device`` in ``url`` with a bare measurement, once."""
    from scratchlab.plugins.manager import load_plugins

    plugins = load_plugins()
    rows, targets = [], []
    for row in stored_timings(url):
        if row["device"].split(":")[0] != device.split(":")[0]:
            continue
        bare = bare_timing(
            strategy_fn(plugins, row["strategy"]), row["shape"], row["device"], row["threads"]
        )
        bare_median, bare_iqr = bare.median, bare.iqr
        r = ratio(row["median"], bare_median)
        rows.append(
            (
                row["strategy"],
                row["shape"],
                f"{row['median'] * 1e6:.2f} us",
                f"{row['iqr'] * 1e6:.2f} us",
                row["n"],
                f"{bare_median * 1e6:.2f} us",
                f"{bare_iqr * 1e6:.2f} us",
                f"{r:.3f}",
            )
        )
        targets.append(
            Target(
                f"{row['strategy']} {row['shape']} stored / bare",
                r,
                0.10,
                op="within",
                note=f"one stored run against one bare measurement on {row['device']}",
            )
        )
    if not rows:
        raise SystemExit(f"error: no done matmul timings on {device} in {url}")
    print_table(
        (
            "strategy",
            "shape",
            "stored median",
            "stored IQR",
            "replicates",
            "bare median",
            "bare IQR",
            "stored/bare",
        ),
        rows,
        title=f"stored vs bare torch.utils.benchmark on {device}",
    )
    return finish("timing_fidelity", targets, json_out=None)


def arguments(argv: list[str] | None):
    """The script's options."""
    p = parser(__doc__.split("\n\n")[0], rounds=7, threads=True)
    p.add_argument(
        "--from-db", metavar="URL", help="compare against the timings already stored in URL"
    )
    p.add_argument(
        "--device", default="cpu", help="device of the --from-db comparison (default cpu)"
    )
    p.add_argument(
        "--skew",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply every stored median by F (1.2: the target must fail)",
    )
    p.add_argument(
        "--matmul",
        metavar="NAMES",
        help="only these strategies (comma-separated; default every one), e.g. einsum,torch",
    )
    return p.parse_args(argv)


def report(measured: Rounds, rounds: int, skew: float) -> list[Target]:
    """Print the ratio tables and the conditions of both sides; the targets."""
    rows, targets = fidelity_targets(measured.stored, measured.bare, rounds, skew)
    print_table(
        ("strategy", "stored/bare", "paired", "their range", "IQR", "every round", "stored ok",
         "bare ok"),
        rows,
        title=f"median of the stored/bare ratios of the paired rounds, of {rounds}",
    )  # fmt: skip
    print_table(
        ("strategy", *(f"r{i + 1}" for i in range(rounds))),
        ratio_rows(measured.stored, measured.bare, skew),
        title="stored/bare in each round (* not paired: the sides' probes differ by over"
        f" {PROBE_MATCH - 1:.0%}), and the probe's time per call, stored/bare",
    )
    rows, same = conditions_compared(measured.stored, measured.bare)
    print_table(
        ("condition", "stored side (value xrounds)", "bare side", "same"),
        rows,
        title="what each side ran with (every strategy and round)",
    )
    share = measured.driver_cpu_s / measured.sweep_wall_s if measured.sweep_wall_s else NAN
    print(
        f"the sweeps' driver (this process) used {measured.driver_cpu_s:.2f} s of CPU in"
        f" {measured.sweep_wall_s:.1f} s of sweeps ({share:.0%} of one CPU) while its worker timed"
    )
    return [*targets, same]


def main(argv: list[str] | None = None) -> int:
    """Run the rounds (or the one-off ``--from-db`` comparison) and print the targets."""
    args = arguments(argv)
    threads = set_threads(args.threads)
    if args.from_db:
        return from_db(args.from_db, args.device)

    import torch

    from scratchlab.plugins.manager import load_plugins

    plugins = load_plugins()
    strategies = args.matmul.split(",") if args.matmul else None
    with tempfile.TemporaryDirectory(prefix="scratchlab-fidelity-") as folder:
        url = f"sqlite:///{Path(folder) / 'fidelity.db'}"
        measured = fidelity_rounds(url, plugins, args.rounds, args.threads, strategies)
    print(
        f"\ntorch {torch.__version__}, {threads} threads here, --threads {args.threads or 'auto'}"
        f" for the sweeps; shape {SHAPE}; {args.rounds} rounds, each a sweep between two bare"
        " passes"
    )
    targets = report(measured, args.rounds, args.skew)
    return finish(
        "timing_fidelity",
        targets,
        json_out=args.json_out,
        rounds=args.rounds,
        extra={
            side: {n: [asdict(m) for m in ms] for n, ms in getattr(measured, side).items()}
            for side in ("stored", "bare")
        },
    )


if __name__ == "__main__":
    sys.exit(main())
