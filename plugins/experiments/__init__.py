"""Built-in experiments, one per step of the lessons.

This module is the built-in plugin ``scratchlab.plugins.experiments``: it
registers ``matmul``, ``init-stats``, ``gradcheck``, ``train`` and ``telemetry`` through
``register_experiments``, the same hook a third-party plugin implements.
Each experiment lives in its own module and uses only the public plugin API
(:mod:`scratchlab.plugins`) and the run context it is given; torch is
imported when an experiment runs, not when it is registered.
"""

from __future__ import annotations

from scratchlab.plugins import hookimpl
from scratchlab.plugins.experiments import gradcheck, init_stats, matmul, telemetry, train

#: the built-in experiments, in the order of the lessons
EXPERIMENTS = (
    matmul.EXPERIMENT,
    init_stats.EXPERIMENT,
    gradcheck.EXPERIMENT,
    train.EXPERIMENT,
    telemetry.EXPERIMENT,
)


@hookimpl
def register_experiments(register):
    """Register the lessons' experiments: matmul, init-stats, gradcheck, train, telemetry."""
    for experiment in EXPERIMENTS:
        register(experiment)
