"""The ``gradcheck`` experiment: the hand-written backward pass against autograd
(the lessons' 02_fully_connected ``forward_and_backward``).

The lessons' two-layer model ``x @ w1 + b1 -> activation -> @ w2 + b2 -> loss``
on ``batch`` training rows of the default dataset, weights drawn by the run's
``init``, biases zero. The backward is written out as the lessons do it,
generalised to the chosen components: ``loss.grad`` (the lessons'
``mse_grad``), ``lin_grad`` for both layers and ``activation.backward``
(``relu_grad``). Autograd then computes the same gradients from the same
forward.

Recorded for each tensor ``T`` in ``x, w1, b1, w2, b2``: ``T.max_abs_err`` and
``T.max_rel_err`` (normwise, as in :mod:`scratchlab.plugins.experiments.checks`:
the largest absolute error over the largest absolute autograd value), plus
``loss`` and ``passed``: 1 when every gradient is within the
lessons' ``test_near`` tolerance (``allclose``, rtol 1e-3, atol 1e-5), else 0.
A component without a hand-written backward (``activation.backward`` or
``loss.grad`` is None) makes the run ``skipped`` with that reason. A data-dependent init
(``lsuv``) is calibrated on the checked batch first (see :func:`calibrated_weights`).
"""

from __future__ import annotations

from typing import Any

from scratchlab.plugins import Experiment, Skip
from scratchlab.plugins.contracts import Bounds, non_negative

#: the lessons' test_near tolerance
RTOL, ATOL = 1e-3, 1e-5

PARAMS: dict[str, Any] = {"batch": 1000, "hidden": 50, "rtol": RTOL, "atol": ATOL}

TENSORS: tuple[str, ...] = ("x", "w1", "b1", "w2", "b2")


def hand_gradients(
    activation: Any, loss: Any, x: Any, target: Any, w1: Any, b1: Any, w2: Any, b2: Any
) -> dict[str, Any]:
    """The lessons' forward and backward by hand; returns the loss and every gradient."""
    l1 = x @ w1 + b1
    l2 = activation.forward(l1)
    out = l2 @ w2 + b2
    value = loss.forward(out, target)
    g_out = loss.grad(out, target)  # mse_grad
    g_w2, g_b2, g_l2 = l2.t() @ g_out, g_out.sum(0), g_out @ w2.t()  # lin_grad(l2, out, w2, b2)
    g_l1 = activation.backward(l1, g_l2)  # relu_grad(l1, l2)
    g_w1, g_b1, g_x = x.t() @ g_l1, g_l1.sum(0), g_l1 @ w1.t()  # lin_grad(x, l1, w1, b1)
    return {"loss": value, "x": g_x, "w1": g_w1, "b1": g_b1, "w2": g_w2, "b2": g_b2}


def autograd_gradients(
    activation: Any, loss: Any, tensors: dict[str, Any], target: Any
) -> dict[str, Any]:
    """The same forward with autograd; returns the loss and every leaf's ``.grad``."""
    leaves = {name: t.detach().clone().requires_grad_(True) for name, t in tensors.items()}
    out = (
        activation.forward(leaves["x"] @ leaves["w1"] + leaves["b1"]) @ leaves["w2"] + leaves["b2"]
    )
    value = loss.forward(out, target)
    value.backward()
    return {"loss": value.detach(), **{name: leaf.grad for name, leaf in leaves.items()}}


def compare(hand: Any, auto: Any, rtol: float, atol: float) -> Any:
    """``[max_abs_err, max_rel_err, close]`` of two gradients as one tensor (no device sync)."""
    import torch

    from scratchlab.plugins.experiments.checks import error_vector

    close = torch.isclose(hand, auto, rtol=rtol, atol=atol).all().to(torch.float64)
    return torch.cat([error_vector(hand, auto), close.reshape(1)])


def calibrated_weights(ctx: Any, x: Any, sizes: tuple[int, int, int]) -> dict[str, Any]:
    """``w1, b1, w2, b2`` of the lessons' model after a data-dependent init (LSUV) calibrated it
    on ``x``, the batch the gradients are checked on. LSUV shifts the activation's output by
    ``c``; ``(act(l1) + c) @ w2 + b2`` is ``act(l1) @ w2 + (b2 + c * w2.sum(0))``, so the shift
    goes into ``b2`` and the hand-written forward stays the lessons'."""
    import torch

    from scratchlab.plugins.experiments.lsuv import calibrate
    from scratchlab.plugins.experiments.models import mlp

    model = mlp(sizes, ctx.init, ctx.activation, device=ctx.device, dtype=ctx.dtype)
    calibrate(model, ctx.init, x, "gradcheck model")
    with torch.no_grad():
        w2 = model.lin2.weight.detach().clone()
        shift = model.act1.bias.to(device=w2.device, dtype=w2.dtype)
        return {
            "w1": model.lin1.weight.detach().clone(),
            "b1": model.lin1.bias.detach().clone(),
            "w2": w2,
            "b2": model.lin2.bias.detach() + shift * w2.sum(0),
        }


def run(ctx: Any) -> None:
    """Compare the hand-written gradients with autograd's for the chosen activation, loss and init."""
    import torch

    from scratchlab.plugins.experiments.models import init_weight, output_width, targets

    activation, loss = ctx.activation, ctx.loss
    if activation.backward is None:
        raise Skip(f"gradcheck: activation {activation.name!r} has no hand-written backward")
    if loss.grad is None:
        raise Skip(f"gradcheck: loss {loss.name!r} has no hand-written gradient")
    data = ctx.data
    x = data.x_train[: ctx.params["batch"]]
    target = targets(loss, data.y_train[: ctx.params["batch"]], ctx.dtype)
    n_in, hidden, n_out = x.shape[1], ctx.params["hidden"], output_width(loss, data.n_classes)

    def zeros(n: int) -> Any:
        return torch.zeros(n, device=ctx.device, dtype=ctx.dtype)

    if hasattr(ctx.init, "calibrate"):
        tensors = {"x": x, **calibrated_weights(ctx, x, (n_in, hidden, n_out))}
    else:
        tensors = {
            "x": x,
            "w1": init_weight(
                ctx.init, n_in, hidden, activation.gain, device=ctx.device, dtype=ctx.dtype
            ),
            "b1": zeros(hidden),
            "w2": init_weight(ctx.init, hidden, n_out, 1.0, device=ctx.device, dtype=ctx.dtype),
            "b2": zeros(n_out),
        }
    with torch.no_grad():
        hand = hand_gradients(activation, loss, target=target, **tensors)
    auto = autograd_gradients(activation, loss, tensors, target)
    rtol, atol = ctx.params["rtol"], ctx.params["atol"]
    rows = torch.stack([compare(hand[name], auto[name], rtol, atol) for name in TENSORS]).tolist()
    for name, (abs_err, rel_err, _) in zip(TENSORS, rows):
        ctx.metric(f"{name}.max_abs_err", abs_err)
        ctx.metric(f"{name}.max_rel_err", rel_err)
    ctx.metric("loss", auto["loss"])
    ctx.metric("max_rel_err", max(rel_err for _, rel_err, _ in rows))  # the headline of all tensors
    ctx.metric("passed", 1.0 if all(close == 1.0 for _, _, close in rows) else 0.0)


EXPERIMENT = Experiment(
    name="gradcheck",
    run=run,
    uses=("activation", "loss", "init"),
    params=PARAMS,
    bounds={
        "batch": Bounds(low=1, high=1 << 20, integer=True),
        "hidden": Bounds(low=1, high=1 << 16, integer=True),
        "rtol": non_negative,
        "atol": non_negative,
    },
    headline=("passed", "max_rel_err"),
    description=(
        "The lessons' hand-written backward (loss grad, lin_grad, activation backward) against autograd"
        " on a 2-layer model: max abs/rel error per tensor and passed at rtol 1e-3, atol 1e-5."
    ),
)
