"""What machine and code a sweep ran on, stored with the sweep; and which devices exist.

:func:`capture_environment` records python, torch, CUDA and device names, the
CPU model and thread count, the OS, the git revision of the working directory
(if it is a checkout) and the versions of scratchlab and of every plugin
distribution, so that results can be compared knowingly later.
:func:`check_devices` refuses a device this machine does not have.

torch is imported inside the functions only: ``runner sweep --help`` and
``--dry-run`` on the CPU must stay light.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: distributions whose versions explain results besides the plugins themselves
KEY_PACKAGES: tuple[str, ...] = (
    "scratchlab",
    "torch",
    "numpy",
    "pluggy",
    "sqlalchemy",
    "dask",
    "distributed",
)

_DEVICE = re.compile(r"^(cpu|cuda|mps)(?::(\d+))?$")


class DeviceError(ValueError):
    """A device name that is unknown or not available on this machine."""


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, sysctl on macOS, else ``platform``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            return subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


def usable_cpus() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def git_revision(directory: str | Path | None = None) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git checkout containing ``directory``
    (default: the working directory), or None outside a checkout or without git."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=directory, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def torch_environment() -> dict[str, Any]:
    """torch's version, threads, CUDA build and the names of the accelerators it sees."""
    import torch

    info: dict[str, Any] = {
        "version": str(torch.__version__),  # a plain str: torch's own subclass pickles with torch
        "threads": torch.get_num_threads(),
        "cuda_build": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "devices": ["cpu"],
    }
    if info["cuda_available"]:
        info["cudnn"] = torch.backends.cudnn.version()
        info["devices"] += [
            f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())
        ]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        info["devices"].append("mps")
    return info


#: how long :func:`torch_environment_forked` waits for the forked child's answer
FORKED_ANSWER_S = 120.0


def torch_environment_forked() -> dict[str, Any]:
    """:func:`torch_environment` as a worker forked from the worker forkserver sees it, so that
    the driver of a sweep never imports torch itself (about 1.3 s of CPU at its start); here,
    when workers are not forked (no forkserver, ``$SCRATCHLAB_WORKER_START=spawn``, a startup
    variable changed while the server is in use), torch is imported here already, or the child
    gives no answer."""
    from scratchlab.runner import workerstart
    from scratchlab.runner.workerproc import caller_main_hidden

    if "torch" in sys.modules or not workerstart.forkserver_wanted():
        return torch_environment()
    context = workerstart.worker_context()
    if context.get_start_method() != "forkserver":
        return torch_environment()
    answer, child = context.Pipe(duplex=False)
    process = context.Process(target=_send_torch_environment, args=(child,), daemon=True)
    with caller_main_hidden():
        process.start()
    workerstart.forked(context, process)
    child.close()
    try:
        if answer.poll(FORKED_ANSWER_S):
            return answer.recv()
    except (EOFError, OSError):
        pass
    finally:
        answer.close()
        process.join(timeout=5.0)
        if process.is_alive():  # no answer in time (a hung device query): not kept waiting
            process.kill()
            process.join()
    return torch_environment()


def _send_torch_environment(conn: Any) -> None:
    """In a child forked from the forkserver: send :func:`torch_environment` and end."""
    from scratchlab.runner.workerstart import leave_forkserver

    leave_forkserver()
    try:
        conn.send(torch_environment())
    finally:
        conn.close()


def plugin_versions(plugins: Any) -> dict[str, dict[str, Any]]:
    """Each loaded plugin's distribution, version and status, by plugin name."""
    return {
        info.name: {
            "source": info.source,
            "distribution": info.distribution,
            "version": info.version,
            "status": info.status,
        }
        for info in plugins.infos
    }


def capture_environment(
    plugins: Any = None,
    *,
    directory: str | Path | None = None,
    torch_info: Callable[[], dict[str, Any]] = torch_environment,
) -> dict[str, Any]:
    """The environment record stored on a sweep (JSON-ready).

    ``plugins`` is the loaded :class:`~scratchlab.plugins.manager.Plugins`;
    ``directory`` the folder whose git revision is recorded (the working
    directory by default); ``torch_info`` gives the ``torch`` part (a backend whose
    workers are forked asks one of those: :func:`torch_environment_forked`).
    """
    packages = {name: _version(name) for name in KEY_PACKAGES}
    if plugins is not None:
        for info in plugins.infos:
            if info.distribution and info.version:
                packages[info.distribution] = info.version
    return {
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "os": {
            "system": platform.system(),
            "release": platform.release(),
            "platform": platform.platform(),
        },
        "host": socket.gethostname(),
        "cpu": {
            "model": cpu_model(),
            "count": os.cpu_count(),
            "usable": usable_cpus(),
            "machine": platform.machine(),
            # a busy machine inflates every timing: keep the evidence with the results
            "load_average": [round(x, 2) for x in os.getloadavg()]
            if hasattr(os, "getloadavg")
            else None,
        },
        "torch": torch_info(),
        "git": git_revision(directory),
        "packages": {k: v for k, v in packages.items() if v is not None},
        "plugins": plugin_versions(plugins) if plugins is not None else {},
    }


def busy_warning(environment: dict[str, Any]) -> str | None:
    """A one-line warning when other processes already keep the usable CPUs busy
    (1-minute load average at or above their count), since timings then measure
    the contention too; None otherwise."""
    cpu = environment.get("cpu", {})
    load, usable = (cpu.get("load_average") or [None])[0], cpu.get("usable") or 1
    if load is None or load < usable:
        return None
    return f"the machine is busy (load average {load:.1f} on {usable} usable CPUs): timings will include the contention"


def check_devices(devices: tuple[str, ...] | list[str]) -> None:
    """Raise :class:`DeviceError` for a device name that is unknown or not on this machine.

    Valid names: ``cpu``, ``cuda``, ``cuda:N``, ``mps``. torch is imported
    only when a device other than the CPU is asked for.
    """
    for device in devices:
        match = _DEVICE.match(device)
        if match is None:
            raise DeviceError(f"unknown device {device!r}; valid: cpu, cuda, cuda:N, mps")
        kind, index = match.group(1), match.group(2)
        if kind == "cpu":
            if index not in (None, "0"):
                raise DeviceError(f"device {device!r}: there is one cpu device; use cpu")
            continue
        import torch

        if kind == "cuda":
            if not torch.cuda.is_available():
                raise DeviceError(
                    f"device {device!r} is not available: torch {torch.__version__} sees no CUDA GPU"
                )
            count = torch.cuda.device_count()
            if index is not None and int(index) >= count:
                raise DeviceError(
                    f"device {device!r} is not available: {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
                )
        else:
            mps = getattr(torch.backends, "mps", None)
            if mps is None or not mps.is_available():
                raise DeviceError(f"device {device!r} is not available on this machine")
