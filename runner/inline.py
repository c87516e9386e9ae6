"""The inline backend: every run in this process, one after another (``--inline``, for pdb).

No worker process stands between a run and the sweep, so a plugin that exits or crashes ends
the sweep; the timeout is a SIGALRM inside the run. Each run starts from the same process state
as the first (:mod:`~scratchlab.runner.isolation`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from scratchlab.core.records import RunResult
from scratchlab.runner.execute import Items, StartedCallback, run_threads

log = logging.getLogger(__name__)


class InlineBackend:
    """Runs one run after another in this process (for debugging with pdb: no
    worker process, so a plugin that exits or crashes ends the sweep).

    Each run starts from the same process state as the first (see
    :mod:`~scratchlab.runner.isolation`); what a run changed that this process cannot undo (a
    thread it left, memory it holds) is said in one warning line and in the run's reason."""

    name = "inline"

    def __init__(self, plugins: Any, warn: Callable[[str], None] | None = None) -> None:
        self.plugins = plugins
        self.warn = warn or (lambda message: log.warning(message))

    def describe(self) -> dict[str, Any]:
        """How runs execute, for the sweep's environment record."""
        from scratchlab.runner.environment import usable_cpus

        return {"backend": "inline", "usable_cpus": usable_cpus()}

    def auto_threads(self, exclusive: bool) -> int:
        """``auto`` inline: every usable core (runs go one at a time)."""
        from scratchlab.runner.environment import usable_cpus

        return usable_cpus()

    def results(
        self, items: Items, started: StartedCallback, timeout: float | None, live: Any = None
    ) -> Iterator[tuple[int, RunResult]]:
        """Yield ``(run_id, result)`` for each run, in order (``items`` may grow meanwhile);
        this process's state (torch thread count included) is restored after each run;
        ``live`` (a :class:`~scratchlab.runner.live.LiveSink`) is called from inside the runs."""
        from scratchlab.runner.environment import usable_cpus
        from scratchlab.runner.fingerprint import held_limit, plugin_modules
        from scratchlab.runner.isolation import Isolation, add_note
        from scratchlab.runner.live import DirectLink
        from scratchlab.runner.run_one import run_experiment

        cores = usable_cpus()
        isolation = Isolation(
            plugin_modules(self.plugins), replaceable=False, held_limit=held_limit()
        )
        try:
            for run_id, planned in items:  # a list's iterator sees what is appended meanwhile
                started([run_id])
                isolation.begin(run_threads(planned, exclusive=True, cores=cores, workers=1))
                link = None if live is None else DirectLink(live, run_id)
                try:
                    result = run_experiment(self.plugins, planned, timeout=timeout, link=link)
                finally:
                    note = isolation.end().note  # an interrupted run's changes are undone too
                if note is not None:
                    result.reason = add_note(result.reason, note)
                    self.warn(f"run {run_id} ({planned.experiment}): {note}")
                yield run_id, result
        finally:
            isolation.close()

    def close(self) -> None:
        """Nothing to release."""
