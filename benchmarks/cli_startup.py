"""CLI start-up: ``runner --help`` and ``runner runs`` against ``python -c pass``.

\b
    python benchmarks/cli_startup.py                 # 15 alternating rounds
    python benchmarks/cli_startup.py --rounds 30 --cache-dir /tmp/bench

Each round starts the three commands as fresh subprocesses, in an order that
rotates round by round (hyperfine style, but interleaved, so that load from
other processes on a shared machine hits all three alike), and keeps their
wall times. The targets are on the differences of medians: ``runner --help``
within 0.3 s of ``python -c pass``, ``runner runs`` on a 10,000-run database
within 1.0 s.

The 10,000-run database comes from the benchmarks' shared generator
(:mod:`_bigdb`: matmul, init-stats and train runs with timings, per-layer
statistics and 100 metric points per run), built once and cached in the
system's temp folder so that later runs of this script start at once. A
cached file that the current code refuses (an older schema) is rebuilt.
``benchmarks/scale.py`` times ``runner runs`` at 100,000 runs.

The script also checks that neither command imported torch.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from _bigdb import cached, default_path
from _commands import runner_executable
from _common import Target, alternate, finish, median, parser, print_samples, subprocess_time

N_RUNS = 10_000

#: runs the CLI in-process and prints whether torch got imported (the last line)
TORCH_PROBE = """
import sys
from scratchlab.runner.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    if exc.code not in (0, None):
        raise
print("torch imported:", "torch" in sys.modules)
"""


def imports_torch(argv: list[str]) -> bool:
    """Whether running the CLI with ``argv`` imports torch (checked in a fresh interpreter)."""
    result = subprocess.run(
        [sys.executable, "-c", TORCH_PROBE, *argv], capture_output=True, text=True, check=False
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines or not lines[-1].startswith("torch imported:"):
        raise RuntimeError(f"runner {' '.join(argv)} failed: {result.stderr.strip()}")
    return lines[-1].endswith("True")


def main(argv: list[str] | None = None) -> int:
    """Measure the three commands and print the targets."""
    p = parser(__doc__.split("\n\n")[0], rounds=15)
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where the 10,000-run database is cached (default: the temp folder)",
    )
    args = p.parse_args(argv)
    db_path = cached(
        N_RUNS, None if args.cache_dir is None else args.cache_dir / default_path(N_RUNS).name
    )
    url = f"sqlite:///{db_path}"
    runner = runner_executable()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "runner --help": [runner, "--help"],
        "runner runs": [runner, "--db", url, "runs"],
    }
    # the environment variable must not redirect `runner --help` to another database
    env = {"SCRATCHLAB_DB": url}
    samples = alternate(
        {name: subprocess_time(cmd, env=env) for name, cmd in commands.items()},
        args.rounds,
        warmup=2,
    )
    print()
    print_samples(samples, "s", title=f"wall time per start, {args.rounds} alternating rounds")
    torch_help = imports_torch(["--help"])
    torch_runs = imports_torch(["--db", url, "runs"])
    base = median(samples["python -c pass"])
    note = "difference of medians over {} rounds; imports torch: {}".format
    targets = [
        Target(
            "runner --help minus python -c pass",
            median(samples["runner --help"]) - base,
            0.3,
            unit="s",
            note=note(args.rounds, "yes" if torch_help else "no"),
        ),
        Target(
            f"runner runs ({N_RUNS:,} runs) minus python -c pass",
            median(samples["runner runs"]) - base,
            1.0,
            unit="s",
            note=note(args.rounds, "yes" if torch_runs else "no"),
        ),
    ]
    if torch_help or torch_runs:
        targets.append(
            Target("commands that import torch", float(torch_help + torch_runs), 0, unit="")
        )
    return finish(
        "cli_startup",
        targets,
        json_out=args.json_out,
        rounds=args.rounds,
        extra={"samples": samples, "database": str(db_path)},
    )


if __name__ == "__main__":
    sys.exit(main())
