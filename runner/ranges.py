"""What a search may choose for one param: a range or a list of choices, read from ``-s``.

A search (``runner sweep --search tpe``) reads ``-s`` values that are not one value::

    -s train.lr=1e-3..2:log     a float range, sampled on a log scale
    -s train.epochs=1..3        an int range (both ends whole and the param an int)
    -s train.bs=16,32,64        a choice among these values, each parsed by the default's type

A range needs a number param; a string param takes choices only (``-s train.model=mlp,cnn``).
Anything else is a plain value, as in a grid sweep. Each range becomes an Optuna
distribution (:func:`distribution`). A bad range is a :class:`~scratchlab.runner.spec.PlanError`
with one line, raised while planning, so nothing is stored. Nothing here imports torch
or Optuna at module level.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from scratchlab.plugins.contracts import problem
from scratchlab.runner.spec import PlanError
from scratchlab.runner.spec_values import coerce_value

#: ``LOW..HIGH`` with an optional ``:log``
_RANGE = re.compile(
    r"^\s*(?P<low>[^.\s][^\s]*?)\s*\.\.\s*(?P<high>[^\s:]+)\s*(?::\s*(?P<scale>\w+))?\s*$"
)


@dataclass(frozen=True)
class NumberRange:
    """``low..high`` inclusive; ``integer`` keeps samples whole; ``log`` samples on a log scale."""

    low: float
    high: float
    integer: bool = False
    log: bool = False


@dataclass(frozen=True)
class Choice:
    """One of ``values``, parsed by the param default's type."""

    values: tuple[Any, ...]


Range = NumberRange | Choice


def is_range_text(value: Any) -> bool:
    """Whether ``value`` is written as a range (``LOW..HIGH``), which only a search can use."""
    return isinstance(value, str) and _RANGE.match(value) is not None


def parse_range(value: Any, default: Any, where: str, bound: Any = None) -> Range | None:
    """The range or choice ``value`` spells for a param with ``default`` (and the plugin's
    ``bound``), or None when it is a plain value; :class:`PlanError` when it is a bad one."""
    if not isinstance(value, str):
        return None
    number = isinstance(default, int | float) and not isinstance(default, bool)
    if (match := _RANGE.match(value)) is not None and number:
        found: Range = _number_range(match, default, where)
    elif "," in value and not isinstance(default, list | tuple | dict | type(None)):
        items = [v.strip() for v in value.split(",") if v.strip()]
        values = tuple(dict.fromkeys(coerce_value(default, v, where) for v in items))
        if len(values) < 2:
            raise PlanError(f"-s {where}={value!r}: a choice needs at least two different values")
        found = Choice(values)
    else:
        return None
    _check_bound(found, bound, where, value)
    return found


def _number_range(match: re.Match, default: Any, where: str) -> NumberRange:
    text = match.group(0).strip()
    integer = isinstance(default, int)
    low, high = (_number(match.group(g), integer, where, text) for g in ("low", "high"))
    scale = match.group("scale")
    if scale not in (None, "log"):
        raise PlanError(
            f"-s {where}={text!r}: unknown scale {scale!r}; write LOW..HIGH or LOW..HIGH:log"
        )
    if not low < high:
        raise PlanError(f"-s {where}={text!r}: the range is empty; write LOW..HIGH with LOW < HIGH")
    if scale == "log" and low <= 0:
        raise PlanError(f"-s {where}={text!r}: a log range needs LOW > 0")
    return NumberRange(low, high, integer=integer, log=scale == "log")


def _number(text: str, integer: bool, where: str, whole: str) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "whole numbers (the param is an int)" if integer else "numbers"
        raise PlanError(f"-s {where}={whole!r}: the ends must be {kind}, not {text!r}") from None
    if not math.isfinite(value):
        raise PlanError(f"-s {where}={whole!r}: the ends must be finite")
    return value


def _check_bound(found: Range, bound: Any, where: str, text: str) -> None:
    """Both ends of a range, or every choice, within what the plugin allows."""
    if bound is None:
        return
    values = (found.low, found.high) if isinstance(found, NumberRange) else found.values
    for value in values:
        if (wanted := problem(bound, value)) is not None:
            raise PlanError(f"-s {where}={text!r}: {value!r} is not allowed: expected {wanted}")


def distribution(found: Range) -> Any:
    """The Optuna distribution of ``found``."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(found, Choice):
        return CategoricalDistribution(list(found.values))
    if found.integer:
        return IntDistribution(int(found.low), int(found.high), log=found.log)
    return FloatDistribution(found.low, found.high, log=found.log)
