"""The one run filter: which runs a read query covers.

A :class:`RunFilter` is a frozen value. Every read query in
:mod:`scratchlab.db.queries` takes one as ``run_filter`` (None means every
run), and :mod:`scratchlab.db.scope` is the one place that turns it into SQL.
The command line's ``--where``, the app's sidebar and the notebook API build
the same value, so a filter means the same thing everywhere::

    from scratchlab.db.filters import RunFilter, parse_where

    flt = RunFilter(sweep_ids=(3,), statuses=("done",),
                    params={"matmul": ["torch", "einsum"], "lr": (0.01, 0.5)},
                    metrics={"valid_accuracy": (0.85, None)})
    flt = parse_where(["valid_accuracy>=0.85", "optimizer=adam,sgd", "status!=failed"])
    queries.list_runs(store, flt, order_by="valid_accuracy", descending=True, final_metrics=True)

Fields (all conditions AND together; an empty field restricts nothing):

- ``sweep_ids``, ``experiments``, ``statuses``: any of these.
- ``run_ids``: only these runs; ``None`` restricts nothing, ``()`` keeps none.
- ``params``: name -> condition, on a component choice (``matmul``, by its
  category name) or a param (``lr``, ``leaky-relu.slope``) as stored.
- ``metrics``: final-metric name -> condition. A run's *final* value of a
  metric is its value at the highest step; a value recorded without a step
  counts as the final one; among equal steps the one written last wins.
  A NaN final value never satisfies a comparison.
- ``columns``: run column -> condition (``device``, ``seed``, ``duration_s``...).
- ``tags``: conditions on a run's tags, its own or its sweep's: ``"best"`` or
  ``["a", "b"]`` (any of them), or ``Condition("!=", ("junk",))`` (none of them);
  several conditions AND together. ``--where tag=T`` fills it.
- ``fields``: name -> condition for a name that is a param *or* a final
  metric; the query decides (a param if any run stored a param of that name,
  else a final metric; ``train.lr`` also reads as param ``lr`` of experiment
  ``train``). :func:`parse_where` puts every non-column name here, so that it
  needs no knowledge of categories or metric names.

A *condition* is written as a value (equality), a list of values (any of
them), a ``(low, high)`` tuple (an inclusive numeric range, ``None`` for an open
end), a :class:`Condition`, or a tuple of Conditions (all of them). Numbers
match numbers (``1`` matches ``1.0``), text matches the stored text. ``!=``
keeps runs that lack the name; every other operator needs it.

Nothing here touches the database; errors are :class:`FilterError`, a
:class:`~scratchlab.db.errors.InvalidValueError` with a one-line message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from scratchlab.core.records import RUN_STATUSES
from scratchlab.db.errors import InvalidValueError

#: the columns every ``list_runs`` row has, in order; every further column is a param or a final metric
RUN_COLUMNS: tuple[str, ...] = (
    "run_id",
    "sweep_id",
    "key",
    "experiment",
    "status",
    "device",
    "dtype",
    "seed",
    "repeat",
    "started_at",
    "finished_at",
    "duration_s",
    "reason",
)
#: run columns a condition can name (times and the reason are not filters)
FILTER_COLUMNS: tuple[str, ...] = (
    "run_id",
    "sweep_id",
    "key",
    "experiment",
    "status",
    "device",
    "dtype",
    "seed",
    "repeat",
    "duration_s",
)
#: run columns whose values are numbers
NUMERIC_COLUMNS: tuple[str, ...] = ("run_id", "sweep_id", "seed", "repeat", "duration_s")
#: the ``--where`` name of a run's tags (``tag=best``); reserved, so no param can be filtered under it
TAG = "tag"
#: operators, longest first so that ``>=`` is not read as ``>``
OPERATORS: tuple[str, ...] = (">=", "<=", "!=", "==", "=", ">", "<")
ORDERING = (">=", "<=", ">", "<")

# a name may start with a digit: matmul's metrics are named by shape (``5x784x10.gflops``)
_EXPRESSION = re.compile(
    r"^\s*(\w[\w.\-]*)\s*(" + "|".join(map(re.escape, OPERATORS)) + r")\s*(.*?)\s*$"
)


class FilterError(InvalidValueError):
    """A filter cannot be understood; the message is one line naming the expression."""


@dataclass(frozen=True)
class Condition:
    """One test on one name: ``op`` is ``=``, ``!=``, ``<``, ``<=``, ``>`` or ``>=``.

    For ``=`` and ``!=``, ``value`` is a tuple of values (any of them / none
    of them); for the ordering operators it is a number.
    """

    op: str
    value: Any

    def __str__(self) -> str:
        shown = ",".join(map(str, self.value)) if isinstance(self.value, tuple) else str(self.value)
        return f"{self.op}{shown}"


def conditions(name: str, condition: Any) -> tuple[Condition, ...]:
    """The :class:`Condition` tuple a condition written in any accepted form stands for."""
    if isinstance(condition, Condition):
        return (condition,)
    if (
        isinstance(condition, tuple)
        and all(isinstance(c, Condition) for c in condition)
        and condition
    ):
        return condition
    if isinstance(condition, tuple):
        if len(condition) != 2:
            raise FilterError(f"filter {name!r}: a range is a (low, high) pair, got {condition!r}")
        low, high = (_number(name, bound) for bound in condition)
        return tuple(
            c
            for c in (
                Condition(">=", low) if low is not None else None,
                Condition("<=", high) if high is not None else None,
            )
            if c is not None
        )
    if isinstance(condition, list | set | frozenset):
        return (Condition("=", tuple(condition)),)
    return (Condition("=", (condition,)),)


def _number(name: str, bound: Any) -> float | None:
    if bound is None:
        return None
    if isinstance(bound, bool) or not isinstance(bound, int | float):
        raise FilterError(f"filter {name!r}: a range bound must be a number, not {bound!r}")
    return float(bound)


def _condition_map(value: Mapping[str, Any] | None, kind: str) -> dict[str, tuple[Condition, ...]]:
    out: dict[str, tuple[Condition, ...]] = {}
    for name, condition in (value or {}).items():
        if kind == "columns" and name not in FILTER_COLUMNS:
            raise FilterError(
                f"cannot filter on run column {name!r}; choose one of {', '.join(FILTER_COLUMNS)}"
            )
        out[str(name)] = conditions(str(name), condition)
    return out


def _tuple(values: Any, cast) -> tuple:
    if values is None:
        return ()
    if isinstance(values, str | int):
        values = [values]
    return tuple(cast(v) for v in values)


@dataclass(frozen=True, eq=True)
class RunFilter:
    """Which runs a query covers; see the module docstring for the meaning of each field.

    Built from plain values (lists, dicts, ``(low, high)`` tuples) and normalised:
    id and name fields become tuples, condition fields ``name -> tuple of
    Condition``. Equal filters compare and hash equal, so the value can key a cache.
    """

    sweep_ids: tuple[int, ...] = ()
    experiments: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    run_ids: tuple[int, ...] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    columns: Mapping[str, Any] = field(default_factory=dict)
    fields: Mapping[str, Any] = field(default_factory=dict)
    tags: Any = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "sweep_ids", _tuple(self.sweep_ids, int))
        set_(self, "experiments", _tuple(self.experiments, str))
        set_(self, "statuses", _tuple(self.statuses, str))
        unknown = sorted(set(self.statuses) - set(RUN_STATUSES))
        if unknown:
            raise FilterError(
                f"unknown run status {', '.join(unknown)}; expected one of {', '.join(RUN_STATUSES)}"
            )
        if self.run_ids is not None:
            set_(self, "run_ids", _tuple(self.run_ids, int))
        for kind in ("params", "metrics", "columns", "fields"):
            set_(self, kind, _condition_map(getattr(self, kind), kind))
        set_(self, "tags", _tag_conditions(self.tags))

    def __hash__(self) -> int:
        return hash(
            tuple(
                tuple(sorted(value.items())) if isinstance(value, dict) else value
                for value in (getattr(self, f.name) for f in fields(self))
            )
        )

    @property
    def is_empty(self) -> bool:
        """True when the filter restricts nothing."""
        return self == RunFilter()

    def narrowed(self, other: RunFilter | None = None, **changes: Any) -> RunFilter:
        """This filter AND ``other`` AND a filter made of ``changes`` (same field names).

        Id and name fields intersect where both restrict; conditions on one name
        add up. Used to add a page's scope (a sweep, some run ids) to a user's filter.
        """
        result = self
        for extra in (other, RunFilter(**changes) if changes else None):
            if extra is None:
                continue
            values: dict[str, Any] = {"run_ids": _intersect_ids(result.run_ids, extra.run_ids)}
            for name in ("sweep_ids", "experiments", "statuses"):
                mine, theirs = getattr(result, name), getattr(extra, name)
                values[name] = (
                    tuple(v for v in mine if v in theirs) if mine and theirs else mine or theirs
                )
                if mine and theirs and not values[name]:
                    values[name], values["run_ids"] = mine, ()  # nothing can match both
            for name in ("params", "metrics", "columns", "fields"):
                merged = dict(getattr(result, name))
                for key, conds in getattr(extra, name).items():
                    merged[key] = merged.get(key, ()) + conds
                values[name] = merged
            values["tags"] = result.tags + tuple(c for c in extra.tags if c not in result.tags)
            result = RunFilter(**values)
        return result

    def query_kwargs(self) -> dict[str, Any]:
        """Keyword arguments that pass this filter to a query: ``run_filter``, plus
        ``sweep_ids`` for callers that read it back (narrowing by the same sweeps
        again changes nothing). Prefer passing ``run_filter=`` directly."""
        return {"run_filter": self, "sweep_ids": list(self.sweep_ids) or None}

    def describe(self) -> str:
        """The filter as ``--where``-like words, for messages ("no runs match ...")."""
        words = [
            f"{name}={','.join(map(str, getattr(self, name)))}"
            for name in ("sweep_ids", "experiments", "statuses")
            if getattr(self, name)
        ]
        if self.run_ids is not None:
            words.append(f"run_ids={len(self.run_ids)} runs")
        for kind in ("columns", "params", "metrics", "fields"):
            words += [f"{name}{c}" for name, conds in getattr(self, kind).items() for c in conds]
        words += [f"{TAG}{c}" for c in self.tags]
        return " ".join(words) or "(no filter)"


def _tag_conditions(value: Any) -> tuple[Condition, ...]:
    """``tags`` as a tuple of ``=``/``!=`` Conditions on tag names: a name or a list of
    names is one ``=`` (any of them); Conditions stay as they are."""
    if isinstance(value, Condition):
        value = (value,)
    if isinstance(value, str):
        value = [value]
    if not value:
        return ()
    if not all(isinstance(v, Condition) for v in value):
        return (Condition("=", tuple(str(v) for v in value)),)
    for c in value:
        if c.op not in ("=", "!="):
            raise FilterError(f"filter {TAG}{c}: tags are text; use {TAG}=T or {TAG}!=T")
    return tuple(Condition(c.op, tuple(str(v) for v in c.value)) for c in value)


def _intersect_ids(
    mine: tuple[int, ...] | None, theirs: tuple[int, ...] | None
) -> tuple[int, ...] | None:
    if mine is None or theirs is None:
        return theirs if mine is None else mine
    keep = set(theirs)
    return tuple(i for i in mine if i in keep)


def parse_value(text: str) -> Any:
    """A value as typed: an int or float where it reads as one, else the text.

    ``"64"`` -> 64, ``"0.5"`` -> 0.5, ``"1e-3"`` -> 0.001, ``"torch"`` -> ``"torch"``;
    ``"nan"`` and ``"inf"`` stay text (more likely names than numbers in a filter).
    """
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def parse_condition(expression: str) -> tuple[str, Condition]:
    """``name`` and :class:`Condition` of one ``--where`` expression such as ``lr<0.1``."""
    match = _EXPRESSION.match(expression)
    if match is None:
        raise FilterError(
            f"cannot read filter {expression!r}: use name=value, name=a,b, name!=value, "
            "name<x, name<=x, name>x or name>=x"
        )
    name, op, raw = match.groups()
    if raw == "":
        raise FilterError(f"filter {expression!r} has no value")
    op = "=" if op == "==" else op
    if op in ORDERING:
        bound = parse_value(raw)
        if isinstance(bound, str):
            raise FilterError(f"filter {expression!r}: {op} needs a number, not {raw!r}")
        return name, Condition(op, float(bound))
    values = tuple(parse_value(v) for v in raw.split(",") if v.strip())
    if not values:
        raise FilterError(f"filter {expression!r} has no value")
    return name, Condition(op, values)


def parse_where(expressions: Iterable[str], base: RunFilter | None = None) -> RunFilter:
    """A :class:`RunFilter` from ``--where`` expressions, added to ``base``.

    Each expression is ``NAME OP VALUE`` with OP one of ``= != < <= > >=``;
    ``=`` and ``!=`` take a comma list (any of / none of). NAME is a run column
    (``status!=failed``, ``experiment=train``, ``seed=0``, ``duration_s<10``), a
    component category (``optimizer=adam,sgd``), a tag (``tag=best``, ``tag!=junk``), a param (``lr<0.1``,
    ``train.lr<0.1``) or a final metric (``valid_accuracy>=0.85``); the last
    three are told apart by the query (see ``RunFilter.fields``). Several
    expressions AND together. Raises :class:`FilterError` (one line) for an
    expression that cannot be read.
    """
    columns: dict[str, tuple[Condition, ...]] = {}
    named: dict[str, tuple[Condition, ...]] = {}
    statuses: tuple[str, ...] = ()
    tags: tuple[Condition, ...] = ()
    for expression in expressions:
        if not expression or not expression.strip():
            continue
        name, condition = parse_condition(expression)
        if name == "status":
            statuses = _statuses(expression, condition, statuses)
            continue
        if name == TAG:
            tags = (*tags, condition)
            continue
        if name in FILTER_COLUMNS:
            if condition.op in ORDERING and name not in NUMERIC_COLUMNS:
                raise FilterError(f"filter {expression!r}: {name} is text; use = or !=")
            columns[name] = (*columns.get(name, ()), condition)
        elif name in RUN_COLUMNS:
            raise FilterError(
                f"cannot filter on {name!r}; run columns that filter: {', '.join(FILTER_COLUMNS)}"
            )
        else:
            named[name] = (*named.get(name, ()), condition)
    return (base or RunFilter()).narrowed(
        statuses=statuses, columns=columns, fields=named, tags=tags
    )


def _statuses(expression: str, condition: Condition, before: tuple[str, ...]) -> tuple[str, ...]:
    """Statuses as a set (``status!=failed`` is every other status), intersected with ``before``."""
    if condition.op in ORDERING:
        raise FilterError(f"filter {expression!r}: status is text; use = or !=")
    named = {str(v) for v in condition.value}
    unknown = sorted(named - set(RUN_STATUSES))
    if unknown:
        raise FilterError(
            f"filter {expression!r}: unknown status {', '.join(unknown)}; "
            f"expected one of {', '.join(RUN_STATUSES)}"
        )
    chosen = [s for s in RUN_STATUSES if (s in named) == (condition.op == "=")]
    if before:
        chosen = [s for s in chosen if s in before]
    if not chosen:
        raise FilterError(f"filter {expression!r} leaves no status to match")
    return tuple(chosen)


#: the types of the queries' shorthands (:func:`as_filter`): a param's value (equality),
#: a ``(low, high)`` range (None for an open end) or a list of values (any of them)
ParamFilter = Any
#: ``sweep_ids=`` / ``run_ids=``: one id or several
Ids = Iterable[int] | int | None
#: ``statuses=`` / ``experiments=``: one name or several
Names = Iterable[str] | str | None


def as_filter(run_filter: RunFilter | None = None, **scope: Any) -> RunFilter:
    """``run_filter`` narrowed by the keyword shorthands the queries accept
    (``sweep_ids=``, ``run_ids=``, ``experiments=``, ``statuses=``, ``params=``),
    with None meaning "not given"."""
    given = {name: value for name, value in scope.items() if value is not None}
    base = run_filter or RunFilter()
    return base.narrowed(**given) if given else base


__all__ = [
    "FILTER_COLUMNS",
    "RUN_COLUMNS",
    "TAG",
    "Condition",
    "FilterError",
    "RunFilter",
    "as_filter",
    "conditions",
    "parse_condition",
    "parse_value",
    "parse_where",
]
