"""Test a plugin through the real engine: ``scratchlab.testing``.

:func:`run_components` loads the installed plugins plus the one under test,
plans a sweep of the components it names, runs it as ``runner sweep`` would
(planning, the run context, the contracts, the database write), into a
temporary SQLite database, and returns what was stored::

    import my_plugin
    from scratchlab.testing import run_components

    def test_mine_multiplies():
        results = run_components(
            my_plugin, experiment="matmul", matmul="mine", settings={"matmul.shapes": "8x16x4"}
        )
        results.raise_for_failures()
        assert results.metric("8x16x4.max_abs_err") < 1e-4

Runs execute in this process by default (fast, and a plugin object defined in
the test itself works); ``isolated=True`` runs them in a supervised worker
process, as a real sweep does, for a plugin that is importable by name.
Importing this module does not import torch.
"""

from __future__ import annotations

import importlib.metadata
import tempfile
import types
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["ComponentRuns", "PluginAuthoringWarning", "PluginTestError", "run_components"]


class PluginTestError(Exception):
    """The plugin under test could not be loaded, or the sweep could not be planned."""


class PluginAuthoringWarning(UserWarning):
    """The plugin under test loaded with a mistake (a hook name no hookspec has, a duplicate name)."""


@dataclass
class ComponentRuns:
    """What one :func:`run_components` call stored, read back as DataFrames (the
    notebook API's :class:`scratchlab.reading.Results` reads a whole database instead).

    ``runs`` has one row per run (``run_id``, ``experiment``, ``status``,
    ``reason``, ... and one column per component category and param, as
    ``runner runs --json`` shows them); ``metrics`` every recorded point
    (``run_id, name, step, value``); ``final_metrics`` the final value of each
    (``run_id, name, value``); ``timings`` and ``stats`` the timings and the
    per-layer activation statistics. ``db`` is the database URL when the
    caller gave one (the temporary one is deleted).
    """

    sweep_id: int
    status: str
    runs: pd.DataFrame
    metrics: pd.DataFrame
    final_metrics: pd.DataFrame
    timings: pd.DataFrame
    stats: pd.DataFrame
    db: str | None = None

    @property
    def failures(self) -> pd.DataFrame:
        """The runs that ended neither ``done`` nor ``skipped``."""
        return self.runs[~self.runs["status"].isin(["done", "skipped"])]

    def raise_for_failures(self) -> None:
        """Raise ``AssertionError`` naming each run that did not finish, with the last
        line of its reason (the full traceback is in ``runs["reason"]``)."""
        lines = []
        for run in self.failures.itertuples(index=False):
            last = (str(run.reason or "").strip().splitlines() or ["no reason recorded"])[-1]
            lines.append(f"run {run.run_id} ({run.experiment}) {run.status}: {last}")
        if lines:
            raise AssertionError("; ".join(lines))

    def metric(self, name: str) -> float:
        """The final value of metric ``name``, which exactly one run must have recorded;
        ``KeyError`` naming the count otherwise (several runs: a repeat, a swept
        component). With several runs read ``final_metrics`` instead."""
        rows = self.final_metrics[self.final_metrics["name"] == name]
        if len(rows) != 1:
            known = ", ".join(sorted(set(self.final_metrics["name"]))) or "none"
            raise KeyError(
                f"{len(rows)} runs recorded metric {name!r} (one expected); metrics: {known}"
            )
        return float(rows["value"].iloc[0])


def _settings(settings: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``{"target.param": value}`` or ``{"target": {"param": value}}`` -> the spec's form.

    A target is an experiment or component name (``"leaky-relu.slope"``: the
    param is after the last dot), as with ``runner sweep -s``.
    """
    resolved: dict[str, dict[str, Any]] = {}
    for key, value in (settings or {}).items():
        if isinstance(value, Mapping):
            resolved.setdefault(key, {}).update(value)
            continue
        target, dot, param = key.rpartition(".")
        if not dot or not target or not param:
            raise PluginTestError(f"setting {key!r}: write it as target.param, e.g. matmul.shapes")
        resolved.setdefault(target, {})[param] = value
    return resolved


def _names(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _entry_point_modules() -> dict[str, str]:
    """Module -> entry-point name, for the modules installed distributions load anyway."""
    from scratchlab.plugins.manager import ENTRY_POINT_GROUP

    return {ep.module: ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _load(plugin: Any, isolated: bool) -> tuple[Any, tuple[str, ...]]:
    """The loaded plugin set with ``plugin`` in it, and the ``--plugin`` modules workers need."""
    from scratchlab.plugins.manager import load_plugins

    modules: tuple[str, ...] = ()
    objects: dict[str, Any] = {}
    name = None
    if isinstance(plugin, str | types.ModuleType):
        name = plugin if isinstance(plugin, str) else plugin.__name__
        installed = _entry_point_modules()
        if name in installed:  # an installed package under test is loaded once, by its entry point
            name = installed[name]
        else:
            modules = (name,)
    elif plugin is not None:
        if isolated:
            raise PluginTestError(
                "isolated=True needs a plugin importable by name (a module or its name)"
            )
        name = f"test:{getattr(plugin, '__qualname__', type(plugin).__qualname__)}"
        objects[name] = plugin
    plugins = load_plugins(modules, strict=False, objects=objects)
    for info in plugins.infos:
        if info.name != name:
            continue
        if info.status != "ok":
            raise PluginTestError(f"plugin {name!r} {info.status}: {info.error}")
        for message in getattr(info, "warnings", ()):  # a mistyped hook, a duplicate name
            warnings.warn(message, PluginAuthoringWarning, stacklevel=3)
    return plugins, modules


def run_components(
    plugin: Any = None,
    *,
    experiment: str | Sequence[str] | None = None,
    settings: Mapping[str, Any] | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    seed: int = 0,
    repeat: int = 1,
    timeout: float | None = None,
    isolated: bool = False,
    db: str | Path | None = None,
    **components: str | Sequence[str],
) -> ComponentRuns:
    """Run components through the real engine into a database and return what it stored.

    ``plugin`` is the plugin under test: a module, a module name, or an object
    with ``@hookimpl`` functions (a class or an instance); None uses only the
    installed plugins. An installed package is not loaded twice. Keyword
    arguments named after a category choose its components (``matmul="mine"``
    or ``matmul=["mine", "torch"]``); the categories not named stay at their
    defaults. ``experiment`` names the experiment(s) to run (default: every
    experiment that uses a named category). ``settings`` sets params as
    ``runner sweep -s`` does: ``{"matmul.shapes": "8x16x4"}`` or
    ``{"train": {"epochs": 1}}``. ``db`` keeps the results in that database
    (a URL or a SQLite path) instead of a temporary one.

    Raises :class:`PluginTestError` when the plugin fails to load or the plan
    is impossible (an unknown name, a bad value). A run that fails is not an
    exception: it is in ``ComponentRuns.runs`` with its reason, and
    :meth:`ComponentRuns.raise_for_failures` turns it into one.
    """
    from scratchlab.runner.spec import SweepSpec
    from scratchlab.runner.sweeping import Execution, SweepError, run_sweep

    plugins, modules = _load(plugin, isolated)
    spec = SweepSpec(
        components={category: _names(names) for category, names in components.items()},
        experiments=None if experiment is None else _names(experiment),
        devices=(device,),
        dtype=dtype,
        repeat=repeat,
        seed=seed,
        settings=_settings(settings),
        plugin_modules=modules,
    )
    try:
        execution = Execution(inline=not isolated, workers=1 if isolated else None, timeout=timeout)
        with tempfile.TemporaryDirectory(prefix="scratchlab-test-") as folder:
            url = _url(db) if db is not None else f"sqlite:///{Path(folder) / 'runs.db'}"
            outcome = run_sweep(
                spec, db=url, name="scratchlab.testing", execution=execution, plugins=plugins
            )
            results = _read(url, outcome.sweep_id, outcome.status)
    except SweepError as exc:
        raise PluginTestError(str(exc)) from None
    results.db = None if db is None else _url(db)
    return results


def _url(db: str | Path) -> str:
    """A SQLAlchemy URL from a URL or a SQLite file path."""
    return str(db) if "://" in str(db) else f"sqlite:///{db}"


def _read(url: str, sweep_id: int, status: str) -> ComponentRuns:
    """Everything sweep ``sweep_id`` stored, as DataFrames."""
    from scratchlab.db import open_store, queries

    with open_store(url) as store:
        runs = queries.list_runs(store, sweep_ids=sweep_id)
        ids = [int(i) for i in runs["run_id"]]
        return ComponentRuns(
            sweep_id=sweep_id,
            status=status,
            runs=runs,
            metrics=queries.metrics(store, run_ids=ids),
            final_metrics=queries.final_metrics(store, run_ids=ids),
            timings=queries.timings(store, run_ids=ids),
            stats=queries.activation_stats(store, run_ids=ids),
        )
