"""The Python process's own state a run may change, as :class:`Aspect` objects.

An aspect says how to read one piece of state, put it back, and describe in one phrase how a run
changed it. :func:`process_aspects` lists what :mod:`~scratchlab.runner.isolation` restores after
every run besides torch's settings (:mod:`~scratchlab.runner.torch_state`): the working directory,
``os.environ``, ``sys.path``, the warnings filters, the recursion limit, numpy's error state,
garbage collection, trace functions, the umask, every Python signal handler, the signal mask and
the alarm and interval timers.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


def was(label: str) -> Callable[[Any, Any], str]:
    """``set <label> to AFTER (was BEFORE)``."""
    return lambda before, after: f"set {label} to {after} (was {before})"


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


def process_aspects() -> list[Aspect]:
    """The process's state restored after each run, in the order it is put back."""
    return [
        Aspect("cwd", os.getcwd, os.chdir, was("the working directory")),
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
            "recursion", sys.getrecursionlimit, sys.setrecursionlimit, was("the recursion limit")
        ),
        Aspect("numpy", _numpy_errors, _set_numpy_errors, lambda b, a: "changed numpy's seterr"),
        Aspect("gc", _gc_state, _set_gc_state, was("garbage collection (enabled, thresholds)")),
        Aspect("trace", _trace, _set_trace, lambda b, a: "left a trace or profile function set"),
        Aspect("umask", _umask, os.umask, was("the umask")),
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
