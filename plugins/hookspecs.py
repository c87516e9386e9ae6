"""Every hook a scratchlab plugin can implement.

Registration hooks follow ``llm``'s callback style: the host passes a
``register`` callable and the plugin calls it once per component. The host
owns ``register``, so duplicate names, missing fields and wrong types are
reported in one place, naming the plugin.

Observer hooks let a plugin follow a sweep (an MLflow or TensorBoard exporter
is a plugin, not core code). They run in the driver process, after the
database write they describe has been committed; an exception in one is
reported and does not stop the sweep.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("scratchlab")


@hookspec
def register_categories(register: Any) -> None:
    """Add categories of components (see :mod:`scratchlab.plugins.categories`).

    Called once, for every plugin, before any component is collected. Call
    ``register(Category(name=..., type=..., default=..., description=...))``.
    The category's own registration hook (``register_<name>s``, e.g.
    ``register_optimizers``) then exists for every plugin, and experiments may
    list the category in ``uses``.
    """


@hookspec
def register_components(register: Any) -> None:
    """Register components of any category (the generic form of the per-category hooks).

    Called once, after every category is known. Call ``register(component)``;
    the category is the component type's ``CATEGORY``. A dict of fields needs
    ``register(fields, category="optimizer")``.
    """


@hookspec
def register_matmuls(register: Any) -> None:
    """Register matrix-multiplication strategies.

    Called once when the plugin manager is built. Call
    ``register(Matmul(name=..., fn=..., max_madds=..., description=...))`` for
    each strategy; ``fn(a, b)`` must return ``a @ b`` for 2-D tensors.
    """


@hookspec
def register_inits(register: Any) -> None:
    """Register weight initialisations.

    Called once when the plugin manager is built. Call
    ``register(Init(name=..., fn=..., description=...))``; ``fn(weight, gain,
    **params)`` fills ``weight`` in place, keeping its shape. The weight has
    PyTorch's layout: ``(out, in)`` for a linear layer, ``(out, in, *kernel)``
    for a convolution (see :func:`scratchlab.plugins.fans`). ``mode``
    (``"fan_in"``/``"fan_out"``) reaches ``fn`` only if the init declares it in
    ``params``, like any other param.
    """


@hookspec
def register_activations(register: Any) -> None:
    """Register activation functions.

    Called once when the plugin manager is built. Call
    ``register(Activation(name=..., forward=..., gain=..., backward=...))``;
    ``backward(x, grad_out)`` is optional and returns the gradient for ``x``.
    """


@hookspec
def register_losses(register: Any) -> None:
    """Register losses.

    Called once when the plugin manager is built. Call
    ``register(Loss(name=..., forward=..., grad=..., n_outputs=..., target=...))``;
    ``forward(output, target)`` returns a scalar, ``grad`` (optional) returns
    d loss / d output.
    """


@hookspec
def register_datasets(register: Any) -> None:
    """Register datasets.

    Called once when the plugin manager is built. Call
    ``register(Dataset(name=..., load=..., params=...))``; ``load(**params)``
    returns a :class:`~scratchlab.plugins.types.DataSplits` of CPU tensors:
    normalised float32 features ``(n, d)`` (mean about 0, std about 1 over the
    training split; :func:`scratchlab.plugins.normalised_splits` does it) and
    int64 labels ``(n,)`` in ``0..n_classes-1``. A run checks this before the
    experiment starts and fails with the rule broken.
    """


@hookspec
def register_experiments(register: Any) -> None:
    """Register experiments.

    Called once when the plugin manager is built. Call
    ``register(Experiment(name=..., run=..., uses=(...), params={...}))``;
    ``run(ctx)`` gets a run context and records timings, statistics and
    metrics through it.
    """


@hookspec
def sweep_started(sweep: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    """Called in the driver after a sweep and its pending runs are stored.

    ``sweep`` has ``sweep_id``, ``name``, ``argv``, ``spec`` and
    ``environment``; ``runs`` lists each planned run as a dict with
    ``run_id``, ``key``, ``experiment``, ``components``, ``params``,
    ``device``, ``dtype``, ``seed`` and ``repeat``.
    """


@hookspec
def run_finished(sweep: dict[str, Any], run: dict[str, Any], result: Any) -> None:
    """Called in the driver after one run's result has been committed.

    ``run`` is the planned run (as in :func:`sweep_started`); ``result`` is the
    :class:`scratchlab.core.records.RunResult` that was written: its
    ``status``, ``reason``, ``timings``, ``stats`` and ``metrics``.
    """


@hookspec
def sweep_finished(sweep: dict[str, Any], counts: dict[str, int]) -> None:
    """Called in the driver when a sweep ends, normally or by interruption.

    ``counts`` maps each run status (``done``, ``failed``, ``skipped``, ...)
    to the number of this sweep's runs in it.
    """
