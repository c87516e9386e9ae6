"""A process's resident memory on Linux: its peak so far, its size now, and restarting the peak.

For a benchmark that measures what one piece of work adds at its peak: restart
the count with :func:`reset_peak_rss`, note :func:`current_rss_bytes`, do the
work, then read :func:`peak_rss_bytes`. Outside Linux (no ``/proc``) the
readings fall back to ``getrusage`` or 0, and the reset says it could not.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_bytes() -> int:
    """This process's peak resident set so far: ``VmHWM`` from ``/proc/self/status``.

    Not ``ru_maxrss``: on Linux a child inherits its parent's peak through
    ``exec``, so a run started from this (torch-sized) script would report the
    parent's size. ``ru_maxrss`` is only the fallback where there is no /proc.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes() -> int:
    """The resident set now, from ``/proc/self/statm`` (0 where there is no /proc)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * resource.getpagesize()


def reset_peak_rss() -> bool:
    """Restart the peak-RSS count from the current RSS (Linux: ``clear_refs`` 5); False where impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True
