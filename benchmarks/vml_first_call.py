"""The gradcheck run in fresh processes, with and without oneMKL's vector-math kernels resolved
first: how often the same run key stores another ``max_rel_err``.

\b
    python benchmarks/vml_first_call.py              # 30 rounds, about 3 minutes on 2 cores
    python benchmarks/vml_first_call.py --rounds 60

Each round starts one process per side, alternating. Each process runs the built-in
``gradcheck`` (relu, cross-entropy, the default init) through ``scratchlab.testing.run_components``,
as a worker's first run, and prints the stored ``max_rel_err``. On the ``unresolved`` side,
``run_experiment`` skips :func:`~scratchlab.runner.mkl_dispatch.resolve_vml_kernels`, as
before the fix. A run whose first ``exp`` met the oneMKL race (pytorch/pytorch#188792) stores
a larger error than the others. The target: every ``resolved`` run stores the same value.
"""

from __future__ import annotations

import collections
import subprocess
import sys

from _common import Target, alternate, finish, parser, print_table

#: one gradcheck run in this fresh process; argv[1] "unresolved" skips the kernel resolution
CHILD = """
import sys
import scratchlab.runner.run_one as run_one
if sys.argv[1] == "unresolved":
    run_one.resolve_vml_kernels = lambda: None
from scratchlab.testing import run_components
print(repr(run_components(experiment="gradcheck").metric("max_rel_err")))
"""

SIDES = ("resolved", "unresolved")


def main(argv: list[str] | None = None) -> int:
    """Alternate the two sides in fresh processes, count the stored values of each."""
    p = parser(__doc__.split("\n\n")[0], rounds=30)
    args = p.parse_args(argv if argv is not None else sys.argv[1:])
    stored: dict[str, list[float]] = {side: [] for side in SIDES}

    def case(side: str):
        def one_process() -> float:
            done = subprocess.run(
                [sys.executable, "-c", CHILD, side], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise SystemExit(f"error: a {side} process failed: {done.stderr.strip()[-300:]}")
            stored[side].append(float(done.stdout.strip().splitlines()[-1]))
            return 0.0

        return one_process

    alternate({side: case(side) for side in SIDES}, rounds=args.rounds, warmup=0, progress=False)
    counts = {side: collections.Counter(values) for side, values in stored.items()}
    most_common = {side: count.most_common(1)[0][0] for side, count in counts.items()}
    print_table(
        ("side", "runs", "distinct max_rel_err", "most common", "runs storing another value"),
        [
            (
                side,
                len(stored[side]),
                len(counts[side]),
                f"{most_common[side]:.3e}",
                len(stored[side]) - counts[side][most_common[side]],
            )
            for side in SIDES
        ],
        title="gradcheck's stored max_rel_err, one fresh process per run",
    )
    for side in SIDES:
        others = sorted(v for v in counts[side] if v != most_common[side])
        if others:
            print(f"{side}: other values stored: {', '.join(f'{v:.3e}' for v in others)}")
    targets = [
        Target(
            "resolved runs storing another value than the rest",
            float(len(stored["resolved"]) - counts["resolved"][most_common["resolved"]]),
            0.0,
            unit="runs",
            note=f"{args.rounds} fresh processes; unresolved for comparison in the table",
        ),
    ]
    return finish("vml_first_call", targets, json_out=args.json_out, rounds=args.rounds)


if __name__ == "__main__":
    sys.exit(main())
