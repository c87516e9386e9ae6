"""What a sweep shows while it runs and when it ends.

Three reporters implementing :class:`scratchlab.runner.reporting.SweepReporter`:
:class:`LiveProgress`, a rich progress bar on stderr with done/total, counts
and the current run (on a narrow terminal the run's label is cut first);
:class:`LogLines`, one plain line per finished run (``--quiet``, or when
stderr is not a terminal, so logs and CI output stay free of control codes);
and :class:`NotebookProgress`, an HTML bar updated in place in a Jupyter
notebook. :func:`summary_rows` and :func:`print_summary` make the table
printed at the end. Every stored name and reason is printed through
:func:`~scratchlab.core.textsafe.printable`. Nothing here imports torch.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import IO, Any

from scratchlab.core.records import PlannedRun, RunResult
from scratchlab.core.textsafe import printable
from scratchlab.runner.reporting import SweepReporter, Tally, elapsed

#: statuses in the order counts are shown
SHOWN_STATUSES: tuple[str, ...] = (
    "done",
    "failed",
    "timeout",
    "skipped",
    "pruned",
    "interrupted",
    "pending",
    "running",
)


def describe(run: PlannedRun) -> str:
    """A short label for a run: ``train(xavier, relu, ...) cpu #0``, control characters escaped."""
    components = ", ".join(run.components.values())
    return printable(f"{run.experiment}({components}) {run.device} #{run.repeat}")


#: characters of a reason's telling line that are printed
LINE_LIMIT = 500


def first_line(text: str | None) -> str:
    """The line of ``text`` that says most: a traceback's last line, else its first
    (control characters escaped)."""
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1].strip() if lines[0].startswith("Traceback") else lines[0].strip()
    # one line on a terminal: a message of megabytes is cut, and says so
    return printable(line if len(line) <= LINE_LIMIT else f"{line[:LINE_LIMIT]}... (cut)")


class CountingReporter(SweepReporter):
    """A :class:`~scratchlab.runner.reporting.SweepReporter` that keeps a
    :class:`~scratchlab.runner.reporting.Tally` of the sweep's outcomes (its counts) and how
    far the current round is (``finished`` of ``total``): the base of the terminal and notebook
    reporters; also usable as a silent one."""

    def __init__(self) -> None:
        self.tally = Tally()
        self.total = 0  # runs in this round (a --retry-noisy round is one more)
        self.finished = 0  # runs of this round that ended

    def start(self, title: str, total: int) -> None:
        """A sweep (or a round of it) of ``total`` runs begins."""
        self.total, self.finished = total, 0

    def run_started(self, run: PlannedRun) -> None:
        """``run`` was handed to a worker."""

    def run_finished(self, run: PlannedRun, result: RunResult) -> None:
        """``run`` ended with ``result`` (already written to the database)."""
        self.tally.add(run, result.status, elapsed(result))
        self.finished += 1

    def warn(self, message: str) -> None:
        """Show a warning without breaking the display."""

    def stop(self) -> None:
        """The sweep ended; release the display."""


class LogLines(CountingReporter):
    """One line per finished run on ``stream``: ``[3/12] done  matmul(torch) cpu #0  0.12s``."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__()
        self.stream = stream or sys.stderr

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()  # a watcher of a piped log sees each run as it ends

    def start(self, title: str, total: int) -> None:
        """Print the sweep's title and size."""
        super().start(title, total)
        self._write(f"{printable(title)}: {total} run{'s' if total != 1 else ''}")

    def run_finished(self, run: PlannedRun, result: RunResult) -> None:
        """Print the run's outcome, with the reason's telling line when it did not finish."""
        super().run_finished(run, result)
        width = len(str(self.total))
        line = f"[{self.finished:>{width}}/{self.total}] {result.status:<8} {describe(run)}  {elapsed(result):.2f}s"
        if result.status != "done" and result.reason:
            line += f"  {first_line(result.reason)}"
        self._write(line)

    def warn(self, message: str) -> None:
        """Print ``warning: message``."""
        self._write(f"warning: {printable(message)}")


class LiveProgress(CountingReporter):
    """A rich progress bar on stderr: the bar, runs finished of total, counts, elapsed
    time and the current run. The sweep's title is printed once above it; on a
    narrow terminal the run's label is cut first, so the bar and the count stay."""

    #: columns of the bar itself (it shrinks no further)
    BAR_WIDTH = 20

    def __init__(self, console: Any = None) -> None:
        super().__init__()
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.table import Column

        # stored names are shown as text, never read as markup
        self.progress = Progress(
            BarColumn(bar_width=self.BAR_WIDTH),
            MofNCompleteColumn(table_column=Column(no_wrap=True)),
            TextColumn("{task.fields[counts]}", markup=False, table_column=Column(no_wrap=True)),
            TimeElapsedColumn(table_column=Column(no_wrap=True)),
            TextColumn(
                "{task.fields[current]}",
                markup=False,
                style="dim",
                table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis", min_width=1),
            ),
            console=console or Console(stderr=True),
            expand=True,
        )
        self.task: Any = None
        self.running: dict[int, str] = {}

    def start(self, title: str, total: int) -> None:
        """Print the title and show the bar."""
        from rich.text import Text

        super().start(title, total)
        self.progress.console.print(Text(printable(title), style="bold"))
        self.progress.start()
        self.task = self.progress.add_task(
            printable(title), total=total, counts=self.tally.short(), current=""
        )

    def _current(self) -> str:
        labels = list(self.running.values())
        if len(labels) <= 1:
            return "".join(labels)
        return f"(+{len(labels) - 1}) {labels[-1]}"

    def run_started(self, run: PlannedRun) -> None:
        """Show ``run`` as the current one."""
        self.running[id(run)] = describe(run)
        self.progress.update(self.task, current=self._current())

    def run_finished(self, run: PlannedRun, result: RunResult) -> None:
        """Advance the bar; failures are also printed above it, so they stay visible."""
        from rich.text import Text

        super().run_finished(run, result)
        self.running.pop(id(run), None)
        if result.status in ("failed", "timeout"):
            self.progress.console.print(
                Text.assemble(
                    (result.status, "red"), f" {describe(run)}: {first_line(result.reason)}"
                )
            )
        self.progress.update(
            self.task, advance=1, counts=self.tally.short(), current=self._current()
        )

    def warn(self, message: str) -> None:
        """Print above the bar."""
        from rich.text import Text

        self.progress.console.print(Text.assemble(("warning:", "yellow"), f" {printable(message)}"))

    def stop(self) -> None:
        """Leave the final bar on screen."""
        self.progress.stop()


class NotebookProgress(CountingReporter):
    """A progress bar in a Jupyter notebook: one HTML output updated in place with the
    bar, done/total, the counts and the current run; failures listed below it."""

    def __init__(self) -> None:
        super().__init__()
        self.handle: Any = None
        self.title = ""
        self.current = ""
        self.failures: list[str] = []

    def _html(self) -> str:
        import html

        lines = [
            f"<b>{html.escape(self.title)}</b>",
            f"<progress value='{self.finished}' max='{max(self.total, 1)}' style='width:40%'>"
            f"</progress> {self.finished}/{self.total} · {html.escape(self.tally.short())}"
            + (
                f" · <span style='color:gray'>{html.escape(self.current)}</span>"
                if self.current
                else ""
            ),
        ]
        lines += [
            f"<span style='color:#c00'>{html.escape(line)}</span>" for line in self.failures[-10:]
        ]
        return "<br>".join(lines)

    def _show(self) -> None:
        from IPython.display import HTML, display

        if self.handle is None:
            self.handle = display(HTML(self._html()), display_id=True)
        else:
            self.handle.update(HTML(self._html()))

    def start(self, title: str, total: int) -> None:
        """Show the empty bar."""
        super().start(title, total)
        self.title = printable(title)
        self._show()

    def run_started(self, run: PlannedRun) -> None:
        """Show ``run`` as the current one."""
        self.current = describe(run)
        self._show()

    def run_finished(self, run: PlannedRun, result: RunResult) -> None:
        """Advance the bar; a failure is listed below it."""
        super().run_finished(run, result)
        if result.status in ("failed", "timeout"):
            self.failures.append(f"{result.status} {describe(run)}: {first_line(result.reason)}")
        self.current = ""
        self._show()

    def warn(self, message: str) -> None:
        """List the warning below the bar."""
        self.failures.append(f"warning: {printable(message)}")
        self._show()


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where a notebook bar can be shown)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython() if hasattr(shell, "get_ipython") else None
    return ip is not None and "ZMQInteractiveShell" in type(ip).__name__


def make_reporter(quiet: bool, stream: IO[str] | None = None) -> CountingReporter:
    """The live bar on an interactive stderr, log lines with ``--quiet`` or when piped."""
    stream = stream or sys.stderr
    if quiet or not stream.isatty():
        return LogLines(stream)
    return LiveProgress()


def summary_rows(tally: Tally) -> list[dict[str, Any]]:
    """One row per experiment: counts by status and total run time, then a total row."""
    counts, seconds = tally.counts, tally.seconds
    shown = [s for s in SHOWN_STATUSES if s in counts]
    rows = []
    for experiment, by_status in tally.by_experiment.items():
        row: dict[str, Any] = {"experiment": experiment}
        row.update({s: by_status.get(s, 0) for s in shown})
        row["seconds"] = round(seconds.get(experiment, 0.0), 3)
        rows.append(row)
    if len(rows) > 1:
        total: dict[str, Any] = {"experiment": "total"}
        total.update({s: counts.get(s, 0) for s in shown})
        total["seconds"] = round(sum(seconds.values()), 3)
        rows.append(total)
    return rows


def print_summary(title: str, rows: Sequence[Mapping[str, Any]], footer: str | None = None) -> None:
    """Print the summary table on stdout (plain columns, readable when piped)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=False)
    from rich.text import Text

    table = Table(title=Text(printable(title)), title_justify="left", show_edge=False)
    columns = list(rows[0]) if rows else ["experiment"]
    for column in columns:
        table.add_column(column, justify="left" if column == "experiment" else "right")
    for row in rows:
        style = "bold" if row.get("experiment") == "total" else None
        table.add_row(
            *(Text(f"{row[c]:.2f}" if c == "seconds" else printable(row[c])) for c in columns),
            style=style,
        )
    console.print(table)
    if footer:
        console.print(Text(printable(footer, keep_lines=True)))
