"""Component types: what a plugin hands to ``register``.

Each category has one frozen dataclass. A plugin author builds instances and
passes them to the ``register`` callback of the matching hook; the host
(:mod:`scratchlab.plugins.registry`) validates them and records which plugin
and distribution they came from.

Components may declare ``params`` (name -> default). Every callable field named
in the class's ``PARAM_FIELDS`` then receives those params as keyword arguments;
:func:`bind` applies a run's values once so experiments call ``forward(x)``
without caring about params. Nothing here imports torch: the annotations name
tensors as strings only.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

_BUILTIN_NAMES = ("CATEGORIES", "COMPONENT_CATEGORIES", "DEFAULTS")


def __getattr__(name: str) -> Any:
    """``CATEGORIES``, ``COMPONENT_CATEGORIES`` and ``DEFAULTS``: the *built-in*
    categories' names and defaults, read from the one table in
    :mod:`scratchlab.plugins.categories`. Code that must also see the categories
    plugins add asks the registry (``Registry.categories``) instead."""
    if name not in _BUILTIN_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from scratchlab.plugins.categories import BUILTIN_CATEGORIES

    if name == "CATEGORIES":
        return tuple(c.name for c in BUILTIN_CATEGORIES)
    if name == "COMPONENT_CATEGORIES":
        return tuple(c.name for c in BUILTIN_CATEGORIES if c.is_component)
    return MappingProxyType(
        {c.name: c.default for c in BUILTIN_CATEGORIES if c.default is not None}
    )


class Skip(Exception):
    """Raised by an experiment (or a component) when a run is infeasible.

    The runner records the run as ``skipped`` with ``str(exc)`` as the reason,
    e.g. ``Skip("python: 64x784x50 is 2.5e6 multiply-adds, limit 1e6")``.
    """


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, kw_only=True)
class Component:
    """Fields every component has."""

    name: str
    description: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    #: allowed values of some params, checked when a sweep is planned: param ->
    #: a :class:`~scratchlab.plugins.contracts.Bounds` (``positive``, ``positive_int``,
    #: ...), a ``(low, high)`` tuple or a callable ``value -> None | "what is wanted"``
    bounds: Mapping[str, Any] = field(default_factory=dict)

    #: category this type belongs to; set by each subclass
    CATEGORY: ClassVar[str] = ""
    #: callable fields that receive ``params`` as keyword arguments
    PARAM_FIELDS: ClassVar[tuple[str, ...]] = ()
    #: fields that must be callable
    CALLABLE_FIELDS: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _frozen(self.params))
        object.__setattr__(self, "bounds", _frozen(self.bounds))
        unknown = sorted(set(self.bounds) - set(self.params))
        if unknown:
            raise ValueError(
                f"{self.name!r}: bounds name {', '.join(unknown)}, which are not params"
            )
        for param, bound in self.bounds.items():
            if not (callable(bound) or (isinstance(bound, tuple) and len(bound) == 2)):
                raise ValueError(
                    f"{self.name!r}: bound of {param!r} must be Bounds, (low, high) or a callable"
                )

    @property
    def summary(self) -> str:
        """The first line of the description."""
        return (self.description.strip().splitlines() or [""])[0]


@dataclass(frozen=True, kw_only=True)
class Matmul(Component):
    """A matrix-multiplication strategy: ``fn(a, b) -> a @ b`` for 2-D tensors.

    ``max_madds`` is the largest problem, in multiply-adds (m*k*n), the
    strategy is fit for; experiments skip bigger problems with that reason
    instead of hanging (a Python triple loop does ~1e6 per second).
    """

    fn: Callable[[Any, Any], Any]
    max_madds: float = math.inf

    CATEGORY: ClassVar[str] = "matmul"
    CALLABLE_FIELDS: ClassVar[tuple[str, ...]] = ("fn",)
    PARAM_FIELDS: ClassVar[tuple[str, ...]] = ("fn",)

    def fits(self, m: int, k: int, n: int) -> str | None:
        """Return why ``(m x k) @ (k x n)`` is too large for this strategy, or None."""
        madds = m * k * n
        if madds > self.max_madds:
            return (
                f"{self.name}: {m}x{k}x{n} is {madds:.1e} multiply-adds, limit {self.max_madds:.0e}"
            )
        return None


@dataclass(frozen=True, kw_only=True)
class Init(Component):
    """A weight initialisation: ``fn(weight, gain, mode="fan_in")`` fills ``weight`` in place.

    ``gain`` comes from the activation that follows the layer; ``mode`` is
    ``"fan_in"`` or ``"fan_out"``. Fans count the receptive field, so linear
    and conv weights work alike.
    """

    fn: Callable[..., None]

    CATEGORY: ClassVar[str] = "init"
    CALLABLE_FIELDS: ClassVar[tuple[str, ...]] = ("fn",)
    PARAM_FIELDS: ClassVar[tuple[str, ...]] = ("fn",)


@dataclass(frozen=True, kw_only=True)
class Activation(Component):
    """A nonlinearity: ``forward(x)``, an optional hand-written ``backward(x, grad_out)``
    returning the gradient with respect to ``x``, and the ``gain`` that an init should
    use for a layer followed by it (a number, or a callable of ``params``)."""

    forward: Callable[..., Any]
    gain: float | Callable[..., float] = 1.0
    backward: Callable[..., Any] | None = None

    CATEGORY: ClassVar[str] = "activation"
    CALLABLE_FIELDS: ClassVar[tuple[str, ...]] = ("forward",)
    PARAM_FIELDS: ClassVar[tuple[str, ...]] = ("forward", "backward", "gain")


@dataclass(frozen=True, kw_only=True)
class Loss(Component):
    """A loss: ``forward(output, target) -> scalar`` and an optional hand-written
    ``grad(output, target)`` returning d loss / d output.

    ``n_outputs`` is the model's output width: an int (1 for ``mse``) or None for
    "one per class". ``target`` says what the loss expects: ``"class"`` (int64
    labels, shape ``(n,)``) or ``"float"`` (the labels as float, shape ``(n,)``,
    as the lessons' ``mse``).
    """

    forward: Callable[..., Any]
    grad: Callable[..., Any] | None = None
    n_outputs: int | None = None
    target: str = "class"

    CATEGORY: ClassVar[str] = "loss"
    CALLABLE_FIELDS: ClassVar[tuple[str, ...]] = ("forward",)
    PARAM_FIELDS: ClassVar[tuple[str, ...]] = ("forward", "grad")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.target not in ("class", "float"):
            raise ValueError(
                f"loss {self.name!r}: target must be 'class' or 'float', not {self.target!r}"
            )


@dataclass(frozen=True)
class DataSplits:
    """What a dataset loads: float features ``(n, d)``, int64 labels ``(n,)``.

    ``mean``/``std`` are the training split's statistics used to normalise both
    splits (None when the loader did not normalise); ``info`` is free-form
    provenance (source file, checksum) recorded with the run.
    """

    x_train: Any
    y_train: Any
    x_valid: Any
    y_valid: Any
    n_classes: int
    mean: float | None = None
    std: float | None = None
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Dataset(Component):
    """A dataset: ``load(**params) -> DataSplits``, on the CPU (the run moves it)."""

    load: Callable[..., DataSplits]

    CATEGORY: ClassVar[str] = "dataset"
    CALLABLE_FIELDS: ClassVar[tuple[str, ...]] = ("load",)
    PARAM_FIELDS: ClassVar[tuple[str, ...]] = ("load",)


@dataclass(frozen=True, kw_only=True)
class Experiment(Component):
    """A procedure run once per combination of the categories it ``uses``.

    ``run(ctx)`` receives a :class:`scratchlab.runner.context.RunContext` and
    records through it; ``params`` are its tunables with defaults (their types
    drive the parsing of ``-s name.param=value``). Raise :class:`Skip` for an
    infeasible combination.
    """

    run: Callable[[Any], None]
    uses: tuple[str, ...] = ()
    #: True when the results are timings that other work on the machine would
    #: spoil: the runner then lets no other run of the sweep execute beside it.
    exclusive: bool = False
    #: the final metrics that answer "how did it go", shown as columns by
    #: ``runner runs`` and first in the notebook API: names, or glob patterns
    #: such as ``"*.gflops"`` (one column per matching metric), in the order shown.
    headline: tuple[str, ...] = ()
    #: ``check(components, params) -> None | "why not"``, called when a sweep is planned,
    #: once per combination, with each used category's component bound to the run's
    #: params and the experiment's own params: a text refuses the plan in one line
    #: (a combination the experiment can tell is impossible before it runs)
    check: Callable[[Mapping[str, Any], Mapping[str, Any]], str | None] | None = None

    CATEGORY: ClassVar[str] = "experiment"
    CALLABLE_FIELDS: ClassVar[tuple[str, ...]] = ("run",)
    # experiment params reach ``run`` through the context, not as kwargs
    PARAM_FIELDS: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "uses", tuple(self.uses))
        object.__setattr__(self, "headline", tuple(self.headline))
        # whether each used category exists is checked when the experiment is
        # registered: a plugin's categories are known only once plugins load


def bind(component: Component, values: Mapping[str, Any] | None = None) -> Component:
    """Return ``component`` with its params (defaults overridden by ``values``)
    applied to every callable in ``PARAM_FIELDS``; a callable ``gain`` becomes a number.

    Raises ``KeyError`` naming the unknown param when ``values`` has one.
    """
    unknown = set(values or {}) - set(component.params)
    if unknown:
        raise KeyError(
            f"{component.name} has no param {', '.join(sorted(unknown))}"
            f" (params: {', '.join(component.params) or 'none'})"
        )
    merged = {**component.params, **(values or {})}
    changes: dict[str, Any] = {"params": merged}
    for name in component.PARAM_FIELDS:
        fn = getattr(component, name)
        if not callable(fn):
            continue
        if name == "gain":
            changes[name] = float(fn(**merged))
        elif merged:
            changes[name] = functools.wraps(fn)(functools.partial(fn, **merged))
    return dataclasses.replace(component, **changes)
