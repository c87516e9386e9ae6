"""How much memory a run may still allocate, and the one-line reason when a plan does not fit.

An experiment that knows its tensors' sizes before allocating them (matmul
does) asks :func:`does_not_fit` first and skips what would not fit, instead
of allocating 19 GB on a 23 GB machine and taking the machine down with it.
The worker's address-space limit (see ``runner/supervisor.py``) is the
backstop for what no estimate foresaw.

On the CPU the room is the smallest of: the kernel's ``MemAvailable``, the
cgroup's ``memory.max`` minus ``memory.current`` (a container's limit, which
``/proc/meminfo`` does not show) and the process's ``RLIMIT_AS`` minus its
current address space. On CUDA it is the device's free memory
(``torch.cuda.mem_get_info``). Unknown is None, and then nothing is refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: refuse a plan that needs more than this share of the room: the allocator,
#: fragmentation and everything else running need the rest
SAFETY = 0.8


def _meminfo_bytes(field: str, path: str = "/proc/meminfo") -> int | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
    except (OSError, ValueError):
        return None


def _address_space_room() -> int | None:
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    size = _meminfo_bytes("VmSize", f"/proc/{os.getpid()}/status")
    return None if size is None else soft - size


def available_bytes(device: Any = "cpu") -> int | None:
    """Bytes a run on ``device`` may still allocate (see the module doc); None when unknown."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type != "cpu":
        return None
    rooms = [
        r
        for r in (_meminfo_bytes("MemAvailable"), _cgroup_room(), _address_space_room())
        if r is not None
    ]
    return max(0, min(rooms)) if rooms else None


def gigabytes(n: float) -> str:
    """``n`` bytes as ``"12.8 GB"`` (``"0.004 GB"`` for small ones)."""
    return f"{n / 1e9:.3g} GB"


def does_not_fit(needed: int, device: Any = "cpu", *, what: str = "it") -> str | None:
    """None when ``needed`` bytes fit in :data:`SAFETY` of the room on ``device``; else the reason."""
    room = available_bytes(device)
    if room is None or needed <= SAFETY * room:
        return None
    return f"{what} needs about {gigabytes(needed)} of memory, {gigabytes(room)} is available on {device}"
