"""The contracts between plugins and the runner, checked where a run starts,
and the bounds a plugin declares on its params, checked when a sweep is planned.

Run-time contracts (a broken one raises :class:`ContractError`; the run is
recorded ``failed`` with its one-line message, which names the component,
its plugin and the rule — never ``done`` with garbage, never a traceback from
inside torch):

- a dataset's ``load`` returns float32 features ``(n, d)`` normalised over the
  training split (``|mean| <= 0.5``, ``0.5 <= std <= 2``: raw 0-255 pixels
  fail), int64 labels ``(n,)`` within ``0..n_classes-1``, and train and valid
  splits with the same ``d`` (:func:`check_splits`);
- an init fills the weight in place and keeps its shape (checked on every call);
- a matmul returns ``(m, n)`` for ``(m, k) @ (k, n)`` (probed once, on a small
  problem, before the run: the timed calls are never wrapped).

Param bounds: a component or experiment declares ``bounds={"lr": positive,
"epochs": positive_int, "slope": (0, 1), "mode": one_of("fan_in", "fan_out")}``.
A bound is a :class:`Bounds`, a ``(low, high)`` tuple (inclusive, None for an
open end), or a callable taking the value and returning None when it is fine or
a short text saying what is wanted. A list param is checked item by item.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: how far from 0 the training features' mean, and from 1 their std, may be
MEAN_LIMIT = 0.5
STD_RANGE = (0.5, 2.0)


class ContractError(Exception):
    """A plugin broke a rule of the plugin API; the message is one line naming it."""


def _who(kind: str, name: str, plugin: str | None) -> str:
    return f"{kind} {name!r}" + (f" (plugin {plugin!r})" if plugin else "")


# -- datasets ------------------------------------------------------------------


def check_splits(splits: Any, name: str, plugin: str | None = None) -> None:
    """Raise ContractError unless ``splits`` keeps the Dataset contract (see the module docstring)."""
    import torch

    who = _who("dataset", name, plugin)

    def fail(rule: str) -> ContractError:
        return ContractError(f"{who} broke the Dataset contract: {rule}")

    for split in ("train", "valid"):
        x, y = getattr(splits, f"x_{split}"), getattr(splits, f"y_{split}")
        if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise fail(
                f"x_{split} and y_{split} must be torch tensors, got {type(x).__name__} and {type(y).__name__}"
            )
        if x.dtype != torch.float32:
            raise fail(f"x_{split} must be float32, got {str(x.dtype).removeprefix('torch.')}")
        if x.dim() != 2:
            raise fail(f"x_{split} must be (n, d), got shape {tuple(x.shape)}")
        if y.dtype != torch.int64:
            raise fail(
                f"y_{split} must be int64 class labels, got {str(y.dtype).removeprefix('torch.')}"
            )
        if y.shape != (x.shape[0],):
            raise fail(
                f"y_{split} must be ({x.shape[0]},) to match x_{split}, got {tuple(y.shape)}"
            )
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= splits.n_classes):
            raise fail(
                f"y_{split} must lie in 0..{splits.n_classes - 1} (n_classes), got {int(y.min())}..{int(y.max())}"
            )
    if splits.x_train.shape[1] != splits.x_valid.shape[1]:
        raise fail(
            f"x_train and x_valid must have the same width, got {splits.x_train.shape[1]} and {splits.x_valid.shape[1]}"
        )
    if splits.x_train.numel():
        mean, std = float(splits.x_train.mean()), float(splits.x_train.std())
        if not (abs(mean) <= MEAN_LIMIT and STD_RANGE[0] <= std <= STD_RANGE[1]):
            raise fail(
                f"x_train must be normalised (mean about 0, std about 1), got mean {mean:.3g}, std {std:.3g};"
                " use scratchlab.plugins.normalised_splits"
            )


# -- guards around a run's components --------------------------------------------


def _checked_init(fn: Callable[..., Any], who: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    def init(weight: Any, *args: Any, **kwargs: Any) -> Any:
        before = tuple(weight.shape)
        result = fn(weight, *args, **kwargs)
        if tuple(weight.shape) != before:
            raise ContractError(
                f"{who} broke the Init contract: it must fill the weight in place keeping its shape "
                f"{before} (PyTorch's (out, in) layout), but left it {tuple(weight.shape)}"
            )
        return result

    return init


def _checked_load(fn: Callable[..., Any], name: str, plugin: str | None) -> Callable[..., Any]:
    @functools.wraps(fn)
    def load(*args: Any, **kwargs: Any) -> Any:
        splits = fn(*args, **kwargs)
        from scratchlab.plugins.types import DataSplits

        if isinstance(splits, DataSplits):  # anything else is reported by the loader's caller
            check_splits(splits, name, plugin)
        return splits

    return load


def probe_matmul(
    component: Any, plugin: str | None, device: Any = "cpu", dtype: Any = None
) -> None:
    """Call the matmul once on a (3, 4) @ (4, 5) problem; ContractError unless it gives (3, 5) ≈ a @ b."""
    import torch

    who = _who("matmul", component.name, plugin)
    a = torch.arange(12, dtype=dtype or torch.float32, device=device).reshape(3, 4) / 10
    b = torch.arange(20, dtype=dtype or torch.float32, device=device).reshape(4, 5) / 10
    try:
        out = component.fn(a, b)
    except Exception:  # a matmul that raises fails the run itself, with its own traceback
        return
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (3, 5):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ContractError(
            f"{who} broke the Matmul contract: (3, 4) @ (4, 5) must give (3, 5), got {shape}"
        )
    if not torch.allclose(out.float().cpu(), (a @ b).float().cpu(), rtol=1e-3, atol=1e-3):
        raise ContractError(
            f"{who} broke the Matmul contract: its result differs from a @ b on a (3, 4) @ (4, 5) probe"
        )


def guarded(category: str, component: Any, plugin: str | None) -> Any:
    """``component`` with its post-conditions checked on every call where that is
    cheap (an init keeps the weight's shape, a dataset's splits keep the contract)."""
    if category == "init":
        return dataclasses.replace(
            component, fn=_checked_init(component.fn, _who("init", component.name, plugin))
        )
    if category == "dataset":
        return dataclasses.replace(
            component, load=_checked_load(component.load, component.name, plugin)
        )
    return component


# -- param bounds --------------------------------------------------------------


def _number(value: float | None) -> str:
    """A bound as a user types it: whole numbers in full (``1048576``, not ``1.04858e+06``)."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


@dataclass(frozen=True)
class Bounds:
    """Allowed values of a numeric param: ``low``/``high`` (None: open), each inclusive
    unless ``*_open``; ``integer`` asks for whole numbers; ``finite`` refuses NaN and
    infinities. ``check(value)`` gives None or what is wanted."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    finite: bool = True

    def describe(self) -> str:
        """The allowed range in words: ``a number > 0``, ``an integer >= 1``, ``a number in [0, 1]``."""
        kind = "an integer" if self.integer else "a finite number" if self.finite else "a number"
        low, high = _number(self.low), _number(self.high)
        if self.low is not None and self.high is not None:
            return f"{kind} in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{kind} {'>' if self.low_open else '>='} {low}"
        if self.high is not None:
            return f"{kind} {'<' if self.high_open else '<='} {high}"
        return kind

    def __call__(self, value: Any) -> str | None:
        """A Bounds is a validator too: :meth:`check`."""
        return self.check(value)

    def check(self, value: Any) -> str | None:
        """None when ``value`` is allowed, else :meth:`describe`."""
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return self.describe()
        number = float(value)
        if self.finite and not math.isfinite(number):
            return self.describe()
        if self.integer and not float(number).is_integer():
            return self.describe()
        if self.low is not None and (number <= self.low if self.low_open else number < self.low):
            return self.describe()
        if self.high is not None and (
            number >= self.high if self.high_open else number > self.high
        ):
            return self.describe()
        return None


#: a finite number > 0 (learning rates, sizes in seconds)
positive = Bounds(low=0, low_open=True)
#: a finite number >= 0
non_negative = Bounds(low=0)
#: any finite number
finite = Bounds()
#: a whole number >= 1 (epochs, batch sizes, layer widths)
positive_int = Bounds(low=1, integer=True)


def in_range(low: float | None, high: float | None) -> Bounds:
    """A finite number in ``[low, high]`` (None: open end)."""
    return Bounds(low=low, high=high)


def one_of(*choices: Any) -> Callable[[Any], str | None]:
    """A validator accepting exactly ``choices``."""

    def check(value: Any) -> str | None:
        return None if value in choices else f"one of {', '.join(map(str, choices))}"

    return check


def problem(bound: Any, value: Any) -> str | None:
    """What is wrong with ``value`` under ``bound`` (any accepted form), or None;
    a list value is checked item by item."""
    if isinstance(value, list | tuple):
        for item in value:
            if (found := problem(bound, item)) is not None:
                return found
        return None
    if isinstance(bound, tuple):
        bound = Bounds(low=bound[0], high=bound[1])
    if isinstance(bound, Bounds):
        return bound.check(value)
    result = bound(value)
    if result is True or result is None:
        return None
    return "an allowed value" if result is False else str(result)


def check_bounds(component: Any, values: Mapping[str, Any]) -> tuple[str, Any, str] | None:
    """The first ``(param, value, wanted)`` of ``values`` outside ``component.bounds``, or None."""
    for param, bound in getattr(component, "bounds", {}).items():
        if param in values and (wanted := problem(bound, values[param])) is not None:
            return param, values[param], wanted
    return None


__all__ = [
    "Bounds",
    "ContractError",
    "check_bounds",
    "check_splits",
    "finite",
    "guarded",
    "in_range",
    "non_negative",
    "one_of",
    "positive",
    "positive_int",
    "probe_matmul",
    "problem",
]
