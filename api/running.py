"""Running a sweep from Python: ``sl.sweep(...)``, the engine ``runner sweep`` uses.

::

    import scratchlab as sl

    sweep = sl.sweep(plugins=["matmul", "init"], matmul=["torch", "einsum"],
                     settings={"train.epochs": 2}, db="runs.db")
    sweep.runs()            # the DataFrame of sl.open("runs.db").runs(sweep=sweep.sweep_id)

Plans, stores and executes through :mod:`scratchlab.runner.sweeping`, so
results are the same rows the command line writes. Progress shows as a bar
in a notebook, on the terminal elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scratchlab.plugins.manager import Plugins
    from scratchlab.runner.search import SearchSpec
    from scratchlab.runner.sweeping import SweepOutcome


def _settings(settings: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``{"train.epochs": 2}`` or ``{"train": {"epochs": 2}}`` -> ``{"train": {"epochs": 2}}``
    (a target may itself contain dots: ``{"leaky-relu.slope": 0.2}``)."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in (settings or {}).items():
        if isinstance(value, Mapping):
            out.setdefault(str(key), {}).update(value)
            continue
        target, dot, param = str(key).rpartition(".")
        if not dot or not target or not param:
            raise ValueError(
                f"setting {key!r}: expected 'NAME.PARAM', e.g. 'train.lr' or 'leaky-relu.slope'"
            )
        out.setdefault(target, {})[param] = value
    return out


def _names(value: str | Sequence[str]) -> tuple[str, ...]:
    from scratchlab.runner.spec_values import split_names

    return split_names(value)


def default_reporter(progress: bool):
    """The notebook bar inside Jupyter, the terminal's bar or log lines elsewhere, nothing when not ``progress``."""
    from scratchlab.runner.progress import NotebookProgress, in_notebook, make_reporter
    from scratchlab.runner.reporting import SilentReporter

    if not progress:
        return SilentReporter()
    return NotebookProgress() if in_notebook() else make_reporter(quiet=False)


@dataclass
class Sweep:
    """A sweep that ran: its id, name and final status, where it is stored, and its
    counts per experiment (``summary``). ``runs()`` and ``results`` read it back."""

    sweep_id: int | None
    name: str
    status: str
    db: str
    summary: list[dict[str, Any]]
    note: str | None = None

    @classmethod
    def of(cls, outcome: SweepOutcome, db: str) -> Sweep:
        """The sweep ``outcome`` reports, stored in the database at the URL ``db``."""
        return cls(
            sweep_id=outcome.sweep_id,
            name=outcome.name,
            status=outcome.status,
            db=db,
            summary=outcome.summary,
            note=outcome.note,
        )

    @property
    def results(self):
        """The database the sweep wrote, opened read-only (:class:`scratchlab.reading.Results`)."""
        from scratchlab.reading import Results

        return Results(self.db)

    def runs(self, **filters: Any):
        """This sweep's runs with params and final metrics as columns; ``filters`` as
        :meth:`scratchlab.reading.Results.runs` takes them (``experiment=``, ``where=``...)."""
        with self.results as results:
            return results.runs(sweep=self.sweep_id, **filters)

    def __repr__(self) -> str:
        counts = ", ".join(
            f"{k} {v}"
            for k, v in (self.summary[-1] if self.summary else {}).items()
            if k not in ("experiment", "seconds") and v
        )
        return (
            f"<sweep {self.sweep_id} {self.name!r}: {self.status}{'; ' + counts if counts else ''}>"
        )


def sweep(
    plugins: str | Sequence[str] = (),
    *,
    experiments: str | Sequence[str] | None = None,
    settings: Mapping[str, Any] | None = None,
    db: str | os.PathLike | None = None,
    workers: int | None = None,
    repeat: int = 1,
    seed: int = 0,
    devices: str | Sequence[str] = ("cpu",),
    dtype: str = "float32",
    name: str | None = None,
    tags: str | Sequence[str] = (),
    timeout: float | None = None,
    inline: bool = False,
    deterministic: bool = False,
    plugin_modules: Sequence[str] = (),
    progress: bool = True,
    search: str | None = None,
    trials: int | None = None,
    objective: str | None = None,
    prune: str = "none",
    **components: str | Sequence[str],
) -> Sweep:
    """Plan, store and run a sweep, as ``runner sweep`` does; returns a :class:`Sweep`.

    ``plugins`` are the categories to sweep (``["matmul", "init"]``); a category
    given as a keyword narrows its components (``matmul=["torch", "einsum"]``,
    ``optimizer=["sgd", "adam"]``: any registered category, a plugin's too);
    ``settings`` sets params (``{"train.epochs": 2}``); ``db`` is a SQLite path
    or SQLAlchemy URL (default: ``SCRATCHLAB_DB``, else ``runs.db``); ``workers``
    runs that many in parallel on a local Dask cluster; ``tags`` label the sweep
    (``results.runs(where="tag=T")`` finds its runs); ``inline`` runs in this
    process (for a debugger); ``deterministic`` is ``runner sweep --deterministic``.
    A keyword that is no category raises ``TypeError``; a plan that cannot be made raises
    :class:`~scratchlab.runner.sweeping.SweepUsageError` before anything is written.

    ``search="random"`` or ``"tpe"`` searches instead of running the grid: ``trials`` trials
    optimising the final metric ``objective`` (``"valid_loss:min"`` to minimise), every
    category with several components a choice, settings given as ranges
    (``{"train.lr": "0.01..2:log", "train.bs": "16,32,64"}``); ``prune`` is ``"median"``
    or ``"hyperband"`` to stop poor trials early::

        sl.sweep(experiments="train", optimizer=["sgd", "adam"],
                 settings={"train.model": "cnn", "train.lr": "0.01..2:log"},
                 search="tpe", trials=20, objective="valid_accuracy", prune="median")
    """
    from scratchlab.reading import database_url
    from scratchlab.runner.spec import SweepSpec
    from scratchlab.runner.sweeping import Execution, run_sweep

    loaded = _plugins(plugin_modules, components)
    spec = SweepSpec(
        plugins=_names(plugins),
        components={c: _names(v) for c, v in components.items()},
        experiments=None if experiments is None else _names(experiments),
        devices=_names(devices),
        dtype=dtype,
        repeat=repeat,
        seed=seed,
        settings=_settings(settings),
        plugin_modules=tuple(plugin_modules),
        deterministic=deterministic,
    )
    search_spec = _search(search, trials, objective, prune)
    url = database_url(db)
    outcome = run_sweep(
        spec,
        db=url,
        name=name,
        execution=Execution(workers=workers, inline=inline, timeout=timeout),
        reporter=default_reporter(progress),
        plugins=loaded,
        argv=["scratchlab.sweep", *_names(plugins)],
        tags=_names(tags),
        search=search_spec,
    )
    return Sweep.of(outcome, url)


def _plugins(modules: Sequence[str], components: Mapping[str, Any]) -> Plugins:
    """The plugins loaded (built-ins, installed, ``modules``); ``TypeError`` for a keyword
    of :func:`sweep` that names no component category of their registry."""
    from scratchlab.plugins.manager import load_plugins

    # a keyword names a category of the registry: built-in, added by a built-in
    # plugin (optimizer, schedule, norm) or by a third party's
    loaded = load_plugins(tuple(modules))
    known = loaded.registry.component_categories()
    unknown = sorted(set(components) - set(known))
    if unknown:
        raise TypeError(
            f"sweep() got unknown keyword {', '.join(unknown)}; component categories are "
            f"{', '.join(known)}"
        )
    return loaded


def _search(
    search: str | None, trials: int | None, objective: str | None, prune: str
) -> SearchSpec | None:
    """The :class:`~scratchlab.runner.search.SearchSpec` of :func:`sweep`'s search
    arguments, None for a grid; ``TypeError`` for a search half given."""
    if search is None and trials is None and objective is None:
        return None
    from scratchlab.runner.search import SearchSpec, parse_objective

    if search is None or trials is None or objective is None:
        raise TypeError("a search needs search=, trials= and objective= together")
    name, direction = parse_objective(objective)
    return SearchSpec(search, trials, name, direction, prune)
