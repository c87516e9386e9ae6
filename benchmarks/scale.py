"""Scale: ``runner runs`` and the database size at 1,000, 10,000 and 100,000 runs.

\b
    python benchmarks/scale.py                        # 1k, 10k and 100k runs, 5 rounds
    python benchmarks/scale.py --sizes 100000 --rounds 3

For each size, a database from :mod:`_bigdb` (cached after the first build:
100 metric points per run, so 10,000,000 at 100,000 runs, plus per-layer
statistics and timings with replicates) and, alternating round by round as
fresh subprocesses against ``python -c pass``:

- ``runner runs`` (the newest 50 runs, the default listing);
- ``runner runs --experiment train --where valid_accuracy>=0.85 --sort
  valid_accuracy --desc`` (a filter and a sort on a final metric: the query
  that has to look at the metrics table).

Targets at the largest size (issue 15): each command within 1 s of ``python
-c pass`` (differences of medians). Also shown: the database size per run and
how each cost grows from one size to the next (the growth curve of
docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import sys

from _bigdb import cached
from _commands import runner_executable
from _common import (
    Target,
    alternate,
    finish,
    format_value,
    median,
    parser,
    print_table,
    subprocess_time,
)

SIZES = (1_000, 10_000, 100_000)
FILTERED = [
    "runs",
    "--experiment",
    "train",
    "--where",
    "valid_accuracy>=0.85",
    "--sort",
    "valid_accuracy",
    "--desc",
]
LIMIT_S = 1.0


def measure(n_runs: int, rounds: int) -> dict[str, float]:
    """Median wall times (over python -c pass) and the file size of the ``n_runs`` database."""
    path = cached(n_runs)
    url = f"sqlite:///{path}"
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "runner runs": [runner_executable(), "--db", url, "runs"],
        "runner runs filtered+sorted": [runner_executable(), "--db", url, *FILTERED],
    }
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    cases = {name: subprocess_time(argv, cpu=cpu[name]) for name, argv in commands.items()}
    print(f"{n_runs:,} runs:", file=sys.stderr)
    samples = alternate(cases, rounds, warmup=1)
    base, cpu_base = median(samples["python -c pass"]), median(cpu["python -c pass"][1:])
    return {
        "runs_s": median(samples["runner runs"]) - base,
        "filtered_s": median(samples["runner runs filtered+sorted"]) - base,
        # the warm-up round is left out here as alternate() leaves it out of the samples
        "runs_cpu_s": median(cpu["runner runs"][1:]) - cpu_base,
        "filtered_cpu_s": median(cpu["runner runs filtered+sorted"][1:]) - cpu_base,
        "python_s": base,
        "bytes": float(os.path.getsize(path)),
    }


def growth(previous: float, current: float, size_ratio: float) -> str:
    """How a cost grew against the work: ``x3.1 for x10``."""
    return f"x{current / previous:.1f} for x{size_ratio:g}" if previous > 0 else ""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options: ``_common``'s and the run counts."""
    p = parser(__doc__.split("\n\n")[0], rounds=5)
    p.add_argument(
        "--sizes", default=",".join(str(s) for s in SIZES), help="comma-separated run counts"
    )
    return p.parse_args(argv)


#: the growth table's columns, one row per size
GROWTH_HEADERS = (
    "runs",
    "metric points",
    "database",
    "per run",
    "runs - python",
    "(CPU)",
    "growth",
    "filtered - python",
    "(CPU)",
    "growth",
    "size growth",
)


def growth_rows(results: dict[int, dict[str, float]]) -> list[tuple[str, ...]]:
    """One row per size (ascending): the costs and how each grew from the size before."""
    rows, previous = [], None
    for n, r in sorted(results.items()):
        grew = {}
        if previous is not None:
            grew = {
                k: growth(results[previous][k], r[k], n / previous)
                for k in ("runs_s", "filtered_s", "bytes")
            }
        rows.append(
            (
                f"{n:,}",
                f"{n * 100:,}",
                format_value(r["bytes"], "B"),
                f"{r['bytes'] / n / 1024:.1f} KiB",
                f"{r['runs_s']:.3f} s",
                f"{r['runs_cpu_s']:.3f} s",
                grew.get("runs_s", ""),
                f"{r['filtered_s']:.3f} s",
                f"{r['filtered_cpu_s']:.3f} s",
                grew.get("filtered_s", ""),
                grew.get("bytes", ""),
            )
        )
        previous = n
    return rows


def targets(largest: int, r: dict[str, float], rounds: int) -> list[Target]:
    """Issue 15's targets at the largest size: each command within 1 s of ``python -c pass``."""
    note = f"difference of medians over {rounds} rounds, {largest:,} runs"
    filtered = f"runner runs with a metric filter and sort ({largest:,} runs) minus python -c pass"
    return [
        Target(
            f"runner runs ({largest:,} runs) minus python -c pass",
            r["runs_s"],
            LIMIT_S,
            unit="s",
            note=note,
        ),
        Target(filtered, r["filtered_s"], LIMIT_S, unit="s", note=note),
        # the same in CPU time: what the command costs itself, whatever else keeps the machine busy
        Target(
            f"{filtered}, CPU time",
            r["filtered_cpu_s"],
            LIMIT_S,
            unit="s",
            note=note.replace("difference", "CPU-time difference"),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    """Measure every size, print the growth table and the targets at the largest size."""
    args = parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    results = {n: measure(n, args.rounds) for n in sizes}
    print()
    print_table(
        GROWTH_HEADERS,
        growth_rows(results),
        title="runner runs over python -c pass, wall (and CPU) medians of"
        f" {args.rounds} alternating rounds",
    )
    return finish(
        "scale",
        targets(sizes[-1], results[sizes[-1]], args.rounds),
        json_out=args.json_out,
        rounds=args.rounds,
        extra={"results": {str(n): v for n, v in results.items()}},
    )


if __name__ == "__main__":
    sys.exit(main())
