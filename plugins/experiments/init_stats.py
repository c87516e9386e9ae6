"""The ``init-stats`` experiment: forward activation statistics per layer
(the lessons' 02_fully_connected, 02a_why_sqrt5 and 02b_initializing).

Three models, chosen with ``models`` (comma-separated, default all), each
built with the run's ``init`` and ``activation``, biases zero, no gradients:

- ``mlp``: the lessons' 784-50-10 on the normalised validation images;
  layer 0 is the input, then ``lin1`` (pre-activation), ``act1``
  (post-activation) and ``lin2`` (output).
- ``deep``: ``depth`` layers, each a ``width`` x ``width`` weight drawn
  afresh by the init followed by the activation, on ``batch`` rows of
  ``randn`` input: the lessons' explosion experiment. Layer 0 is the input,
  layer ``k`` the output of the k-th layer (so ``layer 100`` is the last
  one). The metric ``first_nonfinite_layer`` is the first layer with any
  inf or NaN; it is recorded as **NaN when every layer stays finite**
  (a metric row is always present, so "stayed finite" is a query
  ``isnan(value)``, and ``value < 50`` stays false for it). With ``randn`` weights and
  ``identity`` every layer multiplies the std by sqrt(512) ~ 22.6, past
  float32's 3.4e38 after about 28 layers: layer 28 here (seeds 0-4), and
  the lessons' loop stopped at index 28.
- ``conv``: the lessons' ``Conv2d(1, 32, 5)`` on ``n_images`` validation
  images reshaped to 1 x 28 x 28, then the activation; layer 0 input,
  ``conv`` (pre-activation), ``act`` (post-activation). Needs square images;
  a dataset whose feature count is not a square skips this model with a note.

A data-dependent init (``lsuv``) is calibrated on each model's own input (07a_lsuv): the
mlp's ``act1`` and ``lin2`` on the validation images, each deep layer on the batch
that reaches it, the conv model's ``act`` on its images; every calibrated layer then has
std 1 (see :mod:`.lsuv`). A model it cannot calibrate is skipped with the reason.
"""

from __future__ import annotations

import collections
import math
from typing import Any

from scratchlab.plugins import Experiment, Skip
from scratchlab.plugins.contracts import Bounds

MODELS: tuple[str, ...] = ("mlp", "deep", "conv")

PARAMS: dict[str, Any] = {
    "models": ",".join(MODELS),
    "depth": 100,
    "width": 512,
    "batch": 256,
    "hidden": 50,
    "n_images": 100,
    "channels": 32,
    "kernel": 5,
}


#: sizes: up to far past the lessons' (100 layers of 512), short of what only allocates until it fails
SIZE_BOUNDS: dict[str, Bounds] = {
    "depth": Bounds(low=1, high=10_000, integer=True),
    "width": Bounds(low=1, high=1 << 16, integer=True),
    "batch": Bounds(low=1, high=1 << 20, integer=True),
    "hidden": Bounds(low=1, high=1 << 16, integer=True),
    "n_images": Bounds(low=1, high=1 << 20, integer=True),
    "channels": Bounds(low=1, high=1 << 12, integer=True),
    "kernel": Bounds(low=1, high=28, integer=True),  # the images are 28x28
}


def models_problem(value: Any) -> str | None:
    """The bound of ``models``: None for known model names, comma-separated, else what is wanted
    (so ``-s init-stats.models=unknown`` is refused when the sweep is planned, not when it runs)."""
    try:
        parse_models(value)
    except ValueError:
        return f"comma-separated names among {', '.join(MODELS)}"
    return None


def parse_models(text: str) -> list[str]:
    """``"mlp,deep"`` -> ``["mlp", "deep"]``; ValueError naming the valid models for anything else."""
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown or not names:
        raise ValueError(
            f"init-stats: unknown model(s) {', '.join(unknown) or repr(text)} in models; valid: {', '.join(MODELS)}"
        )
    return list(dict.fromkeys(names))


def run_mlp(ctx: Any) -> None:
    """The lessons' 784-50-10 on the validation images."""
    from scratchlab.plugins.experiments.lsuv import calibrate
    from scratchlab.plugins.experiments.models import mlp

    x = ctx.data.x_valid
    model = mlp(
        (x.shape[1], ctx.params["hidden"], ctx.data.n_classes),
        ctx.init,
        ctx.activation,
        device=ctx.device,
        dtype=ctx.dtype,
    )
    calibrate(model, ctx.init, x, "mlp")
    ctx.stats("mlp", 0, "input", x)
    with ctx.watch(model, "mlp"):
        model(x)


def calibrated_layer(ctx: Any, weight: Any, x: Any, layer: int) -> Any:
    """One layer of the deep stack calibrated by LSUV on its own input ``x`` (the layers before
    it already calibrated, as 07a goes layer by layer); returns its output."""
    import torch

    from scratchlab.plugins.experiments.lsuv import calibrate
    from scratchlab.plugins.experiments.models import Activation, Linear

    zero = torch.zeros(weight.shape[0], device=weight.device, dtype=weight.dtype)
    block = sequential(
        lin=Linear(weight.t().clone(), zero, None),
        act=Activation(ctx.activation.forward, ctx.activation.name),
    )
    calibrate(block, ctx.init, x, f"deep stack at layer {layer}")
    return block(x)


def run_deep(ctx: Any) -> None:
    """``depth`` square layers on randn input; records ``first_nonfinite_layer`` (NaN: none)."""
    import torch

    width, depth = ctx.params["width"], ctx.params["depth"]
    if depth < 1 or width < 1:
        raise ValueError(
            f"init-stats: depth and width must be positive, got depth={depth}, width={width}"
        )
    x = torch.randn(ctx.params["batch"], width, device=ctx.device, dtype=ctx.dtype)
    ctx.stats("deep", 0, "input", x)
    weight = torch.empty(width, width, device=ctx.device, dtype=ctx.dtype)
    finite = []
    for layer in range(1, depth + 1):
        ctx.init.fn(weight, ctx.activation.gain)  # a fresh weight for every layer
        if hasattr(ctx.init, "calibrate"):
            x = calibrated_layer(ctx, weight, x, layer)
        else:
            x = ctx.activation.forward(x @ weight.t())
        ctx.stats("deep", layer, f"layer{layer}", x)
        finite.append(torch.isfinite(x).all())
        ctx.check_budget()
    # one transfer for all layers, not one sync per layer
    flags = torch.stack(finite).tolist()
    first = next((i + 1 for i, ok in enumerate(flags) if not ok), math.nan)
    ctx.metric("first_nonfinite_layer", float(first))
    ctx.metric("deep.last_std", x.std())  # the 100-layer collapse or explosion in one number


def run_conv(ctx: Any) -> None:
    """The lessons' ``Conv2d(1, 32, 5)`` then the activation, on validation images."""
    from torch import nn

    from scratchlab.plugins.experiments.lsuv import calibrate
    from scratchlab.plugins.experiments.models import Activation

    x = ctx.data.x_valid[: ctx.params["n_images"]]
    side = math.isqrt(x.shape[1])
    if side * side != x.shape[1]:
        raise Skip(f"conv needs square images; {ctx.dataset.name} has {x.shape[1]} features")
    images = x.reshape(-1, 1, side, side)
    conv = nn.Conv2d(1, ctx.params["channels"], ctx.params["kernel"]).to(
        device=ctx.device, dtype=ctx.dtype
    )
    ctx.init.fn(conv.weight, ctx.activation.gain)
    conv.bias.zero_()
    model = sequential(conv=conv, act=Activation(ctx.activation.forward, ctx.activation.name))
    calibrate(model, ctx.init, images, "conv model")
    ctx.stats("conv", 0, "input", images)
    with ctx.watch(model, "conv"):
        model(images)


def sequential(**layers: Any) -> Any:
    """``nn.Sequential`` of the named ``layers``, in order."""
    from torch import nn

    return nn.Sequential(collections.OrderedDict(layers))


RUNNERS = {"mlp": run_mlp, "deep": run_deep, "conv": run_conv}


def run(ctx: Any) -> None:
    """Record per-layer statistics for each model in ``models``."""
    import torch

    names = parse_models(ctx.params["models"])
    notes = []
    with torch.no_grad():
        for name in names:
            try:
                RUNNERS[name](ctx)
            except Skip as exc:
                notes.append(f"{name} skipped: {exc}")
            ctx.check_budget()
    if len(notes) == len(names):
        raise Skip("; ".join(notes))
    if notes:
        ctx.note("; ".join(notes))


EXPERIMENT = Experiment(
    name="init-stats",
    run=run,
    uses=("init", "activation"),
    params=PARAMS,
    bounds={"models": models_problem, **SIZE_BOUNDS},
    headline=("first_nonfinite_layer", "deep.last_std"),
    description=(
        "Per-layer activation statistics for the lessons' MLP, a 100-layer deep stack"
        " (first non-finite layer) and Conv2d(1,32,5), built with the chosen init and activation."
    ),
)
