"""Run filters shared by the app's sidebar and the terminal views.

A :class:`RunFilter` is what a user narrows the results to: sweeps,
experiments, statuses and conditions on params (component choices such as
``matmul=torch,einsum`` and experiment params such as ``lr>=0.1``). It turns
into the keyword arguments of ``scratchlab.db.queries.list_runs``; the same
``where`` words work in the app's sidebar and after ``runner runs --where``.
Nothing here imports Streamlit or torch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: categories offered as their own sidebar filter (one multiselect each)
COMPONENT_FILTERS: tuple[str, ...] = ("matmul", "init", "activation", "loss", "dataset")

# ``name>=1e-3``, ``name<=5``, ``name=a,b``: longest operators first so ``>=`` is not read as ``>``
_CONDITION = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(>=|<=|=)\s*(.*?)\s*$")


class FilterError(ValueError):
    """A filter expression a user typed cannot be understood; the message is one line."""


def parse_value(text: str) -> Any:
    """A param value as typed: an int or float where it reads as one, else the text.

    ``"64"`` -> 64, ``"0.5"`` -> 0.5, ``"1e-3"`` -> 0.001, ``"torch"`` -> ``"torch"``.
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
    # "nan"/"inf" are more likely names than numbers in a filter
    return value if math.isfinite(value) else text


def _merge(existing: Any, new: Any, expression: str) -> Any:
    """Combine two conditions on one param: ``>=`` and ``<=`` make a range."""
    if isinstance(existing, tuple) and isinstance(new, tuple):
        lo = new[0] if existing[0] is None else existing[0]
        hi = new[1] if existing[1] is None else existing[1]
        if (existing[0] is not None and new[0] is not None) or (
            existing[1] is not None and new[1] is not None
        ):
            raise FilterError(f"{expression!r}: that bound is already set for this param")
        return (lo, hi)
    raise FilterError(f"{expression!r}: a param can have one '=' condition or a '>=' / '<=' range, not both")


def parse_where(expressions: Iterable[str]) -> dict[str, Any]:
    """Turn ``name=value`` / ``name=a,b`` / ``name>=x`` / ``name<=x`` expressions into
    the ``params`` argument of ``list_runs``: value, list of values, or ``(lo, hi)``
    with ``None`` for an open end. Two bounds on one name make a closed range.

    Raises :class:`FilterError` with a one-line message for anything else.
    """
    params: dict[str, Any] = {}
    for expression in expressions:
        if not expression or not expression.strip():
            continue
        match = _CONDITION.match(expression)
        if match is None:
            raise FilterError(
                f"cannot read filter {expression!r}: use name=value, name=a,b, name>=x or name<=x"
            )
        name, operator, raw = match.groups()
        if raw == "":
            raise FilterError(f"filter {expression!r} has no value")
        if operator == "=":
            values = [parse_value(v) for v in raw.split(",") if v.strip()]
            condition: Any = values[0] if len(values) == 1 else values
        else:
            bound = parse_value(raw)
            if not isinstance(bound, int | float):
                raise FilterError(f"filter {expression!r}: {operator} needs a number, not {raw!r}")
            condition = (bound, None) if operator == ">=" else (None, bound)
        params[name] = _merge(params[name], condition, expression) if name in params else condition
    return params


@dataclass(frozen=True)
class RunFilter:
    """What to narrow runs to; empty fields mean "no restriction"."""

    sweep_ids: tuple[int, ...] = ()
    experiments: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)

    def query_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``list_runs`` / ``count_runs`` (None where unrestricted)."""
        return {
            "sweep_ids": list(self.sweep_ids) or None,
            "statuses": list(self.statuses) or None,
            "experiments": list(self.experiments) or None,
            "params": dict(self.params) or None,
        }

    @property
    def is_empty(self) -> bool:
        """True when nothing is filtered."""
        return not (self.sweep_ids or self.experiments or self.statuses or self.params)


def matches(frame, run_filter: RunFilter):
    """Boolean mask of the rows of ``frame`` that pass ``run_filter``, for frames that
    carry some of the run columns (``sweep_id``, ``experiment``, ``status``, params).

    Conditions on columns the frame lacks are ignored: the caller applies them
    through ``list_runs`` instead. Used where a query (``timings``) cannot filter
    by everything itself.
    """
    import pandas as pd

    mask = pd.Series(True, index=frame.index)
    if run_filter.sweep_ids and "sweep_id" in frame:
        mask &= frame["sweep_id"].isin(run_filter.sweep_ids)
    if run_filter.experiments and "experiment" in frame:
        mask &= frame["experiment"].isin(run_filter.experiments)
    if run_filter.statuses and "status" in frame:
        mask &= frame["status"].isin(run_filter.statuses)
    for name, condition in run_filter.params.items():
        if name not in frame:
            continue
        column = frame[name]
        if isinstance(condition, tuple):
            numbers = pd.to_numeric(column, errors="coerce")
            if condition[0] is not None:
                mask &= numbers >= condition[0]
            if condition[1] is not None:
                mask &= numbers <= condition[1]
        else:
            values = condition if isinstance(condition, list) else [condition]
            mask &= column.astype(str).isin([str(v) for v in values])
    return mask


def unapplied(frame, run_filter: RunFilter) -> list[str]:
    """Names of the param conditions :func:`matches` cannot apply to ``frame``."""
    return [name for name in run_filter.params if name not in frame]
