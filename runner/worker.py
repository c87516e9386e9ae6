"""The worker process of the supervised pool, and the memory limit it runs under.

:func:`worker_main` is what each worker process runs: it takes the driver's
environment (a forked worker starts with the forkserver's), sends its stdout and
stderr to a file the driver reads a failed run's tail from, ignores Ctrl-C and
SIGHUP (the driver decides), dies with the driver (Linux ``PR_SET_PDEATHSIG``),
enables ``faulthandler`` (a crash's Python stack lands in that file), imports
torch and the plugins, caps its address space (:func:`memory_headroom`), says
ready, then runs what the driver sends, one run at a time, until told to stop.
Every run starts from the state recorded before the first
(:mod:`~scratchlab.runner.isolation`). A run's ``KeyboardInterrupt`` or
``SystemExit`` becomes a failed result. The worker retires (exits after
sending the result; the driver starts a fresh one) after a run that hit the
memory limit (``failed``, ``out of memory`` first: a process that hit its
limit may be half-broken), after a run that changed what cannot be restored
(a patched function, a thread, a child, memory held), and after
``--max-runs-per-worker`` runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import os
import re
import signal
import sys
import traceback
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scratchlab.core.records import PlannedRun, RunResult
from scratchlab.runner.execute import failed_result, missing_on_worker
from scratchlab.runner.isolation import add_note
from scratchlab.runner.live import PipeLink

#: environment variable: memory a run may allocate on top of its worker's start-up size
MEMORY_ENV = "SCRATCHLAB_WORKER_MEMORY"

_OOM_MARKERS = (
    "MemoryError",
    "can't allocate memory",
    "Cannot allocate memory",
    "std::bad_alloc",
    "not enough memory",
)


# --------------------------------------------------------------------------- memory


#: the largest size :func:`parse_size` takes (an address-space limit is a 64-bit number)
MAX_SIZE = 1 << 62


class MemorySizeError(ValueError):
    """``SCRATCHLAB_WORKER_MEMORY`` holds no size; the message is one line saying what it takes."""


def parse_size(text: str) -> int | None:
    """Bytes from ``"512M"``, ``"2G"``, ``"1.5GiB"`` or a plain number; None for ``off``/``0``/``none``;
    :class:`MemorySizeError` for anything else."""
    value = text.strip().lower()
    if value in ("", "0", "off", "none", "no"):
        return None
    match = re.fullmatch(r"([0-9]{1,20}(?:\.[0-9]{1,20})?)\s*([kmgt]?)(?:i?b)?", value)
    size = (
        None
        if match is None
        else float(match.group(1)) * 1024 ** " kmgt".index(match.group(2) or " ")
    )
    if size is None or not 0 < size <= MAX_SIZE:
        raise MemorySizeError(
            f"{MEMORY_ENV}={text[:40]!r}: expected a size such as 512M or 4G (at most 4E), or off"
        )
    return int(size)


def available_memory() -> int | None:
    """``MemAvailable`` from ``/proc/meminfo`` in bytes (None where there is none)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_headroom(devices: Sequence[str]) -> int | None:
    """Bytes each worker may allocate on top of its size once started: ``$SCRATCHLAB_WORKER_MEMORY``,
    else the memory available now; None (no limit) when a run uses an accelerator, whose driver
    reserves far more address space than it uses, so an address-space limit would break it."""
    if any(not d.startswith("cpu") for d in devices):
        return None
    if MEMORY_ENV in os.environ:
        return parse_size(os.environ[MEMORY_ENV])
    return available_memory()


def _vm_size() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _limit_memory(headroom: int | None) -> int | None:
    """Cap this process's address space at its current size plus ``headroom``; the cap, or None."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    base = _vm_size()
    if headroom is None or base is None:
        return None
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = base + headroom if hard == resource.RLIM_INFINITY else min(base + headroom, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return limit


def _out_of_memory(result: RunResult) -> bool:
    return result.status == "failed" and any(m in (result.reason or "") for m in _OOM_MARKERS)


# --------------------------------------------------------------------------- the worker process


def _redirect_output(path: str) -> None:
    """Send this process's stdout and stderr (Python's and native code's) to ``path``."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.reconfigure(line_buffering=True)  # what a dying run printed last is kept


def _output_size() -> int:
    """Bytes written to this worker's output file so far (where the next run's output begins)."""
    try:
        return os.fstat(1).st_size
    except OSError:
        return 0


def _die_with_parent() -> None:
    """Linux: have the kernel kill this worker when the driver dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker runs: what it loads and when it retires."""

    modules: tuple[str, ...]  # --plugin modules
    output: str  # the file its stdout and stderr go to
    headroom: int | None  # bytes it may allocate over its start-up size (None: no limit)
    max_runs: int | None = None  # retire after this many runs (--max-runs-per-worker)
    blocked: frozenset[str] = frozenset()  # plugins that crashed a worker on import: not loaded
    #: the driver's environment when it started the worker (a forked worker has the server's)
    environ: dict[str, str] | None = None


def worker_main(conn: Any, options: WorkerOptions) -> None:
    """The worker process: load everything, say ready, then run what the driver sends until told
    to stop (or until it retires: out of memory, a run changed what cannot be restored, or
    ``max_runs`` runs done)."""
    from scratchlab.runner.workerstart import leave_forkserver

    leave_forkserver()
    if options.environ is not None:  # before anything reads it: the plugins, the runs
        os.environ.clear()
        os.environ.update(options.environ)
    parent = os.getppid()
    _redirect_output(options.output)
    # Ctrl-C and a closed terminal reach the whole process group; the driver decides
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != parent:
        return  # the driver died before the line above took effect
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # a group of its own: the driver kills what a run left behind with it
    faulthandler.enable()
    import torch  # noqa: F401  (imported now, so that no run's clock pays for it)

    from scratchlab.runner.fingerprint import held_limit, plugin_modules
    from scratchlab.runner.isolation import Isolation

    plugins = _load_plugins(conn, options)
    limit = _limit_memory(options.headroom)
    isolation = Isolation(plugin_modules(plugins), replaceable=True, held_limit=held_limit())
    conn.send(("ready", os.getpid(), limit))
    done = 0
    stash: deque = deque()  # runs sent ahead that arrived while a run waited for a verdict
    while True:
        try:
            message = stash.popleft() if stash else conn.recv()
        except (EOFError, OSError):
            _exit_now(conn)  # the driver is gone
        if message is None:
            _exit_now(conn)
        planned, timeout, threads, live = message
        link = None if live is None else PipeLink(conn, live, stash)
        result, replace, note = _run_one(plugins, planned, timeout, threads, limit, isolation, link)
        done += 1
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        # a process that hit its memory limit may be half-broken, one a run changed for good is
        # not the same process any more: it retires, the driver starts a fresh one
        retire = replace or _out_of_memory(result) or done == options.max_runs
        conn.send(("result", result, retire, _output_size(), note))
        if retire:
            _exit_now(conn)


def _exit_now(conn: Any) -> None:
    """End this worker at once: it holds nothing to clean up (its results are sent, its output
    is flushed), a thread a run left behind would keep a normal exit waiting, and tearing down
    torch's modules costs the sweep half a second at its end."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(OSError):
        conn.close()
    os._exit(0)


def _load_plugins(conn: Any, options: WorkerOptions) -> Any:
    """Import each third-party plugin alone first, telling the driver which (a plugin whose
    import crashes the process is then known by name), then load them all."""
    import importlib
    import importlib.metadata

    from scratchlab.plugins.manager import DISABLE_ENV, ENTRY_POINT_GROUP, load_plugins

    disabled = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    disabled |= options.blocked
    found = [
        (ep.name, ep.value.partition(":")[0])
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    ]
    for name, module in [*found, *((m, m) for m in options.modules)]:
        if not {name, module} & disabled:
            conn.send(("loading", name))
            with contextlib.suppress(Exception):  # load_plugins reports it, by name
                importlib.import_module(module)
    conn.send(("loading", None))
    return load_plugins(options.modules, disabled=disabled)


def _run_one(
    plugins: Any,
    planned: PlannedRun,
    timeout: float | None,
    threads: int,
    limit: int | None,
    isolation: Any,
    link: PipeLink | None = None,
) -> tuple[RunResult, bool, str | None]:
    """Run ``planned`` from the baseline state; its result (with a note of what it changed in the
    process), whether this worker must be replaced, and the note."""
    from scratchlab.runner.run_one import run_experiment

    started_at = datetime.now(UTC)
    isolation.begin(threads)
    try:
        missing = missing_on_worker(plugins, planned)
        if missing is not None:
            result = failed_result(missing, started_at)
        else:
            result = run_experiment(plugins, planned, timeout=timeout, link=link)
    except BaseException as exc:  # KeyboardInterrupt raised by the run itself (SIGINT is ignored)
        result = failed_result(
            f"the run raised {type(exc).__name__}\n{traceback.format_exc()}", started_at
        )
    try:
        verdict = isolation.end()
        note, replace = verdict.note, verdict.replace
    except Exception as exc:  # a state so broken it cannot be put back: start afresh
        note, replace = (
            f"the run left its process unrestorable: {exc!r} (its worker was replaced)",
            True,
        )
    result.reason = add_note(result.reason, note)
    if _out_of_memory(result):
        size = (
            "its address-space limit"
            if limit is None
            else f"its limit of {limit / 2**30:.1f} GiB of address space"
        )
        result.reason = f"out of memory: the run needed more than {size}\n{result.reason}"
    return result, replace, note
