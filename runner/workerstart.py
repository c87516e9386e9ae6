"""How a worker process is started: a fork of a server that has imported torch, or ``spawn``.

A spawned worker pays a fresh interpreter and ``import torch`` (about 2 s of CPU) before it is
ready. :func:`worker_context` gives, where it can, a ``multiprocessing`` forkserver context
instead, whose server imports torch once (only torch: never a plugin module, so an edited
plugin is still loaded fresh by each worker) and never runs a torch operation (an initialised
OpenMP pool or CUDA context does not survive a fork); each worker is then a fork of it.

It falls back to ``spawn`` where there is no forkserver (Windows), for a sweep on an
accelerator (a CUDA process is best started fresh), when ``$SCRATCHLAB_WORKER_START`` is
``spawn`` (the escape hatch), and when a variable read at interpreter start or at torch's import
(:data:`STARTUP_PREFIXES`) differs from the server's while the server is in use (those cannot
be changed in a fork); an idle server with other startup variables is replaced by a new one
instead, so that one changed variable does not make every later sweep in a long-lived process
(a notebook, a test session) spawn its workers. Every
other variable is the driver's current one: the worker applies :func:`driver_environ` first
thing (a forked worker inherits the server's environment; the driver's working directory and
``sys.path`` come with ``multiprocessing``'s preparation data).
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import signal
import weakref
from collections.abc import Sequence
from typing import Any

#: environment variable: ``spawn`` starts every worker with a fresh interpreter
START_ENV = "SCRATCHLAB_WORKER_START"
#: the modules the forkserver imports before it forks workers (the last freezes what the
#: others made, see :mod:`scratchlab.runner.forkserver_ready`)
PRELOAD = ["torch", "scratchlab.runner.forkserver_ready"]
#: variables read when an interpreter starts or torch (and its OpenMP, MKL, CUDA) is loaded
STARTUP_PREFIXES = ("PYTHON", "LD_", "OMP_", "KMP_", "GOMP_", "MKL_", "CUDA_", "TORCH", "PYTORCH")

#: the environment the running forkserver started with (None: not started by this module), how
#: many users hold it (:func:`hold`) besides the workers in :data:`_CHILDREN`, and whether
#: anything was forked from it or held it (``used``)
_SERVER: dict[str, Any] = {
    "environ": None,
    "pid": None,
    "forked": False,
    "holds": 0,
    "used": False,
}
#: the processes this process has forked from the running server (:func:`forked`)
_CHILDREN: weakref.WeakSet = weakref.WeakSet()


def forkserver_wanted(devices: Sequence[str] = ("cpu",)) -> bool:
    """Whether workers for runs on ``devices`` may be forked from the torch forkserver."""
    return (
        os.environ.get(START_ENV, "").strip().lower() != "spawn"
        and "forkserver" in multiprocessing.get_all_start_methods()
        and all(d.startswith("cpu") for d in devices)
    )


def driver_environ() -> dict[str, str]:
    """The driver's environment now, for a worker to apply (:class:`WorkerOptions`)."""
    return dict(os.environ)


def worker_context(
    devices: Sequence[str] = ("cpu",), *, started_only: bool = False, preload: Sequence[str] = ()
) -> Any:
    """The ``multiprocessing`` context to start a worker for runs on ``devices`` with (see the
    module's docstring). With ``started_only``, the forkserver is used only if it is already up,
    so that a start never waits for the server's ``import torch``. ``preload`` names modules a
    server started now imports too, before it freezes (a Dask worker's ``distributed``)."""
    spawn = multiprocessing.get_context("spawn")
    if not forkserver_wanted(devices):
        return spawn
    running = _server_running()
    if running and _startup_vars(os.environ) != _startup_vars(_SERVER["environ"] or {}):
        if started_only or _in_use():
            return spawn
        stop_server()  # idle, and its interpreter started under other variables: a new one
        running = False
    if started_only and not (running and _SERVER["forked"]):
        return spawn
    if not running:
        _start_server(preload)
    return multiprocessing.get_context("forkserver")


def forked(context: Any, process: Any) -> None:
    """A worker (``process``) was started with ``context``: if it is the forkserver's, the
    server is up (its ``import torch`` done), a start with ``started_only`` may use it, and
    the server is in use while the process lives."""
    if context.get_start_method() == "forkserver":
        _SERVER["forked"] = _server_running()
        _SERVER["used"] = True
        _CHILDREN.add(process)


def hold() -> None:
    """Say that processes this module does not track (a Dask nanny's workers) are forked from
    the running server: it is not replaced until :func:`release`."""
    _SERVER["holds"] += 1
    _SERVER["used"] = True


def release() -> None:
    """Undo one :func:`hold`."""
    _SERVER["holds"] = max(0, _SERVER["holds"] - 1)


def _in_use() -> bool:
    """Whether a process forked from the running server may still be alive."""
    return _SERVER["holds"] > 0 or any(_alive(process) for process in list(_CHILDREN))


def _alive(process: Any) -> bool:
    # is_alive asserts it is asked by the process's parent: from elsewhere, assume it lives
    with contextlib.suppress(AssertionError, ValueError):
        return process.is_alive()
    return True


def _startup_vars(environ: Any) -> dict[str, str]:
    # PYTHONPATH aside: a worker's sys.path is the driver's, spawned or forked (the preparation
    # data sets it), so a change to it after the driver started reaches neither
    return {
        k: v
        for k, v in environ.items()
        if k.upper().startswith(STARTUP_PREFIXES) and k != "PYTHONPATH"
    }


def _server_running() -> bool:
    """Whether the forkserver this module started is still running."""
    from multiprocessing import forkserver

    pid = _SERVER["pid"]
    return pid is not None and pid == getattr(forkserver._forkserver, "_forkserver_pid", None)


def _start_server(preload: Sequence[str] = ()) -> None:
    """Start the forkserver (it imports :data:`PRELOAD`, with ``preload`` before its last
    module; a first fork waits for that)."""
    from multiprocessing import forkserver

    forkserver.set_forkserver_preload([*PRELOAD[:-1], *preload, PRELOAD[-1]])
    # the server ignores a closed terminal, as workers do (the driver decides); an ignored
    # signal stays ignored across its exec. Ctrl-C it ignores itself.
    hup = getattr(signal, "SIGHUP", None)
    try:
        previous = signal.signal(hup, signal.SIG_IGN) if hup is not None else None
    except ValueError:  # not the main thread: leave it
        hup = None
    try:
        forkserver.ensure_running()
    finally:
        if hup is not None:
            signal.signal(hup, previous)
    _SERVER.update(environ=dict(os.environ), forked=False, used=False)
    _SERVER["pid"] = forkserver._forkserver._forkserver_pid
    atexit.unregister(_stop_unused_server)
    atexit.register(_stop_unused_server)


def stop_server() -> None:
    """Stop the forkserver this module started, if it runs (workers forked from it die with it:
    call it between sweeps). The next worker that may be forked starts a new server, with the
    environment of then; until a call to this, a changed startup variable means spawn."""
    from multiprocessing import forkserver

    if _server_running():
        forkserver._forkserver._stop()
    _SERVER.update(environ=None, pid=None, forked=False, holds=0, used=False)
    _CHILDREN.clear()


def _stop_unused_server() -> None:
    """At this interpreter's exit: stop a server nothing was ever forked from or held (a sweep
    that ended before its first run: a usage error, nothing left to run). Started without
    waiting, it would otherwise go on importing torch (about 1.2 s of CPU) after the command
    returned, and see only then that its driver is gone; a pipe reading the command's output
    (``runner sweep ... | tee log``) waited for it too, as the server holds the pipe's write
    end. A server that was used exits by itself when this process has, with the workers that
    are its children."""
    if not _server_running() or _SERVER["used"]:
        return
    with contextlib.suppress(OSError):  # gone already
        os.kill(_SERVER["pid"], signal.SIGTERM)
    stop_server()  # reaps it


def leave_forkserver() -> None:
    """In a forked worker: let go of the forkserver's "alive" pipe, which every forked child
    inherits. The server exits when no process holds it, so a worker that kept it would keep the
    server (its parent, whose death kills it) alive after the driver died."""
    from multiprocessing import forkserver

    fd = getattr(forkserver._forkserver, "_forkserver_alive_fd", None)
    if fd is not None and forkserver._forkserver._forkserver_pid is None:
        os.close(fd)
        forkserver._forkserver._forkserver_alive_fd = None
