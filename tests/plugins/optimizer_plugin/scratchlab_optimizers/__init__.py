"""A scratchlab plugin written as a third party would: it adds the ``solver``
category (an optimizer by another name: scratchlab has a built-in ``optimizer``
category, itself built on the same API), two solvers (``sgd`` and ``momentum``)
and the ``fit`` experiment, which fits a line with the chosen solver. Nothing in
scratchlab names any of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from scratchlab.plugins import Category, Component, Experiment, hookimpl


@dataclass(frozen=True, kw_only=True)
class Solver(Component):
    """``step(weights, grads, lr, state)`` updates ``weights`` in place; ``state`` is a dict it may keep."""

    step: Callable[..., None]

    CATEGORY: ClassVar[str] = "solver"
    CALLABLE_FIELDS: ClassVar[tuple[str, ...]] = ("step",)
    PARAM_FIELDS: ClassVar[tuple[str, ...]] = ("step",)


def sgd_step(weights: list, grads: list, lr: float, state: dict) -> None:
    for w, g in zip(weights, grads, strict=True):
        w -= lr * g


def momentum_step(weights: list, grads: list, lr: float, state: dict, *, beta: float = 0.9) -> None:
    velocities = state.setdefault("v", [g * 0 for g in grads])
    for w, g, v in zip(weights, grads, velocities, strict=True):
        v.mul_(beta).add_(g)
        w -= lr * v


def fit(ctx: Any) -> None:
    """Fit y = 3x + 1 by gradient descent with the chosen solver; record the loss per step."""
    import torch

    generator = torch.Generator().manual_seed(ctx.seed)
    x = torch.randn(256, 1, generator=generator)
    y = 3 * x + 1
    w, b = torch.zeros(1, 1, requires_grad=True), torch.zeros(1, requires_grad=True)
    state: dict = {}
    for step in range(ctx.params["steps"]):
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            ctx.components["solver"].step([w, b], [w.grad, b.grad], ctx.params["lr"], state)
        w.grad.zero_()
        b.grad.zero_()
        ctx.metric("loss", float(loss), step)
    ctx.metric("final_loss", float(((x @ w + b - y) ** 2).mean()))


@hookimpl
def register_categories(register):
    register(
        Category(
            name="solver",
            type=Solver,
            default="sgd",
            description="updates the weights from their gradients",
        )
    )


@hookimpl
def register_solvers(register):
    register(Solver(name="sgd", step=sgd_step, description="plain gradient descent"))
    register(
        Solver(
            name="momentum",
            step=momentum_step,
            params={"beta": 0.9},
            description="gradient descent with momentum",
        )
    )


@hookimpl
def register_experiments(register):
    register(
        Experiment(
            name="fit",
            run=fit,
            uses=("solver",),
            params={"steps": 20, "lr": 0.1},
            description="fit a line with the chosen solver",
        )
    )
