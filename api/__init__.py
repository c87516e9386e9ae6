"""scratchlab: run the building blocks of a neural network written from scratch, keep the results.

In a notebook::

    import scratchlab as sl

    sweep = sl.sweep(plugins=["matmul", "init"], matmul=["torch", "einsum"], settings={"train.epochs": 1})
    results = sl.open()                      # the CLI's database: SCRATCHLAB_DB, else runs.db
    results.runs(experiment="train", where="valid_accuracy>=0.8", sort="valid_accuracy", desc=True)
    sl.charts.layers(results, model="deep", value="std")

``open`` and ``Results`` are in :mod:`scratchlab.reading`, ``sweep`` and
``Sweep`` in :mod:`scratchlab.running`, the charts in :mod:`scratchlab.charts`,
``importance`` in :mod:`scratchlab.analysis`.
The parts are the sub-packages ``scratchlab.plugins``, ``scratchlab.runner``,
``scratchlab.db`` and ``scratchlab.reports``. Importing this package imports
none of them, nor torch or pandas: each name loads on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> "module:attribute" (or "module" for a module), loaded on first use
_LAZY: dict[str, str] = {
    "open": "scratchlab.reading:open",
    "Results": "scratchlab.reading:Results",
    "sweep": "scratchlab.running:sweep",
    "Sweep": "scratchlab.running:Sweep",
    "charts": "scratchlab.charts",
    "importance": "scratchlab.analysis:importance",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'scratchlab' has no attribute {name!r}")
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    value = getattr(module, attribute) if attribute else module
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
