"""The main job: the README's ``runner sweep --plugins matmul,init`` as it runs by default, against ``--inline``.

\b
    python benchmarks/main_job.py                # the reduced job, 2 alternating rounds
    python benchmarks/main_job.py --full         # the README's job as written (about 200 s inline)

Each round runs the sweep twice as fresh subprocesses, each into a new
database: once with no extra flag (the default execution: supervised worker
processes, timing runs alone) and once with ``--inline`` (every run in the
driver process, one after the other), in an order that rotates each round.
The target (issue 15): the default takes at most 0.6x of the inline wall time.

The reduced job keeps the plan issue 15 measured (61 runs of matmul,
init-stats, gradcheck and train: every matmul strategy timed, every init
through init-stats, gradcheck and a training run per init and strategy) and
its mix of work (the seven ``elementwise`` training runs dominate, as they do
in the full job), but trains on the ``synthetic`` dataset at 800 training and
200 validation rows instead of mnist-5k's 4,000/1,000, so that a round takes
tens of seconds instead of minutes. The README's job has since grown the
``telemetry`` experiment; ``--full`` runs it as written.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from _commands import runner_executable
from _common import Target, alternate, finish, median, parser, print_samples, ratio, subprocess_time

README_JOB = ["sweep", "--plugins", "matmul,init"]
#: the experiments of the job issue 15 measured (200 s inline); the README's job now also plans
#: the telemetry experiment (40 runs of minutes each), which --full keeps
EXPERIMENTS = "matmul,init-stats,gradcheck,train"
REDUCED = [
    "--experiments",
    EXPERIMENTS,
    "--dataset",
    "synthetic",
    "-s",
    "synthetic.n_train=800",
    "-s",
    "synthetic.n_valid=200",
]


def has_inline() -> bool:
    """Whether this checkout's ``runner sweep`` has the ``--inline`` flag yet."""
    help_text = subprocess.run(
        [runner_executable(), "sweep", "--help"], capture_output=True, text=True, check=False
    ).stdout
    return "--inline" in help_text


def job(folder: Path, extra: list[str], full: bool):
    """A case for :func:`alternate`: the job into a fresh database each time, returning its wall time."""
    counter = iter(range(10**6))

    def case() -> float:
        url = f"sqlite:///{folder / f'main-job-{next(counter)}-{len(extra)}.db'}"
        argv = [
            runner_executable(),
            "--db",
            url,
            *README_JOB,
            *([] if full else REDUCED),
            "--quiet",
            *extra,
        ]
        return subprocess_time(argv)()

    return case


def main(argv: list[str] | None = None) -> int:
    """Time the default and the inline job, alternating, and print the ratio target."""
    p = parser(__doc__.split("\n\n")[0], rounds=2)
    p.add_argument(
        "--full", action="store_true", help="the README's job as written, not the reduced one"
    )
    args = p.parse_args(argv)
    if not has_inline():
        target = Target(
            "default / --inline wall time",
            float("nan"),
            0.6,
            note="`runner sweep --inline` does not exist in this checkout yet",
        )
        return finish("main_job", [target], json_out=args.json_out, rounds=0)
    with tempfile.TemporaryDirectory(prefix="scratchlab-main-job-") as scratch:
        folder = Path(scratch)
        samples = alternate(
            {
                "default": job(folder, [], args.full),
                "--inline": job(folder, ["--inline"], args.full),
            },
            args.rounds,
            warmup=0,
        )
    print()
    what = "the README's main job" if args.full else "the reduced main job (synthetic 800/200 rows)"
    print_samples(samples, "s", title=f"{what}: wall time, {args.rounds} alternating rounds")
    r = ratio(median(samples["default"]), median(samples["--inline"]))
    targets = [
        Target(
            "default / --inline wall time",
            r,
            0.6,
            note=f"medians of {args.rounds} rounds of {what}",
        )
    ]
    return finish(
        "main_job", targets, json_out=args.json_out, rounds=args.rounds, extra={"samples": samples}
    )


if __name__ == "__main__":
    sys.exit(main())
