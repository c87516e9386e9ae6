"""What a search sweep searches: :class:`SearchSpec` (the method, trial count, objective
and pruner) and :class:`Space` (the choices and ranges), built from a sweep spec.

``runner sweep --search tpe --trials 30 --objective valid_accuracy`` searches instead of
running the grid. Every component category with more than one choice (``--plugins
optimizer``, ``--norm none,batchnorm``) becomes a categorical choice, and every ``-s``
value written as a range or a list of choices (:mod:`scratchlab.runner.ranges`) a
dimension. A trial is one point of that space: the sweep spec with one component per
category and one value per param, planned like any sweep (so ``--repeat``, devices and
run keys work as they do for a grid). :mod:`scratchlab.runner.trials` runs the trials
with Optuna's ask-and-tell. Nothing here imports torch or Optuna at module level.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scratchlab.core.keys import better_direction
from scratchlab.core.records import PlannedRun
from scratchlab.runner.ranges import Range, distribution, is_range_text, parse_range
from scratchlab.runner.spec import PlanError, SweepSpec

#: the samplers ``--search`` names (Optuna's RandomSampler and TPESampler)
METHODS: tuple[str, ...] = ("random", "tpe")
#: the pruners ``--prune`` names (Optuna's NopPruner, MedianPruner and HyperbandPruner)
PRUNERS: tuple[str, ...] = ("none", "median", "hyperband")
#: directions ``--objective NAME:max|min`` takes
DIRECTIONS: dict[str, str] = {"max": "maximize", "min": "minimize"}
#: the most trials one search may ask for
MAX_TRIALS = 100_000
#: where a search sweep keeps its :class:`SearchSpec` in its stored spec
SEARCH_KEY = "search"


def parse_objective(text: str) -> tuple[str, str]:
    """``"valid_accuracy"`` or ``"valid_loss:min"`` -> ``(name, "maximize"|"minimize")``.
    Without a direction, :func:`scratchlab.core.keys.better_direction` decides (a loss, an
    error or a time is minimised, others maximised)."""
    name, colon, direction = str(text).strip().rpartition(":")
    if not colon:
        name, direction = direction, ""
    if not name:
        raise PlanError(f"--objective {text!r}: expected METRIC or METRIC:max or METRIC:min")
    if direction and direction not in DIRECTIONS:
        raise PlanError(f"--objective {text!r}: the direction is max or min, not {direction!r}")
    if not direction:
        return name, better_direction(name)
    return name, DIRECTIONS[direction]


@dataclass(frozen=True)
class SearchSpec:
    """How a sweep searches: ``method`` (random, tpe), ``trials``, the ``objective`` metric
    and its ``direction``, the ``prune`` rule (none, median, hyperband) and the sampler's
    ``seed`` (None: the sweep's seed). Checked when made (:class:`PlanError`)."""

    method: str
    trials: int
    objective: str
    direction: str = "maximize"
    prune: str = "none"
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise PlanError(f"--search {self.method!r}: expected one of {', '.join(METHODS)}")
        if self.prune not in PRUNERS:
            raise PlanError(f"--prune {self.prune!r}: expected one of {', '.join(PRUNERS)}")
        if isinstance(self.trials, bool) or not 1 <= int(self.trials) <= MAX_TRIALS:
            raise PlanError(f"--trials {self.trials!r}: expected 1 to {MAX_TRIALS}")
        if self.direction not in DIRECTIONS.values():
            raise PlanError(f"direction {self.direction!r}: expected maximize or minimize")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, stored in the sweep's spec under :data:`SEARCH_KEY`."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SearchSpec:
        """Read back what :meth:`to_json` stored."""
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


@dataclass(frozen=True)
class Dimension:
    """A ranged param: ``-s TARGET.PARAM=...`` and where it lands in a run's params."""

    target: str
    param: str
    run_param: str  # the name in PlannedRun.params: "lr", or "adam.wd" for a component's
    found: Range


@dataclass(frozen=True)
class Space:
    """The points a search may try: ``categories`` (category -> its choices, more than one
    each) and ``dimensions`` (``"train.lr"`` -> :class:`Dimension`) of ``experiment``;
    ``base`` is the sweep spec without the ranges, its other categories fixed."""

    experiment: str
    base: SweepSpec
    categories: Mapping[str, tuple[str, ...]]
    dimensions: Mapping[str, Dimension]

    def distributions(self) -> dict[str, Any]:
        """Optuna distributions by name (``"optimizer"``, ``"train.lr"``)."""
        from optuna.distributions import CategoricalDistribution

        out: dict[str, Any] = {
            c: CategoricalDistribution(list(n)) for c, n in self.categories.items()
        }
        out.update({name: distribution(d.found) for name, d in self.dimensions.items()})
        return out

    def spec_for(self, values: Mapping[str, Any]) -> SweepSpec:
        """The sweep spec of one trial: one component per searched category, one value per param."""
        components = dict(self.base.components)
        components.update({c: (values[c],) for c in self.categories})
        settings = {t: dict(p) for t, p in self.base.settings.items()}
        for name, dim in self.dimensions.items():
            if name in values:
                settings.setdefault(dim.target, {})[dim.param] = values[name]
        return dataclasses.replace(self.base, components=components, settings=settings)

    def values_of(self, run: PlannedRun) -> dict[str, Any]:
        """The point a stored run was planned from (a param its components do not have is left out)."""
        values: dict[str, Any] = {c: run.components[c] for c in self.categories}
        for name, dim in self.dimensions.items():
            if dim.run_param in run.params:
                values[name] = run.params[dim.run_param]
        return values

    def describe(self) -> str:
        """One line: ``optimizer in {sgd, adam} × train.lr in 0.01..2 (log)``."""
        parts = [f"{c} in {{{', '.join(n)}}}" for c, n in self.categories.items()]
        for name, dim in self.dimensions.items():
            found = dim.found
            if hasattr(found, "values"):
                parts.append(f"{name} in {{{', '.join(map(str, found.values))}}}")
            else:
                parts.append(
                    f"{name} in {found.low:g}..{found.high:g}{' (log)' if found.log else ''}"
                )
        return " × ".join(parts)


def _split_settings(
    spec: SweepSpec, registry: Any
) -> tuple[dict[str, dict[str, Any]], dict[str, Dimension]]:
    """The plain settings, and the ranged ones as dimensions."""
    from scratchlab.runner.plan_settings import setting_param

    fixed: dict[str, dict[str, Any]] = {}
    dimensions: dict[str, Dimension] = {}
    for target, params in spec.settings.items():
        for param, value in params.items():
            category, name, default, bound = setting_param(registry, target, param)
            found = parse_range(value, default, f"{target}.{param}", bound)
            if found is None:
                fixed.setdefault(target, {})[param] = value
                continue
            run_param = param if category == "experiment" else f"{name}.{param}"
            dimensions[f"{target}.{param}"] = Dimension(target, param, run_param, found)
    return fixed, dimensions


def build_space(
    spec: SweepSpec, registry: Any, planner: Callable[[SweepSpec, Any], list] | None = None
) -> Space:
    """The search space of ``spec``; :class:`PlanError` (one line) when it cannot be searched.
    ``planner`` plans the grid of its components (default :func:`~scratchlab.runner.plan.plan`;
    the sweep passes its own, which also checks the devices)."""
    from scratchlab.runner.plan import plan

    planner = planner or plan
    if spec.includes:
        raise PlanError("[[include]] combinations make a grid; a search cannot take them")
    fixed, dimensions = _split_settings(spec, registry)
    base = dataclasses.replace(spec, settings=fixed, only_keys=None)
    # one device, thread count and repeat is enough to see the combinations
    grid = planner(dataclasses.replace(base, repeat=1, threads=base.threads[:1]), registry)
    experiments = sorted({r.experiment for r in grid})
    if len(experiments) != 1:
        raise PlanError(
            f"a search optimises one experiment's metric; this plan has {len(experiments)}"
            f" ({', '.join(experiments) or 'none'}): choose one with --experiments"
        )
    choices: dict[str, tuple[str, ...]] = {}
    for run in grid:
        for category, name in run.components.items():
            choices[category] = (*choices.get(category, ()), name)
    choices = {c: tuple(dict.fromkeys(n)) for c, n in choices.items()}
    categories = {c: n for c, n in choices.items() if len(n) > 1}
    if not categories and not dimensions:
        raise PlanError(
            "nothing to search: give a category several components (--plugins optimizer,"
            " --norm none,batchnorm) or a param a range (-s train.lr=0.01..2:log)"
        )
    base = dataclasses.replace(
        base,
        plugins=(),
        experiments=(experiments[0],),
        components={c: (n[0],) for c, n in choices.items() if c not in categories},
    )
    return Space(experiments[0], base, categories, dimensions)


def check_no_ranges(spec: SweepSpec) -> None:
    """:class:`PlanError` when a grid sweep's setting is written as a range (only a search takes one)."""
    for target, params in spec.settings.items():
        for param, value in params.items():
            if is_range_text(value):
                raise PlanError(
                    f"-s {target}.{param}={value}: a range needs --search random or --search tpe"
                    " (a grid takes one value per param)"
                )
