"""The calibration probe: a fixed reference kernel timed around every measurement.

Contention on a shared machine does not show in a timing's own spread: with
torch's two threads and two busy loops beside them, a 6 µs matmul measured
16 ms with an IQR of 0.3%, because every replicate waited equally for a
descheduled thread. What does show it is a yardstick: a kernel whose quiet
time on this machine is known. :class:`Watch` times the probe right before a
measurement, between its blocks (at most every :data:`PROBE_EVERY_S`) and
right after, and turns those samples, the load average and the timing's
spread into evidence and a verdict (:func:`scratchlab.db.quality.judge`).

The probe's samples are short (well under a scheduler time slice), so they
catch thread-pool stalls but can miss plain time-sharing: a single-threaded
timing on a machine with five runnable processes per core runs five times
slower, in whole time slices the probe may fall between. For that the
kernel's own account is read: on Linux, ``/proc/self/task/*/schedstat`` says
how long each thread was runnable but waiting for a CPU during the
measurement (``cpu_wait``, the largest share among the threads).

The probe is ``torch.mm`` on the lessons' shape (5x784x10, float32, CPU) with
the measurement's own thread count, so it waits on the same thread pool as
the lessons' matmuls and lives in the same µs range. Its quiet figure starts
as this process's own calibration (the lowest of :data:`CALIBRATION_ROUNDS`
round medians, each over :data:`ROUND_SAMPLES` samples, at the measurement's
thread count: a median per round ignores one lucky sample, the minimum over
rounds finds the quietest moment) and is lowered whenever a faster probe
figure is seen. When the run is
stored, :func:`scratchlab.db.quality.settle` compares with the figure kept in
the database for this machine and thread count, so a worker that happened to
calibrate on a busy machine is judged against the machine's quiet history.

On CUDA the probe still runs on the CPU: it measures how busy the host is,
which is what spoils small, launch-bound GPU timings. torch is imported
inside functions only.
"""

from __future__ import annotations

import os
import socket
import statistics
import time
from collections.abc import Callable
from typing import Any

from scratchlab.db.quality import assess
from scratchlab.runner.environment import cpu_model, usable_cpus

#: the probe's operands: the lessons' 5 images x 784 pixels times a 784x10 weight
PROBE_SHAPE = (5, 784, 10)
PROBE_NAME = "torch.mm 5x784x10 float32 cpu"
#: calls per probe sample (about 0.3 ms on a quiet 2020s CPU) ...
PROBE_CALLS = 40
#: ... cut short after this many seconds, so a probe on a saturated machine stays cheap
PROBE_MAX_S = 0.005
#: a process's own calibration: rounds of samples; the quiet figure is the lowest round median
CALIBRATION_ROUNDS = 3
ROUND_SAMPLES = 5
#: probe between measured blocks at most this often (seconds of wall time)
PROBE_EVERY_S = 0.02


def machine_name() -> str:
    """The machine a quiet figure belongs to: host name, CPU model and usable CPUs."""
    return f"{socket.gethostname()} | {cpu_model()} | {usable_cpus()} cpu"


def sched_times() -> dict[str, tuple[int, int]] | None:
    """Per thread of this process: (ns on a CPU, ns waiting for one), from Linux's
    ``/proc/self/task/*/schedstat``; None where the kernel does not provide it."""
    times: dict[str, tuple[int, int]] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                running, waiting = f.read().split()[:2]
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
        times[tid] = (int(running), int(waiting))
    return times or None


def wait_fraction(
    before: dict[str, tuple[int, int]] | None,
    after: dict[str, tuple[int, int]] | None,
    wall_s: float,
) -> float | None:
    """The largest share of ``wall_s`` any thread spent runnable but waiting for a CPU.

    A CPU-bound thread that waited a fraction f of the time ran 1/(1-f) times
    slower than alone; a thread pool is as slow as its most-delayed thread.
    A thread born in between counts from zero.
    """
    if before is None or after is None or wall_s <= 0:
        return None
    waits = [(waiting - before.get(tid, (0, 0))[1]) / 1e9 for tid, (_, waiting) in after.items()]
    return max(0.0, min(1.0, max(waits, default=0.0) / wall_s))


def load_average() -> float | None:
    """The 1-minute load average, or None where the OS has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


class Probe:
    """The reference kernel at one thread count, with this process's quiet figure for it."""

    def __init__(self, threads: int) -> None:
        import torch

        self.threads = threads
        # a private generator: the probe must not move the run's seeded RNG
        generator = torch.Generator().manual_seed(0)
        m, k, n = PROBE_SHAPE
        self._a = torch.randn(m, k, generator=generator)
        self._b = torch.randn(k, n, generator=generator)
        self._mm = torch.mm
        self.quiet_s: float | None = None

    def sample(self, threads: int | None = None) -> float:
        """Seconds per call of the probe: :data:`PROBE_CALLS` calls, fewer if they take over :data:`PROBE_MAX_S`.

        Runs at this probe's thread count, or at ``threads`` when given.

        A bare ``perf_counter`` loop rather than ``torch.utils.benchmark``:
        the probe must be able to stop early on a saturated machine, and its
        few µs of loop overhead are the same in every sample, so they cancel
        in the ratio to the quiet figure.
        """
        import torch

        mm, a, b = self._mm, self._a, self._b
        threads = threads or self.threads
        previous = torch.get_num_threads()
        if previous != threads:
            torch.set_num_threads(threads)
        try:
            calls = 0
            started = time.perf_counter()
            elapsed = 0.0
            while calls < PROBE_CALLS and elapsed < PROBE_MAX_S:
                mm(a, b)
                calls += 1
                elapsed = time.perf_counter() - started
            return elapsed / calls
        finally:
            if previous != threads:
                torch.set_num_threads(previous)

    def calibrate(self) -> float:
        """Set and return this process's quiet figure: the lowest round median at this
        probe's thread count (warm-up first).

        Only this thread count: the probe's figure must be comparable with the
        probe samples taken around a measurement at the same count. (An earlier
        version also took the one-thread rounds into the minimum, to bound a
        figure calibrated on a busy machine; but one thread runs this small
        product faster than two on a quiet machine too, 11.0 against 13.2 µs on
        the 2-core test machine, so every later probe read 1.2x slow before any
        contention and quiet timings were called noisy. A worker that calibrates
        on a busy machine is judged against the machine's stored quiet history
        instead: :func:`scratchlab.db.quality.settle`.)
        """
        for _ in range(3):
            self.sample()  # first calls pay for allocation and kernel selection
        figures = [
            statistics.median(self.sample() for _ in range(ROUND_SAMPLES))
            for _ in range(CALIBRATION_ROUNDS)
        ]
        self.offer(min(figures))
        return self.quiet_s  # type: ignore[return-value]

    def offer(self, figure: float) -> None:
        """Lower the quiet figure to ``figure`` if that is faster (a quieter moment was seen)."""
        if figure > 0 and (self.quiet_s is None or figure < self.quiet_s):
            self.quiet_s = figure


_PROBES: dict[int, Probe] = {}


def probe_for(threads: int) -> Probe:
    """This process's probe at ``threads`` threads, calibrated on first use."""
    probe = _PROBES.get(threads)
    if probe is None:
        probe = _PROBES[threads] = Probe(threads)
        probe.calibrate()
    return probe


class Watch:
    """Probe samples and load around one measurement; :meth:`verdict` turns them into quality and evidence.

    Call :meth:`start` before measuring, :meth:`between` between measured
    blocks (it samples at most every :data:`PROBE_EVERY_S` seconds) and
    :meth:`verdict` after.
    """

    def __init__(self, threads: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.threads = threads
        self.probe = probe_for(threads)
        self.samples: list[float] = []
        self.loads: list[float] = []
        self._clock = clock
        self._last = -float("inf")
        self._sched: dict[str, tuple[int, int]] | None = None
        self._began = 0.0

    def _take(self) -> None:
        self.samples.append(self.probe.sample())
        self._last = self._clock()

    def start(self) -> None:
        """Sample the probe, the load average and the threads' scheduler times right before the measurement."""
        self._note_load()
        self._take()
        self._sched, self._began = sched_times(), time.perf_counter()

    def between(self) -> None:
        """Sample the probe if :data:`PROBE_EVERY_S` has passed since the last sample."""
        if self._clock() - self._last >= PROBE_EVERY_S:
            self._take()

    def verdict(self, median: float, iqr: float) -> tuple[str, dict[str, Any]]:
        """Sample once more, then the quality and evidence for a timing with this ``median`` and ``iqr``."""
        waited = wait_fraction(self._sched, sched_times(), time.perf_counter() - self._began)
        self._take()
        self._note_load()
        probe_s = statistics.median(self.samples)
        local_quiet = self.probe.quiet_s
        # a measurement's probe median below the process's figure is a quieter moment
        self.probe.offer(probe_s)
        evidence = {
            "machine": machine_name(),
            "threads": self.threads,
            "probe": PROBE_NAME,
            "probe_s": probe_s,
            "probe_samples": [float(f"{s:.4g}") for s in self.samples],
            "local_quiet_s": local_quiet,
            "load1": max(self.loads) if self.loads else None,
            "cpus": usable_cpus(),
            "spread": iqr / median if median > 0 else None,
            "cpu_wait": None if waited is None else round(waited, 4),
        }
        return assess(evidence, self.probe.quiet_s)

    def _note_load(self) -> None:
        load = load_average()
        if load is not None:
            self.loads.append(round(load, 2))
