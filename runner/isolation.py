"""Each run starts from the same process state, whatever ran before it in that process.

A worker (or the ``--inline`` driver) records a baseline before its first run. After every run,
:meth:`Isolation.end` puts back what the run changed and the runner can restore:

    torch's default dtype, grad mode, anomaly mode, flush-denormal, deterministic algorithms,
    float32 matmul precision and backend flags; the torch thread count; the RNG states (python,
    numpy, torch); the working directory, ``os.environ``, ``sys.path``, the warnings filters, the
    recursion limit, numpy's error state, garbage collection, trace functions; every Python
    signal handler and the alarm and interval timers; file descriptors 1 and 2 and
    ``sys.stdout``/``sys.stderr``.

and checks the :mod:`~scratchlab.runner.fingerprint` of what it cannot restore (patched
functions, threads, child processes, memory). Each change is named in one line, which the runner
appends to the run's reason, so the run that changed the process says so. RNG states are
restored silently: every run draws random numbers, and every run is seeded anyway.

A fingerprint difference asks for a new process (:attr:`Verdict.replace`); a worker then
retires and the supervisor starts a fresh one. ``--inline`` puts patched attributes back, kills
leftover children, and says in the note what it could not undo.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import random
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from scratchlab.runner.fingerprint import Fingerprint, kill_children

#: signals whose handlers cannot be read or set
_FIXED_SIGNALS = {getattr(signal, n) for n in ("SIGKILL", "SIGSTOP") if hasattr(signal, n)}
_TIMERS = tuple(
    (name, getattr(signal, f"ITIMER_{name.upper()}"))
    for name in ("real", "virtual", "prof")
    if hasattr(signal, f"ITIMER_{name.upper()}")
)


@dataclass(frozen=True)
class Aspect:
    """One piece of process state: how to read it, put it back, and say how a run changed it.

    ``report`` False: restored after every run without a word (the RNG states, which every run
    changes by drawing numbers). ``grows``: whether ``after`` only adds to ``before``; such a
    change in a run that imported a module for the first time is restored without a word too
    (``torch.utils.benchmark`` brings ``pkg_resources``, which adds a path and a warnings filter
    on import: the first timing run of every worker would otherwise be blamed for it)."""

    name: str
    read: Callable[[], Any]
    write: Callable[[Any], None]
    describe: Callable[[Any, Any], str]
    report: bool = True
    grows: Callable[[Any, Any], bool] | None = None


# --------------------------------------------------------------------------- the aspects


def _torch() -> Any:
    import torch

    return torch


def _denormals_flushed() -> bool:
    torch = _torch()
    # 1e-39 is a float32 denormal: with flush-denormal on, it reads as zero
    return bool((torch.tensor([1e-39]) * 2.0).item() == 0.0)


def _backend_flags() -> tuple:
    torch = _torch()
    cudnn, cuda = torch.backends.cudnn, torch.backends.cuda
    return (cudnn.enabled, cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32,
            cuda.matmul.allow_tf32, cuda.matmul.allow_fp16_reduced_precision_reduction)  # fmt: skip


def _set_backend_flags(v: tuple) -> None:
    torch = _torch()
    cudnn, cuda = torch.backends.cudnn, torch.backends.cuda
    cudnn.enabled, cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32 = v[:4]
    cuda.matmul.allow_tf32, cuda.matmul.allow_fp16_reduced_precision_reduction = v[4:]


def _rng_states() -> tuple:
    import numpy as np

    torch = _torch()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    return random.getstate(), np.random.get_state(), torch.get_rng_state(), cuda


def _set_rng_states(v: tuple) -> None:
    import numpy as np

    torch = _torch()
    random.setstate(v[0])
    np.random.set_state(v[1])
    torch.set_rng_state(v[2])
    if v[3] is not None:
        torch.cuda.set_rng_state_all(v[3])


def _contains(before: Any, after: Any) -> bool:
    return all(item in after for item in before)


def _environ_grows(before: dict, after: dict) -> bool:
    return all(after.get(k) == v for k, v in before.items())


def _environ_diff(before: dict, after: dict) -> str:
    keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    return f"changed environment variable(s) {', '.join(keys[:3])}{more}"


def _set_environ(v: dict) -> None:
    for key in [k for k in os.environ if k not in v]:
        del os.environ[key]
    for key, value in v.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _set_paths(v: tuple) -> None:
    sys.path[:], sys.meta_path[:], sys.path_hooks[:] = v


def _set_filters(v: list) -> None:
    warnings.filters[:] = v
    warnings._filters_mutated()  # type: ignore[attr-defined]  (the C cache of the filters)


def _handlers() -> dict[int, Any]:
    return {
        s: signal.getsignal(s) for s in sorted(signal.valid_signals()) if s not in _FIXED_SIGNALS
    }


def _set_handlers(v: dict[int, Any]) -> None:
    for signum, handler in v.items():
        if handler is not None and signal.getsignal(signum) is not handler:
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(signum, handler)


def _handlers_diff(before: dict, after: dict) -> str:
    names = [signal.Signals(s).name for s in before if before[s] is not after.get(s)]
    return f"changed the handler of {', '.join(names[:4])}"


def _sigmask() -> set:
    return (
        signal.pthread_sigmask(signal.SIG_BLOCK, ())
        if hasattr(signal, "pthread_sigmask")
        else set()
    )


def _set_sigmask(v: set) -> None:
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_SETMASK, v)


def _timers() -> tuple:
    return tuple(signal.getitimer(which) for _, which in _TIMERS)


def _disarm_timers(v: tuple) -> None:
    # a timer armed at the baseline (pytest-timeout's, inline) keeps running; one a run armed stops
    for (_, which), (delay, _interval) in zip(_TIMERS, v, strict=True):
        if delay == 0:
            signal.setitimer(which, 0)


def _timers_diff(before: tuple, after: tuple) -> str:
    armed = [
        f"{name} timer ({delay:.1f} s left)"
        for (name, _), (delay, _), (was, _) in zip(_TIMERS, after, before, strict=True)
        if delay and not was
    ]
    return f"left an armed {' and '.join(armed) or 'timer'} (an alarm)"


def _umask() -> int:
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def _trace() -> tuple:
    return sys.gettrace(), sys.getprofile()


def _set_trace(v: tuple) -> None:
    sys.settrace(v[0])
    sys.setprofile(v[1])


def _gc_state() -> tuple:
    return gc.isenabled(), gc.get_threshold()


def _set_gc_state(v: tuple) -> None:
    (gc.enable if v[0] else gc.disable)()
    gc.set_threshold(*v[1])


def _numpy_errors() -> dict:
    import numpy as np

    return np.geterr()


def _set_numpy_errors(v: dict) -> None:
    import numpy as np

    np.seterr(**v)


def _was(label: str) -> Callable[[Any, Any], str]:
    """``set <label> to AFTER (was BEFORE)``."""
    return lambda before, after: f"set {label} to {after} (was {before})"


def aspects() -> list[Aspect]:
    """Every piece of process state restored after each run, in the order it is put back."""
    torch = _torch()
    return [
        Aspect(
            "dtype", torch.get_default_dtype, torch.set_default_dtype, _was("the default dtype")
        ),
        Aspect("grad", torch.is_grad_enabled, torch.set_grad_enabled, _was("grad mode")),
        Aspect(
            "anomaly",
            lambda: (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()),
            lambda v: torch.autograd.set_detect_anomaly(*v),
            lambda b, a: f"set anomaly detection to {a[0]} (was {b[0]})",
        ),
        Aspect("denormal", _denormals_flushed, torch.set_flush_denormal, _was("flush-denormal")),
        Aspect(
            "deterministic",
            lambda: (
                torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(),
            ),
            lambda v: torch.use_deterministic_algorithms(v[0], warn_only=v[1]),
            lambda b, a: f"set deterministic algorithms to {a[0]} (was {b[0]})",
        ),
        Aspect(
            "precision",
            torch.get_float32_matmul_precision,
            torch.set_float32_matmul_precision,
            _was("the float32 matmul precision"),
        ),
        Aspect(
            "backends", _backend_flags, _set_backend_flags, lambda b, a: "changed cudnn/cuda flags"
        ),
        Aspect(
            "threads", torch.get_num_threads, torch.set_num_threads, _was("torch's thread count")
        ),
        Aspect("rng", _rng_states, _set_rng_states, lambda b, a: "", report=False),
        Aspect("cwd", os.getcwd, os.chdir, _was("the working directory")),
        Aspect(
            "environ", lambda: dict(os.environ), _set_environ, _environ_diff, grows=_environ_grows
        ),
        Aspect(
            "path",
            lambda: (list(sys.path), list(sys.meta_path), list(sys.path_hooks)),
            _set_paths,
            lambda b, a: (
                "changed sys.path" if a[0] != b[0] else "changed sys.meta_path or path_hooks"
            ),
            grows=lambda b, a: all(_contains(x, y) for x, y in zip(b, a, strict=True)),
        ),
        Aspect(
            "warnings",
            lambda: list(warnings.filters),
            _set_filters,
            lambda b, a: f"changed the warnings filters ({len(a)} filters, were {len(b)})",
            grows=_contains,
        ),
        Aspect(
            "recursion", sys.getrecursionlimit, sys.setrecursionlimit, _was("the recursion limit")
        ),
        Aspect("numpy", _numpy_errors, _set_numpy_errors, lambda b, a: "changed numpy's seterr"),
        Aspect("gc", _gc_state, _set_gc_state, _was("garbage collection (enabled, thresholds)")),
        Aspect("trace", _trace, _set_trace, lambda b, a: "left a trace or profile function set"),
        Aspect("umask", _umask, os.umask, _was("the umask")),
        Aspect("handlers", _handlers, _set_handlers, _handlers_diff),
        Aspect(
            "sigmask",
            _sigmask,
            _set_sigmask,
            lambda b, a: (
                f"blocked {', '.join(sorted(signal.Signals(s).name for s in a - b)) or 'no new'} signal(s)"
            ),
        ),
        Aspect("timers", _timers, _disarm_timers, _timers_diff),
    ]


# --------------------------------------------------------------------------- standard streams


class Streams:
    """File descriptors 1 and 2 and ``sys.stdout``/``sys.stderr``: a run that closes or replaces
    them made the next run's ``print`` fail (and an inline driver's progress line with it).
    Duplicates of the two descriptors are kept from the baseline to put them back."""

    def __init__(self) -> None:
        self.saved = {fd: os.dup(fd) for fd in (1, 2) if _fd_id(fd) is not None}
        self.ids = {fd: _fd_id(fd) for fd in self.saved}
        self.objects = {"stdout": sys.stdout, "stderr": sys.stderr}

    def restore(self) -> list[str]:
        """Put back what differs; one phrase per change."""
        out = []
        for fd, saved in self.saved.items():
            if _fd_id(fd) != self.ids[fd]:
                os.dup2(saved, fd)
                out.append(f"closed or redirected file descriptor {fd}")
        for name, obj in self.objects.items():
            current = getattr(sys, name)
            if current is not obj:
                setattr(sys, name, obj)
                out.append(f"replaced sys.{name}")
            if obj is not None and obj.closed:
                fd = 1 if name == "stdout" else 2
                fresh = io.TextIOWrapper(
                    io.FileIO(fd, "wb", closefd=False),
                    line_buffering=True,
                    errors="backslashreplace",
                )
                self.objects[name] = fresh
                setattr(sys, name, fresh)
                out.append(f"closed sys.{name}")
        return out

    def close(self) -> None:
        """Close the kept duplicates."""
        for saved in self.saved.values():
            with contextlib.suppress(OSError):
                os.close(saved)
        self.saved = {}


def _fd_id(fd: int) -> tuple[int, int] | None:
    try:
        stat = os.fstat(fd)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


# --------------------------------------------------------------------------- the session


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
                _torch().set_num_threads(threads)
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
