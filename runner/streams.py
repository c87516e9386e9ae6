"""File descriptors 1 and 2 and ``sys.stdout``/``sys.stderr``, kept from a baseline and put back
after a run that closed or replaced them (:mod:`~scratchlab.runner.isolation`)."""

from __future__ import annotations

import contextlib
import io
import os
import sys


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
