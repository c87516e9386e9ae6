"""A worker's start, ``start_worker`` to ready: spawned vs forked from the torch forkserver.

\b
    python benchmarks/worker_start.py              # 5 alternating rounds
    python benchmarks/worker_start.py --rounds 9

Each round starts one worker each way, in an order that rotates round by round, with no plugin
beyond the built-in ones, and times from ``start_worker`` to its ``ready`` message (torch and
the plugins loaded); the worker is then stopped. The warm-up round starts the forkserver (its
own ``import torch`` is not counted: a sweep pays it once per driver process). Target: a forked
start at most 0.3x of a spawned one (the medians).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import Target, alternate, finish, median, parser, print_samples


def start_case(folder: Path, method: str) -> Callable[[], float]:
    """A case: start one worker with ``method`` (spawn or forkserver), wait until it is ready,
    stop it; the seconds from the start to ready."""
    import multiprocessing

    from scratchlab.runner.worker import WorkerOptions
    from scratchlab.runner.workerproc import start_worker, stop_worker
    from scratchlab.runner.workerstart import START_ENV, driver_environ, worker_context

    count = iter(range(1, 10**6))

    def case() -> float:
        number = next(count)
        context = multiprocessing.get_context("spawn") if method == "spawn" else worker_context()
        if context.get_start_method() != method:
            raise SystemExit(f"no {method} here (or {START_ENV} is set)")
        log = str(folder / f"{method}-{number}.log")
        options = WorkerOptions((), log, None, None, environ=driver_environ())
        started = time.perf_counter()
        worker = start_worker(context, options, number)
        try:
            while True:
                message = worker.conn.recv()
                if message[0] == "ready":
                    return time.perf_counter() - started
        except EOFError:
            raise SystemExit(f"a {method} worker died: {worker.tail()}") from None
        finally:
            stop_worker(worker)

    return case


def main(argv: list[str] | None = None) -> int:
    """Measure both starts side by side; print the samples and the target."""
    args = parser(__doc__.split("\n\n")[0], rounds=5).parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="worker-start-") as tmp:
        folder = Path(tmp)
        samples = alternate(
            {m: start_case(folder, m) for m in ("spawn", "forkserver")}, args.rounds
        )
    print()
    print_samples(samples, "s", title=f"start_worker to ready, {args.rounds} alternating rounds")
    spawn, fork = median(samples["spawn"]), median(samples["forkserver"])
    targets = [
        Target(
            "worker start: forkserver / spawn",
            fork / spawn,
            0.3,
            note=f"medians of {args.rounds} alternating rounds (server already up)",
        )
    ]
    return finish(
        "worker_start",
        targets,
        json_out=args.json_out,
        rounds=args.rounds,
        extra={"samples": samples},
    )


if __name__ == "__main__":
    sys.exit(main())
