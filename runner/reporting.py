"""What a sweep tells while it runs: the reporter protocol, a silent reporter, and the tally.

:class:`SweepReporter` is implemented by the terminal bar and log lines
(:mod:`scratchlab.runner.progress`) and the notebook bar. :class:`Tally` is the
one count of outcomes: each run's latest outcome, so a run measured again
(``--retry-noisy``) counts once, as it ended last. The displays keep one for
their counts, and :class:`Tallying` wraps whichever reporter is given and keeps
one for the summary at the end, so the two agree. Nothing here imports torch.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from scratchlab.core.records import PlannedRun, RunResult


@runtime_checkable
class SweepReporter(Protocol):
    """What a sweep tells while it runs. The terminal bar and the notebook bar implement it.

    Calls come from the driver's thread, in order: ``start``, then
    ``run_started``/``run_finished`` per run (several may be started before
    the first finishes), ``warn`` at any time, ``stop`` at the end. A sweep
    that re-measures noisy runs calls ``start`` again for each round.
    """

    def start(self, title: str, total: int) -> None:
        """A sweep (or a round of it) of ``total`` runs, called ``title``, begins."""

    def run_started(self, run: PlannedRun) -> None:
        """``run`` was handed to a worker."""

    def run_finished(self, run: PlannedRun, result: RunResult) -> None:
        """``run`` ended with ``result`` (already written to the database)."""

    def warn(self, message: str) -> None:
        """Show a one-line warning."""

    def stop(self) -> None:
        """The sweep ended; release the display."""


class SilentReporter:
    """A reporter that shows nothing (the default of the Python API)."""

    def start(self, title: str, total: int) -> None:
        """Nothing to show."""

    def run_started(self, run: PlannedRun) -> None:
        """Nothing to show."""

    def run_finished(self, run: PlannedRun, result: RunResult) -> None:
        """Nothing to show."""

    def warn(self, message: str) -> None:
        """Nothing to show."""

    def stop(self) -> None:
        """Nothing to release."""


def elapsed(result: RunResult) -> float:
    """Seconds between a result's start and finish (0 when either is missing)."""
    if result.started_at is None or result.finished_at is None:
        return 0.0
    return max(0.0, (result.finished_at - result.started_at).total_seconds())


@dataclass
class Tally:
    """The runs reported so far, each by its latest outcome (a run reported again replaces its
    earlier outcome): counts by status, by experiment, and seconds per experiment."""

    #: run key -> (experiment, status, seconds), in the order runs were first reported
    latest: dict[str, tuple[str, str, float]] = field(default_factory=dict)

    def add(self, run: PlannedRun, status: str, seconds: float = 0.0) -> None:
        """Count ``run``'s outcome (finished, or interrupted), replacing an earlier one."""
        self.latest[run.key] = (run.experiment, status, seconds)

    @property
    def counts(self) -> Counter:
        """Runs by status."""
        return Counter(status for _, status, _ in self.latest.values())

    @property
    def by_experiment(self) -> dict[str, Counter]:
        """Runs by status, per experiment (in the order experiments were first reported)."""
        out: dict[str, Counter] = {}
        for experiment, status, _ in self.latest.values():
            out.setdefault(experiment, Counter())[status] += 1
        return out

    @property
    def seconds(self) -> dict[str, float]:
        """Seconds the runs of each experiment took."""
        out: dict[str, float] = {}
        for experiment, _, seconds in self.latest.values():
            out[experiment] = out.get(experiment, 0.0) + seconds
        return out

    @property
    def finished(self) -> int:
        """Runs that have an outcome."""
        return len(self.latest)

    def short(self) -> str:
        """``3 done · 1 failed`` (the counts that are not zero; done always; timeouts count
        as failed)."""
        counts = self.counts
        failed = counts["failed"] + counts["timeout"]
        parts = [f"{counts['done']} done"]
        parts += [
            f"{n} {word}"
            for n, word in (
                (failed, "failed"),
                (counts["pruned"], "pruned"),
                (counts["skipped"], "skipped"),
            )
            if n
        ]
        return " · ".join(parts)


class Tallying:
    """Wraps any :class:`SweepReporter` and keeps each run's latest outcome, so the
    summary does not depend on what the caller's reporter keeps."""

    def __init__(self, inner: SweepReporter) -> None:
        self.inner = inner
        self.tally = Tally()
        self._stopped = False

    def start(self, title: str, total: int) -> None:
        """Pass on."""
        self.inner.start(title, total)

    def run_started(self, run: PlannedRun) -> None:
        """Pass on."""
        self.inner.run_started(run)

    def run_finished(self, run: PlannedRun, result: RunResult) -> None:
        """Record the outcome, then pass on."""
        self.tally.add(run, result.status, elapsed(result))
        self.inner.run_finished(run, result)

    def warn(self, message: str) -> None:
        """Pass on."""
        self.inner.warn(message)

    def stop(self) -> None:
        """Held back: the driver calls this after each round of runs; :meth:`close` ends the display."""

    def close(self) -> None:
        """Stop the wrapped reporter, once."""
        if not self._stopped:
            self._stopped = True
            self.inner.stop()
