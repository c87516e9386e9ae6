"""What a run can change in its process that cannot be put back: a fingerprint, checked after each run.

A long-lived worker runs many runs. What one run changes and the runner can restore (the default
dtype, grad mode, the environment, ...) is restored by :mod:`scratchlab.runner.isolation`; this
module records, before the first run, what cannot be restored with certainty and tells, after
each run, what differs:

- the identity of the functions runs call: every callable attribute of torch, ``torch.Tensor``,
  ``torch.nn.functional``, ``torch.nn.init``, ``torch.linalg``, ``torch.autograd``, the
  ``torch.nn`` layer classes, and of the lessons' and the plugins' own modules (a run that
  patched ``torch.matmul`` made later gradchecks fail and later timings 400x slower);
- live non-daemon threads started since;
- child processes still running (they are killed: a sweep leaves none behind);
- memory held over the baseline (resident set, plus CUDA memory once CUDA is in use).

A worker whose fingerprint differs is replaced before its next run (the supervisor starts a
fresh one); ``--inline`` cannot replace its process, so it puts patched attributes back and says
what it could not undo. Checking costs well under a millisecond for the functions (a dict lookup
and an identity test per attribute) and a few system calls for the rest.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

#: modules whose callables every run may reach (the lessons' building blocks)
TORCH_MODULES = (
    "torch",
    "torch.nn.functional",
    "torch.nn.init",
    "torch.linalg",
    "torch.autograd",
    "torch.utils.benchmark",
)
#: memory a run may leave held over the worker's baseline before the worker is replaced
DEFAULT_HELD_LIMIT = 1 << 30
#: environment variable: that limit as a size (``512M``, ``2G``) or ``off``
HELD_ENV = "SCRATCHLAB_WORKER_HELD_MEMORY"


@dataclass
class _Namespace:
    """The callable attributes of one module or class, as they were at the baseline."""

    label: str  # "torch", "torch.Tensor"
    owner: Any  # the module or class
    values: dict[str, Any]
    is_class: bool
    size: int  # len(vars(owner)) then: a class that gained an attribute shadows its bases

    def changed(self) -> list[str]:
        """Names whose value is no longer the recorded object (or, in a class, was added).

        torch wraps a few of its own functions when a submodule is first imported
        (``torch._dynamo`` wraps ``torch.manual_seed``): a wrapper defined in torch's own files
        around the recorded object is taken as the new recorded value, not as a change."""
        current = vars(self.owner)
        out = []
        for name, value in self.values.items():
            now = current.get(name, _MISSING)
            if now is value:
                continue
            if _torch_wrapper(now, value):
                self.values[name] = now
                continue
            out.append(name)
        if self.is_class and len(current) != self.size:
            out += [n for n in current if n not in self.values and callable(current[n])]
        return out

    def put_back(self, names: Sequence[str]) -> None:
        """Restore ``names`` to their recorded objects (delete those a run added to a class)."""
        for name in names:
            with contextlib.suppress(AttributeError, TypeError):
                if name in self.values:
                    setattr(self.owner, name, self.values[name])
                else:
                    delattr(self.owner, name)


_MISSING = object()


def _torch_wrapper(new: Any, old: Any) -> bool:
    """Whether ``new`` is torch's own ``functools.wraps`` wrapper around ``old``."""
    if getattr(new, "__wrapped__", None) is not old:
        return False
    code = getattr(new, "__code__", None)
    torch = sys.modules.get("torch")
    if code is None or torch is None or torch.__file__ is None:
        return False
    return code.co_filename.startswith(os.path.dirname(torch.__file__) + os.sep)


def _namespace(label: str, owner: Any) -> _Namespace:
    attrs = vars(owner)
    values = {n: v for n, v in attrs.items() if callable(v) and not isinstance(v, type(sys))}
    return _Namespace(label, owner, values, isinstance(owner, type), len(attrs))


def watched_namespaces(modules: Iterable[ModuleType]) -> list[_Namespace]:
    """The namespaces whose callables are fingerprinted: torch's key modules and classes, and
    ``modules`` (the lessons' and the plugins') with the classes each defines."""
    import torch

    spaces = [_namespace(name, sys.modules[name]) for name in TORCH_MODULES if name in sys.modules]
    classes: list[tuple[str, type]] = [("torch.Tensor", torch.Tensor)]
    classes += [("torch._C.TensorBase", torch._C.TensorBase), ("torch.nn.Module", torch.nn.Module)]
    classes += [
        (f"torch.nn.{n}", c)
        for n, c in vars(torch.nn).items()
        if isinstance(c, type) and issubclass(c, torch.nn.Module) and c is not torch.nn.Module
    ]
    seen = {id(s.owner) for s in spaces}
    for module in modules:
        if id(module) in seen:
            continue
        seen.add(id(module))
        spaces.append(_namespace(module.__name__, module))
        classes += [
            (f"{module.__name__}.{n}", c)
            for n, c in vars(module).items()
            if isinstance(c, type) and c.__module__ == module.__name__
        ]
    for label, cls in classes:
        if id(cls) not in seen:
            seen.add(id(cls))
            spaces.append(_namespace(label, cls))
    return spaces


def plugin_modules(plugins: Any) -> list[ModuleType]:
    """The lessons' modules (every loaded ``scratchlab.*`` module) and each loaded plugin's module
    with the loaded modules of its package."""
    tops = {"scratchlab"}
    for obj in plugins.pm.get_plugins() if plugins is not None else ():
        name = obj.__name__ if isinstance(obj, type(sys)) else type(obj).__module__
        tops.add(name.partition(".")[0])
    return [
        m
        for name, m in list(sys.modules.items())
        if isinstance(m, type(sys)) and name.partition(".")[0] in tops
    ]


# --------------------------------------------------------------------------- processes and memory


def child_pids() -> set[int]:
    """Process ids of this process's living children (Linux ``/proc``; elsewhere multiprocessing's)."""
    tasks = Path(f"/proc/{os.getpid()}/task")
    if not tasks.is_dir():
        import multiprocessing

        return {p.pid for p in multiprocessing.active_children() if p.pid}
    pids: set[int] = set()
    for task in tasks.iterdir():
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(p) for p in (task / "children").read_text().split())
    return pids


def _descendants(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError, ValueError):
            for child in (task / "children").read_text().split():
                out += [int(child), *_descendants(int(child))]
    return out


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() or "?"
    except OSError:
        return "?"


def kill_children(pids: Iterable[int]) -> None:
    """SIGKILL ``pids`` and their descendants, and reap those that are ours."""
    pids = list(pids)
    for pid in [d for p in pids for d in _descendants(p)] + pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:
        deadline = time.monotonic() + 2
        with contextlib.suppress(ChildProcessError, OSError):
            while os.waitpid(pid, os.WNOHANG) == (0, 0) and time.monotonic() < deadline:
                time.sleep(0.005)


def resident_bytes() -> int:
    """This process's resident set size in bytes (0 where ``/proc`` has none)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def device_bytes() -> int:
    """CUDA memory torch's allocator holds for tensors, once CUDA is in use (else 0)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return 0
    return sum(torch.cuda.memory_allocated(i) for i in range(torch.cuda.device_count()))


def _used() -> int:
    """Memory in use that a run could be holding: resident plus CUDA, less the datasets the
    runner itself caches between runs (a large dataset would otherwise retire every worker)."""
    from scratchlab.runner.rundata import cached_bytes

    return resident_bytes() + device_bytes() - cached_bytes()


def held_limit() -> int | None:
    """Bytes a run may leave held: ``$SCRATCHLAB_WORKER_HELD_MEMORY``, else 1 GiB; None for off."""
    from scratchlab.runner.worker import parse_size

    text = os.environ.get(HELD_ENV)
    return DEFAULT_HELD_LIMIT if text is None else parse_size(text)


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


# --------------------------------------------------------------------------- the fingerprint


@dataclass
class Difference:
    """What a run left behind that cannot be restored: one phrase each, and what to act on."""

    phrases: list[str] = field(default_factory=list)
    patched: list[tuple[_Namespace, list[str]]] = field(default_factory=list)
    children: set[int] = field(default_factory=set)
    threads: list[threading.Thread] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.phrases)


class Fingerprint:
    """Recorded before the first run; :meth:`compare` tells what a run left that differs."""

    def __init__(self, modules: Iterable[ModuleType], limit: int | None) -> None:
        self.spaces = watched_namespaces(modules)
        self.threads = {t.ident for t in threading.enumerate()}
        self.children = child_pids()
        self.memory = _used()
        self.limit = limit

    @property
    def size(self) -> int:
        """How many attributes are watched."""
        return sum(len(s.values) for s in self.spaces)

    def compare(self) -> Difference:
        """What differs from the recording now (memory is measured after a collection only when
        it is over the limit, since a full ``gc.collect()`` costs tens of milliseconds)."""
        diff = Difference()
        for space in self.spaces:
            names = space.changed()
            if names:
                diff.patched.append((space, names))
        if diff.patched:
            shown = [f"{s.label}.{n}" for s, names in diff.patched for n in names]
            more = f" and {len(shown) - 4} more" if len(shown) > 4 else ""
            diff.phrases.append(f"replaced {', '.join(shown[:4])}{more}")
        diff.threads = threads = [
            t
            for t in threading.enumerate()
            if not t.daemon and t.ident not in self.threads and t.is_alive()
        ]
        if threads:
            names = ", ".join(repr(t.name) for t in threads[:3])
            diff.phrases.append(f"left {len(threads)} non-daemon thread(s) running ({names})")
        diff.children = child_pids() - self.children
        if diff.children:
            names = ", ".join(f"{p} ({_command(p)})" for p in sorted(diff.children)[:3])
            diff.phrases.append(f"left {len(diff.children)} child process(es) running: {names}")
        held = self._held()
        if held is not None:
            diff.phrases.append(
                f"held {_mib(held)} of memory after it ended (limit {_mib(self.limit or 0)})"
            )
        return diff

    def accept(self) -> None:
        """Take the threads and memory there are now as the baseline (what ``--inline`` cannot
        undo is reported once, not again after every later run)."""
        self.threads = {t.ident for t in threading.enumerate()}
        self.children = child_pids()
        self.memory = max(self.memory, _used())

    def _held(self) -> int | None:
        if self.limit is None:
            return None
        held = _used() - self.memory
        if held <= self.limit:
            return None
        gc.collect()
        held = _used() - self.memory
        return held if held > self.limit else None
