"""A one-run sweep by default (a supervised worker) against ``--inline`` and ``import torch``.

\b
    python benchmarks/small_sweep.py              # 5 alternating rounds
    python benchmarks/small_sweep.py --rounds 9 --experiment init-stats

Each round starts, as fresh subprocesses in an order that rotates round by round, ``python -c
"import torch"``, ``runner sweep --experiments gradcheck`` (default: one supervised worker, the
worker started while the driver loads the plugins and plans) and the same sweep with
``--inline``, each sweep into a new database. Targets (issue 24, item 18): the default within
1.2x of ``--inline``, and within 1.5x of ``import torch`` plus the run's own time (its stored
start to finish, the median over the rounds).
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from _common import Target, alternate, finish, median, parser, print_samples, subprocess_time


def sweep_case(
    folder: Path, flags: list[str], experiment: str, own: list[float]
) -> Callable[[], float]:
    """A case: one ``runner sweep`` of one ``experiment`` run into a new database; its wall time.
    The run's own seconds (stored start to finish) are appended to ``own``."""
    counter = itertools.count()

    def case() -> float:
        db = folder / f"{'-'.join(flags) or 'default'}-{next(counter)}.db"
        argv = [sys.executable, "-m", "scratchlab.runner.cli", "--db", f"sqlite:///{db}", "sweep"]
        started = time.perf_counter()
        result = subprocess.run(
            [*argv, "--experiments", experiment, "-q", *flags], capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"sweep {flags} failed: {result.stderr[-2000:]}")
        with contextlib.closing(sqlite3.connect(db)) as c:
            ((begin, end),) = c.execute("SELECT started_at, finished_at FROM runs").fetchall()
        own.append((datetime.fromisoformat(end) - datetime.fromisoformat(begin)).total_seconds())
        return seconds

    return case


def main(argv: list[str] | None = None) -> int:
    """Measure the three commands side by side; print the samples and the targets."""
    p = parser(__doc__.split("\n\n")[0], rounds=5)
    p.add_argument("--experiment", default="gradcheck", help="the one run's experiment")
    args = p.parse_args(argv)
    own: list[float] = []
    with tempfile.TemporaryDirectory(prefix="small-sweep-") as tmp:
        folder = Path(tmp)
        samples = alternate(
            {
                "import torch": subprocess_time([sys.executable, "-c", "import torch"]),
                "default": sweep_case(folder, [], args.experiment, own),
                "--inline": sweep_case(folder, ["--inline"], args.experiment, own),
            },
            args.rounds,
        )
    print()
    print_samples(
        samples, "s", title=f"one {args.experiment} run, {args.rounds} alternating rounds"
    )
    default, inline, torch = (median(samples[k]) for k in ("default", "--inline", "import torch"))
    run = median(own)
    note = f"medians of {args.rounds} alternating rounds"
    targets = [
        Target("one-run sweep: default / --inline", default / inline, 1.2, note=note),
        Target(
            "one-run sweep: default / (import torch + the run)",
            default / (torch + run),
            1.5,
            note=f"{note}; the run itself {run:.2f} s",
        ),
    ]
    return finish(
        "small_sweep",
        targets,
        json_out=args.json_out,
        rounds=args.rounds,
        extra={"samples": samples},
    )


if __name__ == "__main__":
    sys.exit(main())
