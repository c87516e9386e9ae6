"""The scratchlab plugin API.

A plugin is a module (or object) with functions marked ``@hookimpl`` whose
names are hooks from :mod:`scratchlab.plugins.hookspecs`::

    from scratchlab.plugins import Matmul, hookimpl

    @hookimpl
    def register_matmuls(register):
        register(Matmul(name="mine", fn=lambda a, b: a @ b, description="..."))

Importing this package does not import torch.
"""

from __future__ import annotations

import pluggy

from scratchlab.plugins.types import (
    CATEGORIES,
    COMPONENT_CATEGORIES,
    DEFAULTS,
    Activation,
    Component,
    Dataset,
    DataSplits,
    Experiment,
    Init,
    Loss,
    Matmul,
    Skip,
    bind,
)

#: Marks a function as the implementation of a scratchlab hook.
hookimpl = pluggy.HookimplMarker("scratchlab")

__all__ = [
    "CATEGORIES",
    "COMPONENT_CATEGORIES",
    "DEFAULTS",
    "Activation",
    "Component",
    "DataSplits",
    "Dataset",
    "Experiment",
    "Init",
    "Loss",
    "Matmul",
    "Skip",
    "bind",
    "hookimpl",
]
