"""The categories scratchlab's training plugins add: optimizer, schedule and norm.

Their plugins (:mod:`~scratchlab.plugins.optimizers`,
:mod:`~scratchlab.plugins.schedules`, :mod:`~scratchlab.plugins.norms`) import
torch; the component types and the :class:`~scratchlab.plugins.categories.Category`
rows here do not, so ``runner sweep --help`` can list ``--optimizer``,
``--schedule`` and ``--norm`` without loading any plugin. Each plugin still
registers its own row through ``register_categories``, as a third party's does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from scratchlab.plugins.categories import Category
from scratchlab.plugins.types import Component


@dataclass(frozen=True, kw_only=True)
class Optimizer(Component):
    """An optimizer: ``build(params, lr, **params) -> StatefulOptimizer``-like object
    with ``step()``, ``zero_grad()`` and a ``hypers`` dict whose ``"lr"`` a schedule sets.

    ``lr`` is the learning rate it is usually run at: an experiment's ``lr`` param
    takes it when the user sets none (None: the experiment's own default).
    """

    build: Callable[..., Any]
    lr: float | None = None

    CATEGORY: ClassVar[str] = "optimizer"
    CALLABLE_FIELDS: ClassVar[tuple[str, ...]] = ("build",)
    PARAM_FIELDS: ClassVar[tuple[str, ...]] = ("build",)
    #: fields that give an experiment param of the same name its default
    EXPERIMENT_DEFAULTS: ClassVar[tuple[str, ...]] = ("lr",)


@dataclass(frozen=True, kw_only=True)
class Schedule(Component):
    """A learning-rate schedule: ``fn(lr, pos, **params) -> rate`` for ``pos`` in [0, 1]."""

    fn: Callable[..., float]

    CATEGORY: ClassVar[str] = "schedule"
    CALLABLE_FIELDS: ClassVar[tuple[str, ...]] = ("fn",)
    PARAM_FIELDS: ClassVar[tuple[str, ...]] = ("fn",)


@dataclass(frozen=True, kw_only=True)
class Norm(Component):
    """A normalisation: ``build(nf, **params) -> nn.Module`` for ``(n, nf, h, w)`` input.

    ``shifts`` says the module learns its own shift, so the convolution before it
    needs no bias (the lessons' ``bias=not bn``). ``check(nf, **params)``, when
    given, says why the norm cannot be built for ``nf`` channels (None: it can), so
    an experiment that knows its layers can refuse a combination when it is planned.
    """

    build: Callable[..., Any]
    shifts: bool = True
    check: Callable[..., str | None] | None = None

    CATEGORY: ClassVar[str] = "norm"
    CALLABLE_FIELDS: ClassVar[tuple[str, ...]] = ("build",)
    PARAM_FIELDS: ClassVar[tuple[str, ...]] = ("build", "check")


OPTIMIZER = Category(
    name="optimizer",
    type=Optimizer,
    default="sgd",
    description="updates the weights from their gradients: stats plus steppers (09_optimizers)",
)
SCHEDULE = Category(
    name="schedule",
    type=Schedule,
    default="constant",
    description="the learning rate as a function of the position in training (05_anneal)",
)
NORM = Category(
    name="norm",
    type=Norm,
    default="none",
    description="a normalisation layer after each conv layer's activation (07_batchnorm)",
)

#: the rows, in the order the CLI lists them after the built-in categories
TRAINING_CATEGORIES: tuple[Category, ...] = (OPTIMIZER, SCHEDULE, NORM)

__all__ = [
    "NORM",
    "OPTIMIZER",
    "SCHEDULE",
    "TRAINING_CATEGORIES",
    "Norm",
    "Optimizer",
    "Schedule",
]
