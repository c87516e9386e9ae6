"""What a sweep tells while it runs: the reporter protocol, a silent reporter, and the tally.

:class:`SweepReporter` is implemented by the terminal bar and log lines
(:mod:`scratchlab.runner.progress`) and the notebook bar; :class:`Tallying`
wraps whichever is given and keeps each run's latest outcome, so the
summary is right even when runs are measured again (``--retry-noisy``).
Nothing here imports torch.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

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


class LatestOutcomes:
    """Each run's latest status and seconds, keyed by run key; ``add`` is
    :class:`~scratchlab.runner.progress.Tally`'s, so the driver can count
    interrupted runs through it."""

    def __init__(self) -> None:
        self.total = 0
        self.latest: dict[str, tuple[PlannedRun, str, float]] = {}

    def add(self, run: PlannedRun, status: str, seconds: float = 0.0) -> None:
        """Record ``run``'s outcome, replacing an earlier one of the same run."""
        self.latest[run.key] = (run, status, seconds)

    def tally(self) -> Any:
        """The outcomes as a :class:`~scratchlab.runner.progress.Tally` (for the summary table)."""
        from scratchlab.runner.progress import Tally

        tally = Tally(total=len(self.latest))
        for run, status, seconds in self.latest.values():
            tally.add(run, status, seconds)
        return tally


class Tallying:
    """Wraps any :class:`SweepReporter` and keeps each run's latest outcome, so the
    summary does not depend on what the caller's reporter keeps."""

    def __init__(self, inner: SweepReporter) -> None:
        self.inner = inner
        self.tally = LatestOutcomes()
        self._stopped = False

    def start(self, title: str, total: int) -> None:
        """Pass on."""
        self.inner.start(title, total)

    def run_started(self, run: PlannedRun) -> None:
        """Pass on."""
        self.inner.run_started(run)

    def run_finished(self, run: PlannedRun, result: RunResult) -> None:
        """Record the outcome, then pass on."""
        from scratchlab.runner.progress import elapsed

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
