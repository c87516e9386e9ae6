"""Shared helpers of the benchmark scripts: alternating rounds, medians, the ratio table.

Every script in ``benchmarks/`` measures our side and a reference side in one
run, alternating them round by round (the order rotates each round, so neither
side always runs first, right after a cache-warming neighbour), takes medians
and prints a table of targets. A script that is given ``--json-out FILE``
also writes its targets there, as JSON, so that ``run_all.py`` can collect
them without parsing text:

.. code-block:: json

    {"script": "train_overhead", "rounds": 7, "machine": {...},
     "targets": [{"name": "...", "measured": 1.04, "limit": 1.1, "op": "<=",
                  "unit": "x", "passed": true, "note": "..."}]}

Another engineer's script can take part by importing this module
(``sys.path`` holds ``benchmarks/`` when a script in it runs) and calling
:func:`finish`; ``run_all.py`` passes ``--json-out`` to every script whose
source mentions that option.

This module imports no torch: ``cli_startup.py`` must not pay for it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from scratchlab.runner.environment import cpu_model

REPO = Path(__file__).resolve().parents[1]

#: comparison operators a target may use; "within" is a ratio within ``limit`` of 1 (0.1: 10%)
OPS: Mapping[str, Callable[[float, float], bool]] = {
    "<=": lambda measured, limit: measured <= limit,
    ">=": lambda measured, limit: measured >= limit,
    "within": lambda measured, limit: abs(measured - 1.0) <= limit,
}


@dataclass
class Target:
    """One performance target: ``measured op limit`` must hold.

    ``unit`` is shown after both numbers ("x" for ratios, "s" for seconds);
    ``note`` says what was compared, e.g. "medians of 7 rounds".
    """

    name: str
    measured: float
    limit: float
    op: str = "<="
    unit: str = "x"
    note: str = ""

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(
                f"target {self.name!r}: op must be one of {', '.join(OPS)}, not {self.op!r}"
            )

    @property
    def passed(self) -> bool:
        """Whether the measurement meets the target (NaN never does)."""
        return OPS[self.op](self.measured, self.limit)

    def as_dict(self) -> dict:
        """The JSON form written by :func:`finish`."""
        return {**asdict(self), "passed": self.passed}


def rotated(names: Sequence[str], round_index: int) -> list[str]:
    """``names`` rotated left by ``round_index``: the order of one round."""
    if not names:
        return []
    shift = round_index % len(names)
    return [*names[shift:], *names[:shift]]


def alternate(
    cases: Mapping[str, Callable[[], float]],
    rounds: int,
    *,
    warmup: int = 1,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Run every case once per round, alternating, and collect what each returns.

    A case is a callable returning one measurement (seconds, bytes, ...); it
    decides itself how it measures (wall time through :func:`wall_time`, a
    ``torch.utils.benchmark`` median, a subprocess). ``warmup`` rounds run
    first and are thrown away (caches, lazy imports, the allocator). The order
    rotates each round so that drift on a shared machine hits every case alike.
    """
    names = list(cases)
    for index in range(warmup):
        for name in rotated(names, index):
            cases[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        for name in rotated(names, index):
            samples[name].append(cases[name]())
        if progress:
            done = ", ".join(f"{n} {format_value(samples[n][-1], 's')}" for n in names)
            print(f"  round {index + 1}/{rounds}: {done}", file=sys.stderr, flush=True)
    return samples


def wall_time(fn: Callable[[], object]) -> Callable[[], float]:
    """A case for :func:`alternate`: call ``fn`` once, return its wall time in seconds."""

    def case() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    case.__doc__ = f"Wall time of one call of {getattr(fn, '__name__', repr(fn))}."
    return case


def subprocess_time(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, cpu: list[float] | None = None
) -> Callable[[], float]:
    """A case for :func:`alternate`: run ``argv`` once, return its wall time (hyperfine style).

    Output is discarded; a non-zero exit raises with the command's stderr, so a
    broken command cannot pass for a fast one. With ``cpu``, the child's CPU
    time (user + system, from ``RUSAGE_CHILDREN``) is appended to it each time:
    on a machine other processes keep busy, wall time grows with their load
    while CPU time stays close to the work the command itself does.
    """
    import resource

    full_env = {**os.environ, **(env or {})}

    def used() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def case() -> float:
        before = used()
        start = time.perf_counter()
        result = subprocess.run(
            list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=full_env, check=False
        )
        elapsed = time.perf_counter() - start
        if cpu is not None:
            cpu.append(used() - before)
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} exited with {result.returncode}: {result.stderr.decode(errors='replace').strip()}"
            )
        return elapsed

    case.__doc__ = f"Wall time of `{' '.join(argv)}`."
    return case


def median(values: Sequence[float]) -> float:
    """The median (NaN for no values)."""
    return statistics.median(values) if values else float("nan")


def iqr(values: Sequence[float]) -> float:
    """Inter-quartile range, the same definition as ``torch.utils.benchmark`` (numpy's linear quantiles)."""
    if len(values) < 2:
        return 0.0
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q3 - q1


def ratio(ours: float, reference: float) -> float:
    """``ours / reference`` (NaN when the reference is zero)."""
    return ours / reference if reference else float("nan")


def format_value(value: float, unit: str) -> str:
    """A number with its unit, scaled for seconds and bytes (``1.23 ms``, ``81.2 MiB``)."""
    if value != value:  # NaN
        return "nan"
    if unit == "s":
        for scale, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {suffix}"
        return f"{value * 1e9:.3g} ns"
    if unit == "B":
        return f"{value / 2**20:.1f} MiB"
    if unit == "x":
        return f"{value:.3f}x"
    if unit == "%":
        return f"{value:.1f}%"
    return f"{value:.4g} {unit}".rstrip()


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, title: str = ""
) -> None:
    """Print a plain fixed-width table (no rich: the output is pasted into Markdown and logs)."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    if title:
        print(title)
    for index, row in enumerate(cells):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


def print_samples(
    samples: Mapping[str, Sequence[float]], unit: str = "s", *, title: str = ""
) -> None:
    """Print median, IQR, min and the number of rounds of each case."""
    rows = [
        (
            name,
            format_value(median(v), unit),
            format_value(iqr(v), unit),
            format_value(min(v), unit),
            len(v),
        )
        for name, v in samples.items()
    ]
    print_table(("case", "median", "IQR", "min", "rounds"), rows, title=title)


def limit_text(target: Target) -> str:
    """The target value as shown: ``<= 1.100x``, ``>= 0.500x``, ``1 ± 10%``."""
    if target.op == "within":
        return f"1 ± {target.limit * 100:.0f}%"
    return f"{target.op} {format_value(target.limit, target.unit)}"


def target_rows(targets: Sequence[Target]) -> list[tuple[str, str, str, str]]:
    """Rows (target, measured, target value, verdict) of the ratio table."""
    return [
        (t.name, format_value(t.measured, t.unit), limit_text(t), "PASS" if t.passed else "FAIL")
        for t in targets
    ]


def print_targets(targets: Sequence[Target], *, title: str = "targets") -> None:
    """Print the ratio table: target, measured, target value, pass/fail, and each note below it."""
    print()
    print_table(("target", "measured", "target value", "result"), target_rows(targets), title=title)
    for t in targets:
        if t.note:
            print(f"  {t.name}: {t.note}")


def machine() -> dict[str, object]:
    """What the numbers were measured on: CPU model, cores, OS, Python and, if imported, torch."""
    info: dict[str, object] = {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        # other processes' load is the main source of noise on a shared machine: say how much there was
        "load": load_average(),
    }
    torch = sys.modules.get("torch")  # never import it here: cli_startup.py stays torch-free
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    return info


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (``"1.02 0.80 0.55"``), or ``"n/a"``."""
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def parser(description: str, *, rounds: int, threads: bool = False) -> argparse.ArgumentParser:
    """The options every benchmark script takes: ``--rounds`` and ``--json-out``;
    with ``threads``, also ``--threads`` (see :func:`set_threads`).

    Also makes stdout line-buffered, so that the table and the progress lines
    (on stderr) arrive in order when the output goes to a pipe or a log.
    """
    sys.stdout.reconfigure(line_buffering=True)
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--rounds", type=int, default=rounds, help=f"alternating rounds (default {rounds})"
    )
    p.add_argument("--json-out", type=Path, help="also write the targets to this file as JSON")
    if threads:
        p.add_argument(
            "--threads",
            type=int,
            help="torch threads for both sides (default: torch's own, one per core); 1 keeps a busy"
            " shared machine from stalling small ops for whole scheduler slices",
        )
    return p


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads for this process (None: leave torch's default); return the count.

    Both sides of a comparison run in this process, and the run context times
    at ``torch.get_num_threads()``, so this one setting governs both.
    """
    import torch

    if threads is not None:
        if threads < 1:
            raise SystemExit(f"error: --threads must be at least 1, not {threads}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def finish(
    script: str,
    targets: Sequence[Target],
    *,
    json_out: Path | None,
    rounds: int | None = None,
    extra: Mapping[str, object] | None = None,
) -> int:
    """Print the ratio table, write ``json_out`` if given, and return the exit code.

    The exit code is 0 when every target passed and 1 when one missed; a crash
    writes no JSON, which is how ``run_all.py`` tells the two apart.
    """
    print_targets(targets, title=f"{script}: targets")
    print(f"load average at the end (1, 5, 15 min): {load_average()} on {os.cpu_count()} CPUs")
    if json_out is not None:
        payload = {
            "script": script,
            "rounds": rounds,
            "machine": machine(),
            "targets": [t.as_dict() for t in targets],
            **(extra or {}),
        }
        json_out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return 0 if all(t.passed for t in targets) else 1
