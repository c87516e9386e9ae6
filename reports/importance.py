"""How much each component category and param matters to a metric, by Optuna's
importance evaluators over stored runs (``runner importance``, the Analysis page,
``sl.importance``).

Every run of an analysis table (:func:`scratchlab.db.analysis.metric_table`) becomes a
completed Optuna trial (``optuna.trial.create_trial``) whose params are the run's
component choices (categorical) and numeric params (float or int ranges, on a log
scale when they span two decades or more), and whose value is the metric; the
evaluator then ranks the params, as it would for a study Optuna ran itself. Grid
sweeps and searches are read alike. PED-ANOVA (Optuna's default) is the default:
fANOVA fits a random forest and took 20 s on 1,000 runs here, PED-ANOVA 0.03 s.
PED-ANOVA compares the top 10% of the runs with all of them; on a small grid that
is one or two runs, and a numeric param then looks decisive whatever decides the
metric (18 runs of init x lr: lr 0.99 where init set 95% of the variance), so the
top set is never fewer than :data:`MIN_TOP` runs.
Optuna is imported only when an importance is computed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scratchlab.core.keys import better_direction

#: ``--evaluator`` names: Optuna's PedAnovaImportanceEvaluator and FanovaImportanceEvaluator
EVALUATORS: tuple[str, ...] = ("ped-anova", "fanova")
#: the text a missing value takes in a categorical dimension (a run without that param)
MISSING = "(none)"
#: a positive numeric range this wide (max / min) is analysed on a log scale
LOG_SPAN = 100.0
#: fewest finite runs an importance is computed from
MIN_RUNS = 4
#: PED-ANOVA compares the best runs with all: its default top 10% is at least this many runs
MIN_TOP = 5
#: ... but never more than this fraction of them
MAX_TOP_QUANTILE = 0.5


class ImportanceError(ValueError):
    """The runs cannot be ranked (too few, or nothing varies); the message says why in one line."""


@dataclass(frozen=True)
class Importance:
    """The importance of each varying dimension (``name``, ``kind``: category or param,
    ``importance``: Optuna's normalised value, summing to 1), most important first, with
    the ``fixed`` dimensions (one value in every run: ``name -> value``) and the number of
    ``runs`` it was computed from."""

    rows: list[tuple[str, str, float]]
    fixed: dict[str, Any]
    runs: int
    metric: str
    direction: str
    evaluator: str

    def frame(self):
        """The rows as a DataFrame: ``name``, ``kind``, ``importance``."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=["name", "kind", "importance"])


def direction_of(metric: str, direction: str | None = None) -> str:
    """``maximize`` or ``minimize``: ``direction`` as given (max, min, maximize, minimize),
    else :func:`scratchlab.core.keys.better_direction` (a loss, an error or a time is minimised)."""
    if direction:
        word = {"max": "maximize", "min": "minimize"}.get(direction, direction)
        if word not in ("maximize", "minimize"):
            raise ImportanceError(f"direction {direction!r}: expected max or min")
        return word
    return better_direction(metric)


def varying_dimensions(table) -> list:
    """The dimensions (:class:`~scratchlab.db.analysis.Dimension`) of an analysis table with
    more than one value among its rows, categories first. A param only some runs have, with
    one value (``kaiming-normal.mode``), is implied by a component choice: not a dimension."""
    return [d for d in table.attrs.get("dimensions", []) if table[d.name].nunique(dropna=True) > 1]


def _dimension_values(table, dimension) -> tuple[list, Any]:
    """The column's values as Optuna will see them, and their distribution."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    column = table[dimension.name]
    if dimension.numeric and not column.isna().any():
        values = [float(v) for v in column]
        low, high = min(values), max(values)
        log = low > 0 and high / low >= LOG_SPAN
        return values, FloatDistribution(low, high, log=log)
    values = [MISSING if _missing(v) else str(v) for v in column]
    return values, CategoricalDistribution(sorted(set(values)))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def compute(
    table,
    *,
    direction: str = "maximize",
    evaluator: str = "ped-anova",
    names: Sequence[str] | None = None,
) -> Importance:
    """The :class:`Importance` of the dimensions of an analysis ``table`` (all of them,
    or ``names``) for its ``value`` column. Runs whose value is NaN or infinite are left
    out. Raises :class:`ImportanceError` when fewer than :data:`MIN_RUNS` runs remain or no
    dimension varies."""
    import warnings

    import optuna

    if evaluator not in EVALUATORS:
        raise ImportanceError(f"evaluator {evaluator!r}: expected one of {', '.join(EVALUATORS)}")
    metric = table.attrs.get("metric", "value")
    finite = _finite_runs(table, metric)
    dimensions = [d for d in table.attrs["dimensions"] if names is None or d.name in set(names)]
    varying = [d for d in dimensions if d in varying_dimensions(finite)]
    fixed = _fixed_values(finite, dimensions, varying)
    if not varying:
        raise ImportanceError(
            f"nothing varies across the {len(finite)} runs with {metric}: "
            "every category and param has one value"
        )
    study = _study_of(finite, varying, direction)
    chosen = _evaluator(evaluator, len(finite))
    # Optuna's "experimental" and "deprecated" notices are not the user's concern
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ranked = optuna.importance.get_param_importances(study, evaluator=chosen)
    kinds = {d.name: d.kind for d in varying}
    rows = [(name, kinds[name], _finite(value)) for name, value in ranked.items()]
    rows += [(d.name, d.kind, 0.0) for d in varying if d.name not in ranked]
    return Importance(rows, fixed, len(finite), metric, direction, evaluator)


def _finite_runs(table, metric: str):
    """The rows of ``table`` with a finite value; :class:`ImportanceError` when fewer
    than :data:`MIN_RUNS` have one."""
    finite = table[[math.isfinite(v) for v in table["value"]]]
    if len(finite) < MIN_RUNS:
        raise ImportanceError(
            f"{len(finite)} runs have a finite {metric}; an importance needs at least {MIN_RUNS}"
        )
    return finite


def _fixed_values(finite, dimensions: list, varying: list) -> dict[str, Any]:
    """The dimensions with the same value in every run, and that value; a param only
    some runs have (kaiming-normal.mode) goes with a component choice and is left out."""
    return {
        d.name: int(finite[d.name].iloc[0]) if d.integer else finite[d.name].iloc[0]
        for d in dimensions
        if d not in varying and not any(_missing(v) for v in finite[d.name])
    }


def _study_of(finite, varying: list, direction: str):
    """An Optuna study holding one completed trial per run: its ``varying`` dimensions
    as params (:func:`_dimension_values`), its value as the trial's value."""
    import optuna
    from optuna.trial import create_trial

    columns = {d.name: _dimension_values(finite, d) for d in varying}
    distributions = {name: dist for name, (_values, dist) in columns.items()}
    trials = [
        create_trial(
            params={name: columns[name][0][i] for name in columns},
            distributions=distributions,
            value=float(value),
        )
        for i, value in enumerate(finite["value"])
    ]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=direction)
    study.add_trials(trials)
    return study


def _evaluator(name: str, runs: int):
    """Optuna's evaluator called ``name`` (:data:`EVALUATORS`); PED-ANOVA's top set is at
    least :data:`MIN_TOP` of the ``runs`` and at most :data:`MAX_TOP_QUANTILE` of them."""
    import optuna

    if name == "fanova":
        return optuna.importance.FanovaImportanceEvaluator(seed=0)
    quantile = min(max(0.1, MIN_TOP / runs), MAX_TOP_QUANTILE)
    return optuna.importance.PedAnovaImportanceEvaluator(target_quantile=quantile)


def _finite(value: Any) -> float:
    number = float(value)
    return number if math.isfinite(number) else 0.0


__all__ = [
    "EVALUATORS",
    "Importance",
    "ImportanceError",
    "compute",
    "direction_of",
    "varying_dimensions",
]
