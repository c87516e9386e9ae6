"""The scratchlab plugin API: everything a plugin author imports is here.

A plugin is a module (or object) with functions marked ``@hookimpl`` whose
names are hooks from :mod:`scratchlab.plugins.hookspecs`::

    from scratchlab.plugins import Matmul, hookimpl

    @hookimpl
    def register_matmuls(register):
        register(Matmul(name="mine", fn=lambda a, b: a @ b, description="..."))

What is published here:

- the component types (:class:`Matmul`, :class:`Init`, :class:`Activation`,
  :class:`Loss`, :class:`Dataset`, :class:`Experiment`, the base
  :class:`Component`), :class:`DataSplits`, :class:`Skip` and :func:`bind`;
- :class:`Category` and :data:`BUILTIN_CATEGORIES`, to add a category of
  components (see :mod:`scratchlab.plugins.categories`);
- param bounds (:class:`Bounds` and its shorthands, see
  :mod:`scratchlab.plugins.contracts`), checked when a sweep is planned;
- the records observer hooks receive: :class:`RunResult` (``status``,
  ``reason``, ``timings``, ``stats``, ``metrics``, times), :class:`TimingRecord`,
  :class:`StatRecord`, :class:`MetricRecord`, and :class:`PlannedRun` (what a run is);
- helpers the built-ins use, loaded on first use (they import torch):
  :func:`fans`, :func:`fan`, :func:`gain` (from ``inits``),
  :func:`normalised_splits` (``datasets.common``), and the experiments' model
  builders :func:`mlp`, :func:`cnn`, :func:`init_weight`, :class:`Linear`,
  :func:`output_width`, :func:`targets` (``experiments.models``).

The contracts, checked where a run starts (a broken one fails the run with a
one-line reason naming the plugin and the rule, see
:mod:`scratchlab.plugins.contracts`):

- **Init**: ``fn(weight, gain, **params)`` fills ``weight`` in place and keeps
  its shape. Weights have PyTorch's layout: ``(out, in)`` for a linear layer,
  ``(out, in, *kernel)`` for a convolution, so ``fans(weight.shape)`` is
  ``(in * receptive field, out * receptive field)``. ``mode`` (``"fan_in"`` /
  ``"fan_out"``), like any param, reaches ``fn`` only if the init declares it
  in ``params`` (``params={"mode": "fan_in"}``).
- **Dataset**: ``load(**params)`` returns :class:`DataSplits` of CPU tensors:
  float32 features ``(n, d)``, normalised (training split mean about 0, std
  about 1 — :func:`normalised_splits` does it), int64 labels ``(n,)`` in
  ``0..n_classes-1``, train and valid with the same ``d``.
- **Matmul**: ``fn(a, b)`` returns ``a @ b``: shape ``(m, n)`` for ``(m, k) @ (k, n)``.
- **Activation**: ``forward(x)`` keeps ``x``'s shape; ``backward(x, grad_out)``
  returns the gradient for ``x`` (same shape); ``gain`` is a number or a callable of the params.
- **Loss**: ``forward(output, target)`` is a scalar; ``grad`` returns d loss / d output.
- **Experiment**: ``run(ctx)`` records through the context; ``uses`` names categories.

Importing this package does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

import pluggy

from scratchlab.plugins.categories import BUILTIN_CATEGORIES, Category
from scratchlab.plugins.types import (
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

#: helpers that import torch: name -> module they come from, imported on first use
_LAZY: dict[str, str] = {
    "fans": "scratchlab.plugins.inits",
    "fan": "scratchlab.plugins.inits",
    "gain": "scratchlab.plugins.inits",
    "normalised_splits": "scratchlab.plugins.datasets.common",
    "mlp": "scratchlab.plugins.experiments.models",
    "cnn": "scratchlab.plugins.experiments.models",
    "init_weight": "scratchlab.plugins.experiments.models",
    "Linear": "scratchlab.plugins.experiments.models",
    "output_width": "scratchlab.plugins.experiments.models",
    "targets": "scratchlab.plugins.experiments.models",
}
#: the records observer hooks receive (``scratchlab.core.records``, which loads the database package)
_RECORDS = ("MetricRecord", "PlannedRun", "RunResult", "StatRecord", "TimingRecord")
#: names that read the built-in table (kept for plugins written before categories were data)
_BUILTIN = ("CATEGORIES", "COMPONENT_CATEGORIES", "DEFAULTS")
#: param bounds, from :mod:`scratchlab.plugins.contracts`
_CONTRACTS = ("Bounds", "positive", "non_negative", "finite", "positive_int", "in_range", "one_of")


def __getattr__(name: str) -> Any:
    """Load a torch-using helper, a param-bounds helper or a built-in-category constant on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _RECORDS:
        return getattr(importlib.import_module("scratchlab.core.records"), name)
    if name in _BUILTIN:
        return getattr(importlib.import_module("scratchlab.plugins.types"), name)
    if name in _CONTRACTS:
        return getattr(importlib.import_module("scratchlab.plugins.contracts"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BUILTIN_CATEGORIES",
    "Activation",
    "Category",
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
    *_RECORDS,
    *_LAZY,
    *_BUILTIN,
    *_CONTRACTS,
]
