"""Optimizers written the lessons' way (09_optimizers): statistics plus steppers.

An optimizer keeps, per parameter, a *state* that its *stats* update from the
gradient (a running average, a step count), then runs its *steppers* in order,
each a function ``stepper(p, **hypers_and_state)`` that changes ``p`` in place.
The hyper-parameters (``lr``, ``mom``, ``wd``, ...) live in one dict,
:attr:`StatefulOptimizer.hypers`, which a schedule rewrites between steps.

How each one relates to ``torch.optim`` (the tests check every claim, max abs
difference of the parameters after N steps):

- ``sgd``: ``p -= lr * grad``; identical to ``torch.optim.SGD(lr)``.
- ``sgd-wd``: the lessons' ``[weight_decay, sgd_step]``: ``p *= 1 - lr*wd``
  first, then the SGD step. For plain SGD, decoupled weight decay applied
  before the step is algebraically the same as L2 regularisation
  (``grad += wd * p``), so it matches ``torch.optim.SGD(lr, weight_decay=wd)``.
- ``momentum``: the lessons' ``AverageGrad`` without dampening,
  ``avg = mom * avg + grad; p -= lr * avg``, matches
  ``torch.optim.SGD(lr, momentum=mom, dampening=0)``. With ``dampening=True``
  the average is ``mom * avg + (1 - mom) * grad`` from a zero start; torch
  scales the gradient by ``1 - dampening``, so ``dampening=mom`` is the same
  recursion except at the first step, where torch copies the gradient
  undamped into its buffer: the two averages differ by ``mom**t * grad_1``
  at step t (the test checks that formula).
  Weight decay (``wd``, default 0) is decoupled, applied before the step; torch
  couples it into the momentum buffer instead, so only ``wd=0`` has a torch twin.
- ``adam``: the lessons' dampened, debiased averages: the same update as
  ``torch.optim.Adam(lr, betas=(mom, sqr_mom), eps=eps)``; with ``wd`` > 0 the
  decay is decoupled and applied first, which is ``torch.optim.AdamW``. (The
  lessons decay after the Adam step; the difference is ``lr**2 * wd`` times the
  update, second order.) Defaults are the lessons' ``sqr_mom=0.99, eps=1e-5``,
  not torch's ``0.999, 1e-8``.
- ``lamb``: the lessons' ``lamb_step``; torch has none, so the test checks it
  against the formula of You et al. as the lessons write it. ``zero_trust`` says
  what the trust ratio is for a parameter whose norm is 0 (every bias at the
  start): ``lesson`` (default) keeps the lessons' ``min(r1/r2, 10)``, which is 0
  there, so such a parameter never moves; ``one`` uses a ratio of 1 (what apex
  and timm do), so it takes a plain Adam step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from scratchlab.plugins import hookimpl
from scratchlab.plugins.contracts import Bounds, non_negative, one_of
from scratchlab.plugins.lazytorch import no_grad, torch
from scratchlab.plugins.training_types import OPTIMIZER, Optimizer

#: ``lamb``'s cap on the trust ratio ``r1/r2`` (the lessons' ``min(r1/r2, 10)``)
LAMB_MAX_TRUST = 10.0

#: ``lamb.zero_trust``: the trust ratio of a zero-norm parameter, the lessons' 0 or apex's 1
LAMB_ZERO_TRUST: tuple[str, ...] = ("lesson", "one")


# ------------------------------------------------------------------ stats


class Stat(ABC):
    """A statistic kept per parameter: ``init_state(p)`` creates it, ``update`` advances it
    (the lessons' ``Stat``, an abstract base: each optimizer is built from its subclasses)."""

    @abstractmethod
    def init_state(self, p: torch.Tensor) -> dict[str, Any]:
        """The state before the first step."""

    @abstractmethod
    def update(self, p: torch.Tensor, state: dict[str, Any], **hypers: Any) -> dict[str, Any]:
        """Advance ``state`` with ``p.grad`` and return it."""


class AverageGrad(Stat):
    """``grad_avg = mom * grad_avg + damp * grad``; ``damp`` is ``1 - mom`` when dampened, else 1."""

    def __init__(self, dampening: bool = False) -> None:
        self.dampening = dampening

    def init_state(self, p: torch.Tensor) -> dict[str, Any]:
        """A zero average."""
        return {"grad_avg": torch.zeros_like(p)}

    def update(
        self, p: torch.Tensor, state: dict[str, Any], *, mom: float, **_: Any
    ) -> dict[str, Any]:
        """Fold ``p.grad`` into the average; record the dampening used as ``mom_damp``."""
        state["mom_damp"] = 1.0 - mom if self.dampening else 1.0
        state["grad_avg"].mul_(mom).add_(p.grad, alpha=state["mom_damp"])
        return state


class AverageSqrGrad(Stat):
    """``sqr_avg = sqr_mom * sqr_avg + (1 - sqr_mom) * grad**2`` (always dampened, as the lessons' Adam)."""

    def init_state(self, p: torch.Tensor) -> dict[str, Any]:
        """A zero average."""
        return {"sqr_avg": torch.zeros_like(p)}

    def update(
        self, p: torch.Tensor, state: dict[str, Any], *, sqr_mom: float, **_: Any
    ) -> dict[str, Any]:
        """Fold ``p.grad**2`` into the average; record ``sqr_damp``."""
        state["sqr_damp"] = 1.0 - sqr_mom
        state["sqr_avg"].mul_(sqr_mom).addcmul_(p.grad, p.grad, value=state["sqr_damp"])
        return state


class StepCount(Stat):
    """How many steps this parameter has taken (for the debiasing of Adam and LAMB)."""

    def init_state(self, p: torch.Tensor) -> dict[str, Any]:
        """Zero steps."""
        return {"step": 0}

    def update(self, p: torch.Tensor, state: dict[str, Any], **_: Any) -> dict[str, Any]:
        """One more step."""
        state["step"] += 1
        return state


def debias(mom: float, damp: float, step: int) -> float:
    """The lessons' ``debias``: the weight an average of ``step`` ones would have, ``damp * (1 - mom**step) / (1 - mom)``.

    Dividing a dampened average by it gives Adam's bias-corrected ``m / (1 - beta**t)``.
    """
    return damp * (1 - mom**step) / (1 - mom)


# --------------------------------------------------------------- steppers


def weight_decay(p: torch.Tensor, *, lr: float, wd: float, **_: Any) -> None:
    """Decoupled weight decay: ``p *= 1 - lr * wd``."""
    if wd:
        p.mul_(1 - lr * wd)


def sgd_step(p: torch.Tensor, *, lr: float, **_: Any) -> None:
    """``p -= lr * p.grad``."""
    p.add_(p.grad, alpha=-lr)


def momentum_step(p: torch.Tensor, *, lr: float, grad_avg: torch.Tensor, **_: Any) -> None:
    """``p -= lr * grad_avg``."""
    p.add_(grad_avg, alpha=-lr)


def adam_step(
    p: torch.Tensor,
    *,
    lr: float,
    mom: float,
    mom_damp: float,
    step: int,
    sqr_mom: float,
    sqr_damp: float,
    grad_avg: torch.Tensor,
    sqr_avg: torch.Tensor,
    eps: float,
    **_: Any,
) -> None:
    """The lessons' ``adam_step``: ``p -= lr / debias1 * grad_avg / (sqrt(sqr_avg / debias2) + eps)``."""
    debias1 = debias(mom, mom_damp, step)
    debias2 = debias(sqr_mom, sqr_damp, step)
    p.addcdiv_(grad_avg, (sqr_avg / debias2).sqrt() + eps, value=-lr / debias1)


def lamb_step(
    p: torch.Tensor,
    *,
    lr: float,
    mom: float,
    mom_damp: float,
    step: int,
    sqr_mom: float,
    sqr_damp: float,
    grad_avg: torch.Tensor,
    sqr_avg: torch.Tensor,
    eps: float,
    wd: float,
    zero_trust: str = "lesson",
    **_: Any,
) -> None:
    """The lessons' ``lamb_step``: Adam's direction plus ``wd * p``, scaled per layer by the
    trust ratio ``r1 / r2`` (root-mean-square of the weights over that of the update),
    capped at :data:`LAMB_MAX_TRUST`.

    ``zero_trust="lesson"``: ``min(r1/r2, 10)`` as written, 0 for weights of norm 0 (they
    stay at 0); ``"one"``: a ratio of 1 whenever ``r1`` or ``r2`` is 0. A zero update
    moves nothing either way (its 0/0 ratio is taken as 0, not the lessons' NaN).
    """
    debias1 = debias(mom, mom_damp, step)
    debias2 = debias(sqr_mom, sqr_damp, step)
    r1 = p.pow(2).mean().sqrt()
    update = (grad_avg / debias1) / ((sqr_avg / debias2).sqrt() + eps) + wd * p
    r2 = update.pow(2).mean().sqrt()
    defined = (r1 > 0) & (r2 > 0) if zero_trust == "one" else r2 > 0
    fallback = torch.ones_like(r1) if zero_trust == "one" else torch.zeros_like(r1)
    trust = torch.where(defined, r1 / r2, fallback).clamp(max=LAMB_MAX_TRUST)
    p.sub_(lr * trust * update)


# -------------------------------------------------------------- optimizer


class StatefulOptimizer:
    """The lessons' ``StatefulOptimizer`` for one parameter group.

    ``step()`` updates each parameter that has a gradient: its stats first,
    then every stepper in order with the hypers and the state as keywords.
    ``hypers`` (``lr`` and the rest) may be changed between steps.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        steppers: Sequence[Callable[..., None]],
        stats: Sequence[Stat] = (),
        **hypers: Any,
    ) -> None:
        self.params = list(params)
        self.steppers = tuple(steppers)
        self.stats = tuple(stats)
        self.hypers: dict[str, Any] = dict(hypers)
        self.state: dict[torch.Tensor, dict[str, Any]] = {}

    @no_grad
    def step(self) -> None:
        """One optimisation step for every parameter with a gradient."""
        for p in self.params:
            if p.grad is None:
                continue
            state = self.state.get(p)
            if state is None:
                state = {}
                for stat in self.stats:
                    state.update(stat.init_state(p))
                self.state[p] = state
            for stat in self.stats:
                state = stat.update(p, state, **self.hypers)
            for stepper in self.steppers:
                stepper(p, **state, **self.hypers)

    def zero_grad(self) -> None:
        """Drop every gradient (``None``, as ``torch.optim``'s default)."""
        for p in self.params:
            p.grad = None


# -------------------------------------------------------------- components


def recipe(
    steppers: Sequence[Callable[..., None]], stats: Callable[..., Sequence[Stat]] = lambda **_: ()
) -> Callable[..., StatefulOptimizer]:
    """A ``build(params, lr, **hypers)`` making a :class:`StatefulOptimizer` of these
    steppers and fresh stats (the lessons' ``partial(StatefulOptimizer, steppers=..., stats=...)``).

    ``stats(**hypers)`` makes the stats, so a hyper such as ``dampening`` can choose them.
    """

    def build(params: Iterable[torch.Tensor], lr: float, **hypers: Any) -> StatefulOptimizer:
        return StatefulOptimizer(params, steppers, stats(**hypers), lr=lr, **hypers)

    build.__doc__ = f"A StatefulOptimizer with steppers {', '.join(s.__name__ for s in steppers)}."
    return build


def _momentum_stats(*, dampening: bool = False, **_: Any) -> list[Stat]:
    return [AverageGrad(dampening=bool(dampening))]


def _adam_stats(**_: Any) -> list[Stat]:
    return [AverageGrad(dampening=True), AverageSqrGrad(), StepCount()]


#: name -> (build, params with defaults, description); one table, the hook registers it
OPTIMIZERS: Mapping[str, tuple[Callable[..., Any], dict[str, Any], str]] = {
    "sgd": (recipe([sgd_step]), {}, "Plain SGD, p -= lr * grad (= torch.optim.SGD)."),
    "sgd-wd": (
        recipe([weight_decay, sgd_step]),
        {"wd": 0.01},
        "SGD with weight decay p *= 1 - lr*wd before the step (= torch.optim.SGD weight_decay).",
    ),
    "momentum": (
        recipe([weight_decay, momentum_step], _momentum_stats),
        {"mom": 0.9, "wd": 0.0, "dampening": False},
        "SGD with momentum, avg = mom*avg + grad (= torch.optim.SGD momentum, dampening 0).",
    ),
    "adam": (
        recipe([weight_decay, adam_step], _adam_stats),
        {"mom": 0.9, "sqr_mom": 0.99, "eps": 1e-5, "wd": 0.0},
        "Adam with debiased dampened averages; decoupled wd (= torch.optim.Adam / AdamW).",
    ),
    "lamb": (
        recipe([lamb_step], _adam_stats),
        {"mom": 0.9, "sqr_mom": 0.99, "eps": 1e-6, "wd": 0.0, "zero_trust": "lesson"},
        "LAMB: Adam's step scaled per layer by the trust ratio |w|/|update|, capped at 10"
        " (zero_trust: lesson = 0 for a zero-norm parameter, as 09; one = 1, as apex).",
    ),
}


#: the learning rate each optimizer is usually run at, used when a sweep sets no
#: ``train.lr`` (sgd and sgd-wd: the loop's own 0.2). Measured on mnist-5k, one
#: epoch, bs 64, seed 0 (valid accuracy, MLP / CNN): sgd 0.2 0.86/0.82; momentum
#: 0.02 0.90/0.79, 0.05 0.89/0.85, 0.1 0.84/0.86; adam 1e-3 0.87/0.77, 3e-3
#: 0.90/0.89, 1e-2 0.88/0.91, 3e-2 0.85/0.89; lamb 3e-3 0.79/0.68, 1e-2 0.87/0.88,
#: 3e-2 0.87/0.84, 0.1 0.10/0.10 (diverged). At the loop's 0.2 adam and lamb
#: diverge (0.10-0.17).
USUAL_LR: Mapping[str, float] = {"momentum": 0.05, "adam": 3e-3, "lamb": 1e-2}


#: what each optimizer param may be: averages' momenta in [0, 1), decay and eps >= 0
BOUNDS: Mapping[str, Any] = {
    "mom": Bounds(low=0, high=1, high_open=True),
    "sqr_mom": Bounds(low=0, high=1, high_open=True),
    "wd": non_negative,
    "eps": non_negative,
    "zero_trust": one_of(*LAMB_ZERO_TRUST),
}


def optimizers() -> list[Optimizer]:
    """The built-in optimizer components."""
    return [
        Optimizer(
            name=name,
            build=build,
            params=params,
            description=description,
            bounds={p: BOUNDS[p] for p in params if p in BOUNDS},
            lr=USUAL_LR.get(name),
        )
        for name, (build, params, description) in OPTIMIZERS.items()
    ]


@hookimpl
def register_categories(register):
    """Add the ``optimizer`` category (default ``sgd``: the lessons' loop before 09)."""
    register(OPTIMIZER)


@hookimpl
def register_optimizers(register):
    """Register sgd, sgd-wd, momentum, adam and lamb."""
    for optimizer in optimizers():
        register(optimizer)


def by_name(name: str, **values: Any) -> Optimizer:
    """The built-in optimizer ``name`` with ``values`` overriding its params (for code and tests)."""
    from scratchlab.plugins.types import bind

    return bind(next(o for o in optimizers() if o.name == name), values)
