"""Each run starts from the same process state, whatever ran before it in that process.

A worker (or the ``--inline`` driver) records a baseline before its first run. After every run,
:meth:`Isolation.end` puts back what the run changed and the runner can restore:

    torch's default dtype, grad mode, anomaly mode, flush-denormal, deterministic algorithms,
    float32 matmul precision and backend flags; the torch thread count; the RNG states (python,
    numpy, torch); the working directory, ``os.environ``, ``sys.path``, the warnings filters, the
    recursion limit, numpy's error state, garbage collection, trace functions; every Python
    signal handler and the alarm and interval timers; file descriptors 1 and 2 and
    ``sys.stdout``/``sys.stderr``.

(each piece an :class:`~scratchlab.runner.process_state.Aspect`: torch's in
:mod:`~scratchlab.runner.torch_state`, the process's in :mod:`~scratchlab.runner.process_state`,
the standard streams in :mod:`~scratchlab.runner.streams`) and checks the :mod:`~scratchlab.runner.fingerprint` of what it cannot restore (patched
functions, threads, child processes, memory). Each change is named in one line, which the runner
appends to the run's reason, so the run that changed the process says so. RNG states are
restored silently: every run draws random numbers, and every run is seeded anyway.

A fingerprint difference asks for a new process (:attr:`Verdict.replace`); a worker then
retires and the supervisor starts a fresh one. ``--inline`` puts patched attributes back, kills
leftover children, and says in the note what it could not undo.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from scratchlab.runner.fingerprint import Fingerprint, kill_children
from scratchlab.runner.process_state import Aspect, process_aspects
from scratchlab.runner.streams import Streams
from scratchlab.runner.torch_state import torch_aspects, torch_module


def aspects() -> list[Aspect]:
    """Every piece of process state restored after each run, in the order it is put back:
    torch's settings and the RNG states first, then the process's own."""
    return [*torch_aspects(), *process_aspects()]


@dataclass
class Verdict:
    """What one run changed: the note for its reason, and whether its process must be replaced."""

    note: str | None
    replace: bool


class Isolation:
    """The baseline of one process, recorded at construction; :meth:`end` after every run.

    ``replaceable``: the process is a worker the supervisor can replace (else inline: patched
    attributes are put back and the note says what could not be undone)."""

    def __init__(
        self, modules: Iterable[ModuleType], *, replaceable: bool, held_limit: int | None
    ) -> None:
        self.replaceable = replaceable
        self.aspects = aspects()
        self.values = {a.name: a.read() for a in self.aspects}
        self.streams = Streams()
        self.fingerprint = Fingerprint(modules, held_limit)
        self.imported = len(sys.modules)

    def begin(self, threads: int | None) -> None:
        """Before a run: give it ``threads`` torch threads (its baseline for this run)."""
        if threads:
            if self.values["threads"] != threads:
                torch_module().set_num_threads(threads)
            self.values["threads"] = threads

    def end(self) -> Verdict:
        """After a run: restore the baseline, check the fingerprint; what the run changed."""
        changed = self.streams.restore()
        imported, self.imported = len(sys.modules) != self.imported, len(sys.modules)
        for aspect in self.aspects:
            before = self.values[aspect.name]
            if not aspect.report:
                aspect.write(before)
                continue
            after = aspect.read()
            if _differs(before, after):
                if not (imported and aspect.grows is not None and aspect.grows(before, after)):
                    changed.append(aspect.describe(before, after))
                aspect.write(before)
        diff = self.fingerprint.compare()
        if diff.children:
            kill_children(diff.children)
        if diff and not self.replaceable:
            for space, names in diff.patched:
                space.put_back(names)
            LEFT_THREADS.extend(diff.threads)
            self.fingerprint.accept()  # what stays is not the next run's doing
        parts = [f"{c} (restored)" for c in changed]
        if diff:
            if self.replaceable:
                suffix = "its worker was replaced"
            else:
                undone = ("put back" if diff.patched else "") + (
                    ", children killed" if diff.children else ""
                )
                suffix = f"--inline cannot replace its process{'; ' + undone.strip(', ') if undone else ''}"
            parts.append(f"{'; '.join(diff.phrases)} ({suffix})")
        note = f"the run changed its process: {'; '.join(parts)}" if parts else None
        return Verdict(note=note, replace=bool(diff) and self.replaceable)

    def close(self) -> None:
        """Release what the baseline holds (the duplicated descriptors)."""
        self.streams.close()


#: non-daemon threads inline runs left running in this process (nothing can stop a thread)
LEFT_THREADS: list[threading.Thread] = []


def exit_past_left_threads(code: Any) -> None:
    """End the process now with ``code`` when threads that inline runs left are still running:
    Python would wait for them at exit, so the command would never end. Called by the console
    script only (never in a notebook or a test runner, which a hard exit would end too)."""
    left = [t for t in LEFT_THREADS if t.is_alive()]
    if not left:
        return
    print(
        f"warning: {len(left)} thread(s) that runs left behind are still running; exiting"
        " without waiting for them",
        file=sys.stderr,
    )
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code if isinstance(code, int) else 1)


def _differs(before: Any, after: Any) -> bool:
    try:
        return bool(before != after)
    except Exception:  # values whose == is not a bool (arrays): compare their text
        return repr(before) != repr(after)


def add_note(reason: str | None, note: str | None) -> str | None:
    """``reason`` with ``note`` as a line of its own after it; in a traceback, after its first
    line, since what shows a reason in one line shows a traceback's last (the exception)."""
    if note is None:
        return reason
    if not reason:
        return note
    head, _, rest = reason.partition("\n")
    if head.startswith("Traceback") and rest.strip():
        return f"{head}\n{note}\n{rest}"
    return f"{reason}\n{note}"
