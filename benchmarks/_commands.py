"""The product's ``runner`` console script, as the benchmark scripts start it.

One place for where the command lives: the scripts that time ``runner`` as a
user starts it (``cli_startup``, ``main_job``, ``noisy_detection``, ``scale``)
all run the script installed next to this interpreter.
"""

from __future__ import annotations

import sys
from pathlib import Path


def runner_executable() -> str:
    """The ``runner`` console script of this interpreter's environment."""
    candidate = Path(sys.executable).with_name("runner")
    if candidate.exists():
        return str(candidate)
    raise SystemExit(f"error: no `runner` next to {sys.executable}; run `pip install -e .` first")
