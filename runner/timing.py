"""Timing one callable with ``torch.utils.benchmark``, summarised as a :class:`TimingRecord`.

``torch.utils.benchmark.Timer.blocked_autorange`` does the measuring: it
warms up while it picks a block size (calls per replicate) that makes the
timer's own overhead negligible, synchronises the accelerator around each
block (its default timer calls ``torch.accelerator.synchronize()``), and
keeps every block as a replicate. We pin the thread count to the run's own
``torch.get_num_threads()`` (the Timer's default is 1 thread, which would time
something other than what the run does) and record it.

A call slower than ``min_run_time`` (the Python triple loop takes about a
second) gives blocked_autorange a single replicate. We then add replicates,
one call each, until there are ``min_replicates`` or the measuring has taken
``max_run_time`` seconds, whichever comes first, so a slow strategy still
gets a spread where it is affordable and never takes unbounded time.

Every measurement is watched (:class:`scratchlab.runner.calibration.Watch`):
a reference probe is timed before, between blocks and after, and the record
carries a quality verdict (``ok`` or ``noisy``) with its evidence. The probe
runs between blocks, outside the blocks' timed region, so it never adds to
the replicates.

The evidence also holds the ``conditions`` the timing ran under (:func:`conditions`): torch's
thread counts, the flags that change a kernel's speed, the process's CPU affinity and
priority, and the Timer's own choices (calls per block, blocks, ``min_run_time``), so two
timings of the same thing can be checked to have been taken alike (issue 21:
``benchmarks/timing_fidelity.py`` compares the stored side's with its bare side's).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from scratchlab.core.records import TimingRecord
from scratchlab.runner.calibration import Watch

#: seconds of measurement blocked_autorange aims for
DEFAULT_MIN_RUN_TIME = 0.2
#: replicates wanted even for calls slower than min_run_time ...
DEFAULT_MIN_REPLICATES = 3
#: ... as long as measuring has not taken longer than this many seconds
DEFAULT_MAX_RUN_TIME = 2.0


def shape_text(shape: str | Sequence[int] | None) -> str | None:
    """``"5x784x10"`` from ``(5, 784, 10)``; a string is kept as given; None stays None."""
    if shape is None or isinstance(shape, str):
        return shape
    return "x".join(str(int(d)) for d in shape)


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ascending ``sorted_values``, linear between ranks (numpy's default)."""
    if not sorted_values:
        raise ValueError("no values")
    position = q * (len(sorted_values) - 1)
    lower = int(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * (position - lower)


def summarise(
    label: str,
    times: Sequence[float],
    *,
    number_per_run: int = 1,
    shape: str | Sequence[int] | None = None,
    flops: float | None = None,
    threads: int | None = None,
) -> TimingRecord:
    """A :class:`TimingRecord` from per-call times in seconds: median, IQR (p75 - p25), mean, min, max."""
    if not times:
        raise ValueError(f"timing {label!r} has no replicates")
    ordered = sorted(float(t) for t in times)
    return TimingRecord(
        label=label,
        replicates=[float(t) for t in times],
        median=quantile(ordered, 0.5),
        iqr=quantile(ordered, 0.75) - quantile(ordered, 0.25),
        mean=sum(ordered) / len(ordered),
        min=ordered[0],
        max=ordered[-1],
        number_per_run=int(number_per_run),
        shape=shape_text(shape),
        flops=None if flops is None else float(flops),
        threads=threads,
    )


#: environment variables that change how torch's thread pools and BLAS behave
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "KMP_BLOCKTIME",
    "GOMP_SPINCOUNT",
)


def conditions() -> dict[str, Any]:
    """What a timing in this process and thread runs under now: torch's intra- and inter-op
    threads, grad and inference mode, flush-denormal, deterministic algorithms, MKL-DNN, the
    float32 matmul precision and default dtype, the CPU affinity and nice value, how many
    threads the process has, and the thread environment variables that are set."""
    import torch

    from scratchlab.runner.torch_state import denormals_flushed

    return {
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "grad": torch.is_grad_enabled(),
        "inference_mode": torch.is_inference_mode_enabled(),
        "flush_denormal": denormals_flushed(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "mkldnn": bool(torch.backends.mkldnn.enabled),
        "matmul_precision": torch.get_float32_matmul_precision(),
        "default_dtype": str(torch.get_default_dtype()),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "nice": os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else None,
        "python_threads": threading.active_count(),
        "env": {name: os.environ[name] for name in THREAD_ENV if name in os.environ},
    }


def measure(
    label: str,
    fn: Callable[[], Any],
    *,
    shape: str | Sequence[int] | None = None,
    flops: float | None = None,
    min_run_time: float = DEFAULT_MIN_RUN_TIME,
    min_replicates: int = DEFAULT_MIN_REPLICATES,
    max_run_time: float = DEFAULT_MAX_RUN_TIME,
    between_blocks: Callable[[], None] | None = None,
) -> TimingRecord:
    """Time ``fn()`` and return its summary; replicates are seconds per call.

    ``between_blocks`` is called after every measured block; the run context
    passes its budget check there, so a timing cannot outlive the run's time
    budget by more than one block.
    """
    import torch
    from torch.utils.benchmark import Timer

    if min_run_time <= 0:
        raise ValueError(f"min_run_time must be positive, got {min_run_time}")
    threads = torch.get_num_threads()
    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads, label=label)
    watch = Watch(threads)
    settings = conditions()

    def after_block(*_: Any) -> None:
        watch.between()
        if between_blocks is not None:
            between_blocks()

    watch.start()
    started = time.perf_counter()
    measurement = timer.blocked_autorange(callback=after_block, min_run_time=min_run_time)
    times = list(measurement.times)
    number = measurement.number_per_run
    while len(times) < min_replicates and time.perf_counter() - started < max_run_time:
        times.extend(timer.timeit(number).times)
        after_block()
    record = summarise(
        label, times, number_per_run=number, shape=shape, flops=flops, threads=threads
    )
    record.quality, record.evidence = watch.verdict(record.median, record.iqr)
    timer_settings = {"number_per_run": number, "blocks": len(times), "min_run_time": min_run_time}
    record.evidence["conditions"] = {**settings, **timer_settings}
    return record
