"""The ``train`` experiment: the lessons' minibatch loop (03_minibatch_training), with the
optimizer, schedule and norm of 05-09.

``model`` chooses the network. ``mlp`` (default) is the lessons' ``n_in -> hidden -> n_out``
(``n_out`` from the loss: 1 for mse, else one per class), every matmul (forward and
backward) through the chosen strategy via ``autograd_matmul`` (the ``torch`` strategy uses
PyTorch's fused ``addmm``, whose backward is the same ``a @ b``; see
``models.trainable_matmul``). ``cnn`` is 06_cuda_cnn_hooks_init's MNIST CNN (conv layers of
8-16-32-32 filters, stride 2, each followed by the activation and the run's ``norm``; then
average pooling and a linear layer through the chosen matmul). Weights by the run's
``init``, biases zero; an init that needs data (``lsuv``) is calibrated on the first
training batch (the CNN's conv layers, the MLP's ``act1`` and ``lin2``: see
:mod:`.lsuv`) and its per-layer ``lsuv_mean.<layer>``/``lsuv_std.<layer>`` recorded; a
model it cannot calibrate skips the run with the reason. The
mlp has no norm layers: a norm other than ``none`` skips the run.

Each step the ``optimizer`` steps at the rate the ``schedule`` gives for the position in
training (``lr`` is the peak), on batches of ``bs`` rows in order (``shuffle`` draws a seeded
permutation per epoch; ``n_train`` > 0 keeps the first rows only). The defaults ``sgd``,
``constant`` and ``none`` are the loop as it was before those categories existed: the same
``p -= lr * p.grad`` arithmetic, so the same numbers.

Recorded metrics (``step`` is the global optimiser step, from 0):

- ``train_loss`` of the batch and the ``lr`` it was stepped with at every
  ``log_every``-th step (0 = never);
- ``valid_loss`` and ``valid_accuracy`` after each epoch, at step = steps done
  so far (accuracy: arg-max per row; for a single output (mse) the output
  rounded to the nearest label);
- ``epoch_time_s`` per epoch (the training steps only) and ``samples_per_s``
  over the whole run.

The valid metrics are *reported* (``ctx.report``): when a search's pruner judges one of
them, it sees each epoch's value and may stop the run there; with a single epoch the
valid metrics are then also evaluated and reported every ``log_every`` steps, so the
pruner has something to judge before the end (only then: a grid run is unchanged).

With ``stats_every`` > 0 the activation statistics of the training forward
pass (``lin1``, ``act1``, ``lin2`` of model ``mlp``) are recorded at every
``stats_every``-th step, from step 0; once per epoch is ``stats_every`` =
steps per epoch (63 for mnist-5k at bs 64).

The loop is kept lean so it runs within 10% of the lessons' bare loop: no
per-step device sync (losses are logged as tensors and read when the run
ends), hooks attached only on the steps that record statistics, and
validation in passes as large as the strategy's limit allows (at least
``bs`` rows, at most 2,048). A strategy whose limit the batch's largest
matmul exceeds is skipped before anything runs ("python: 64x784x50 is 2.5e+06 multiply-adds, limit 1e+06").
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable
from typing import Any

from scratchlab.core.keys import DIVERGED_NOTE
from scratchlab.plugins import Experiment, Skip
from scratchlab.plugins.contracts import Bounds, one_of, positive

#: the models ``model`` chooses from (see :mod:`.models`)
MODELS: tuple[str, ...] = ("mlp", "cnn")
#: 06_cuda_cnn_hooks_init's filters per conv layer of the ``cnn`` model (here, not in
#: ``models``, so that planning checks a norm against them without importing torch)
CNN_FILTERS: tuple[int, ...] = (8, 16, 32, 32)

#: the norm that means "none": the only one the mlp accepts
DEFAULT_NORM = "none"

# lr departs from the lessons' 0.5 on purpose: that was tuned for 782 steps per
# epoch on 50,000 images. On the default mnist-5k one epoch is 63 steps and lr
# 0.5 has not settled by then (valid accuracy 0.39-0.71 over inits torch-default,
# kaiming-normal, simple x seeds 0-2), while 0.2 gives 0.84-0.87 on the same
# nine runs. `-s train.lr=0.5` reproduces the lessons.
PARAMS: dict[str, Any] = {
    "bs": 64,
    "lr": 0.2,
    "epochs": 1,
    "hidden": 50,
    "log_every": 10,
    "stats_every": 0,
    "shuffle": False,
    "model": "mlp",
    # train on the first n_train rows only (0: all); a bs-2 epoch of 4,000 rows is 2,000 steps
    "n_train": 0,
}


def strategy(ctx: Any) -> Any:
    """The run's matmul strategy, or None when the experiment does not use the ``matmul``
    category (``telemetry``): then PyTorch's own matmul, with no limit."""
    return ctx.components.get("matmul")


def check_fits(matmul: Any, bs: int, sizes: tuple[int, ...]) -> None:
    """Raise Skip if any layer's ``bs x n_in x n_out`` matmul is over the strategy's limit.

    The backward matmuls (``g @ w.T``, ``x.T @ g``) have the same multiply-adds.
    """
    if matmul is None:
        return
    for n_in, n_out in itertools.pairwise(sizes):
        reason = matmul.fits(bs, n_in, n_out)
        if reason is not None:
            raise Skip(reason)


#: the metrics a search's pruner may judge as training goes
VALID_METRICS: tuple[str, ...] = ("valid_loss", "valid_accuracy")

#: most validation rows per forward pass (bounds the memory of one pass)
MAX_VALID_BATCH = 2048


def valid_batch(matmul: Any, bs: int, sizes: tuple[int, ...]) -> int:
    """Rows per validation pass: as many as every layer's matmul fits, from ``bs`` up to
    :data:`MAX_VALID_BATCH` (one pass for mnist-5k's 1,000 rows with a fast strategy)."""
    rows = float(MAX_VALID_BATCH)
    for n_in, n_out in itertools.pairwise(sizes if matmul is not None else ()):
        rows = min(rows, matmul.max_madds / (n_in * n_out))  # max_madds may be inf
    return max(bs, int(rows))


def sync(device: Any) -> None:
    """Wait for queued device work, so wall-clock times mean something on a GPU."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def evaluate(model: Any, loss: Any, x: Any, y: Any, bs: int) -> tuple[Any, Any]:
    """Mean loss and accuracy over ``x`` in batches of ``bs`` rows, as 0-d tensors (no sync).

    The model is in eval mode meanwhile (a norm uses its running statistics), then
    back in training mode.
    """
    import torch

    from scratchlab.plugins.experiments.models import correct

    total_loss = torch.zeros((), device=x.device, dtype=x.dtype)
    total_correct = torch.zeros((), device=x.device, dtype=x.dtype)
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, x.shape[0], bs):
                xb, yb = x[start : start + bs], y[start : start + bs]
                out = model(xb)
                total_loss += loss.forward(out, yb) * xb.shape[0]
                total_correct += correct(out, yb)
    finally:
        model.train()
    n = max(x.shape[0], 1)
    return total_loss / n, total_correct / n


def check_params(p: Any) -> None:
    """Raise ValueError naming every bad value of the loop's params."""
    if p["bs"] < 1 or min(p["epochs"], p["log_every"], p["stats_every"], p["n_train"]) < 0:
        raise ValueError(
            "train: bs must be >= 1 and epochs, log_every, stats_every, n_train >= 0;"
            f" got bs={p['bs']}, epochs={p['epochs']}, log_every={p['log_every']},"
            f" stats_every={p['stats_every']}, n_train={p['n_train']}"
        )
    if p["model"] not in MODELS:
        raise ValueError(f"train: unknown model {p['model']!r}; valid: {', '.join(MODELS)}")


def steps_per_epoch(ctx: Any) -> int:
    """Optimiser steps in one epoch: one per batch, the last one possibly short."""
    rows = ctx.params["n_train"] or ctx.data.x_train.shape[0]
    return -(-min(rows, ctx.data.x_train.shape[0]) // ctx.params["bs"])


def layer_sizes(ctx: Any) -> tuple[int, ...]:
    """The (in, out) chain of every matmul the model does, for the strategy's limit."""
    from scratchlab.plugins.experiments.models import output_width

    data, p = ctx.data, ctx.params
    n_out = output_width(ctx.loss, data.n_classes)
    if p["model"] == "cnn":
        return (CNN_FILTERS[-1], n_out)
    return (data.x_train.shape[1], p["hidden"], n_out)


def build_model(ctx: Any, sizes: tuple[int, ...]) -> Any:
    """The chosen model from the run's components; a data-dependent init (LSUV) is
    calibrated on the first training batch."""
    from scratchlab.plugins.experiments.lsuv import calibrate
    from scratchlab.plugins.experiments.models import cnn, mlp, trainable_matmul

    p, norm = ctx.params, ctx.components["norm"]
    mm = None if strategy(ctx) is None else trainable_matmul(strategy(ctx))
    kwargs = {"mm": mm, "device": ctx.device, "dtype": ctx.dtype}
    if p["model"] == "cnn":
        model = cnn(ctx.data.x_train.shape[1], sizes[-1], ctx.init, ctx.activation, norm, **kwargs)
    else:
        if norm.name != DEFAULT_NORM:
            raise Skip(f"norm {norm.name} applies to model cnn; the mlp has no norm layers")
        model = mlp(sizes, ctx.init, ctx.activation, **kwargs)
    calibrated = calibrate(model, ctx.init, ctx.data.x_train[: p["bs"]], p["model"])
    for name, (mean, std) in calibrated.items():
        # what LSUV left each layer's output at, on the batch it calibrated with
        ctx.metric(f"lsuv_mean.{name}", mean)
        ctx.metric(f"lsuv_std.{name}", std)
    return model


def fit(ctx: Any, model: Any, watch: Callable[[int], Any] | None = None) -> None:
    """The lessons' loop: the chosen optimizer steps at the schedule's rate; metrics as the
    module says. ``watch(step)`` may return a context manager to wrap that step's forward
    pass (telemetry hooks), or None."""
    from scratchlab.plugins.experiments.models import targets

    p = ctx.params
    bs, lr, epochs, log_every = p["bs"], p["lr"], p["epochs"], p["log_every"]
    data, loss = ctx.data, ctx.loss
    optimizer = ctx.components["optimizer"].build(list(model.parameters()), lr)
    schedule = ctx.components["schedule"].fn
    rows = p["n_train"] or data.x_train.shape[0]
    x_train, y_train = data.x_train[:rows], targets(loss, data.y_train[:rows], ctx.dtype)
    valid = (data.x_valid, targets(loss, data.y_valid, ctx.dtype))
    n = x_train.shape[0]
    starts = range(0, n, bs)
    total_steps = max(len(starts) * epochs, 1)
    eval_rows = valid_batch(strategy(ctx), bs, layer_sizes(ctx))

    # one epoch and a pruner listening: judge the valid metrics every log_every steps too
    judge_every = log_every if epochs == 1 and ctx.judged & set(VALID_METRICS) else 0

    model.train()
    step, train_seconds = 0, 0.0
    for _epoch in range(epochs):
        xs, ys = _epoch_order(ctx, x_train, y_train)
        sync(ctx.device)
        started = time.perf_counter()
        for start in starts:
            optimizer.hypers["lr"] = schedule(lr, step / total_steps)
            _train_step(
                ctx, model, optimizer, xs[start : start + bs], ys[start : start + bs], step, watch
            )
            step += 1
            if judge_every and step % judge_every == 0 and step < len(starts):
                _report_valid(ctx, model, valid, eval_rows, step)
            ctx.check_budget()
        sync(ctx.device)
        seconds = time.perf_counter() - started
        train_seconds += seconds
        ctx.metric("epoch_time_s", seconds, step)
        valid_loss, valid_accuracy = _report_valid(ctx, model, valid, eval_rows, step)
        ctx.check_budget()
    if train_seconds > 0:
        ctx.metric("samples_per_s", n * epochs / train_seconds)
    if epochs:
        verdict = divergence(
            float(valid_loss),
            float(valid_accuracy),
            data.n_classes,
            ctx.components["optimizer"],
            lr,
        )
        if verdict is not None:
            ctx.note(verdict)


def _epoch_order(ctx: Any, x: Any, y: Any) -> tuple[Any, Any]:
    """The training split in this epoch's order: shuffled when the run asks for it."""
    if not ctx.params["shuffle"]:
        return x, y
    import torch

    order = torch.randperm(x.shape[0], device=ctx.device)
    return x[order], y[order]


def _train_step(
    ctx: Any, model: Any, optimizer: Any, xb: Any, yb: Any, step: int, watch: Any
) -> None:
    """One optimizer step on a batch; the training loss and the lr every ``log_every`` steps."""
    with (watch and watch(step)) or contextlib.nullcontext():
        out = model(xb)
    batch_loss = ctx.loss.forward(out, yb)
    batch_loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    log_every = ctx.params["log_every"]
    if log_every and step % log_every == 0:
        ctx.metric("train_loss", batch_loss, step)
        ctx.metric("lr", optimizer.hypers["lr"], step)


def _report_valid(
    ctx: Any, model: Any, valid: tuple[Any, Any], eval_rows: int, at: int
) -> tuple[Any, Any]:
    """Evaluate on the valid split and report its loss and accuracy at step ``at``."""
    valid_loss, valid_accuracy = evaluate(model, ctx.loss, *valid, eval_rows)
    ctx.report("valid_loss", valid_loss, at)
    ctx.report("valid_accuracy", valid_accuracy, at)
    return valid_loss, valid_accuracy


#: a final accuracy under this many times chance (1 in n_classes) means training went nowhere
CHANCE_FACTOR = 2.0


def divergence(
    valid_loss: float, valid_accuracy: float, n_classes: int, optimizer: Any, lr: float
) -> str | None:
    """One line for the run's row when training diverged (a non-finite validation
    loss, or a final accuracy near chance), naming the lr and the optimizer's usual
    one when it declares another; None when it learned."""
    import math

    if math.isfinite(valid_loss) and valid_accuracy >= CHANCE_FACTOR / max(n_classes, 1):
        return None
    what = (
        f"valid_loss {valid_loss}"
        if not math.isfinite(valid_loss)
        else f"valid_accuracy {valid_accuracy:.2f} is near chance (1 in {n_classes})"
    )
    usual = getattr(optimizer, "lr", None)
    hint = f"; {optimizer.name} is usually run at lr {usual:g}" if usual and usual != lr else ""
    return f"{DIVERGED_NOTE} {what} at lr {lr:g}{hint}"


def check_combination(components: Any, params: Any) -> str | None:
    """Planning's check: a norm that cannot take one of the CNN's channel counts (groupnorm
    whose groups do not divide them) is refused with the layer and its channel count."""
    norm = components.get("norm")
    check = getattr(norm, "check", None)
    if params.get("model") != "cnn" or check is None:
        return None
    for index, channels in enumerate(CNN_FILTERS, start=1):
        if (problem := check(channels)) is not None:
            return f"{norm.name}.{problem} of layer conv{index} (the cnn's channels: {'-'.join(map(str, CNN_FILTERS))})"
    return None


def run(ctx: Any) -> None:
    """Train the chosen model with the chosen components; record losses, accuracy and speed."""
    p = ctx.params
    check_params(p)
    sizes = layer_sizes(ctx)
    check_fits(strategy(ctx), p["bs"], sizes)
    model = build_model(ctx, sizes)
    stats_every = p["stats_every"]

    def watch(step: int) -> Any:
        return (
            ctx.watch(model, p["model"], step=step)
            if stats_every and step % stats_every == 0
            else None
        )

    fit(ctx, model, watch)


#: what each param may be (0 means "never" for log_every and stats_every, "all rows" for n_train)
#: upper ends: far past what a run on mnist-5k's 5,000 rows needs, short of a value that
#: would only allocate or loop until the run's timeout (``epochs=999999999999``)
BOUNDS: dict[str, Any] = {
    "bs": Bounds(low=1, high=1 << 20, integer=True),
    "lr": positive,
    "epochs": Bounds(low=1, high=10_000, integer=True),
    "hidden": Bounds(low=1, high=1 << 16, integer=True),
    "log_every": Bounds(low=0, integer=True),
    "stats_every": Bounds(low=0, integer=True),
    "n_train": Bounds(low=0, integer=True),
    "model": one_of(*MODELS),
}

#: every category the loop depends on (optimizer, schedule and norm default to
#: sgd, constant and none: the loop before they existed, number for number)
USES: tuple[str, ...] = (
    "init",
    "activation",
    "loss",
    "matmul",
    "dataset",
    "optimizer",
    "schedule",
    "norm",
)

EXPERIMENT = Experiment(
    name="train",
    run=run,
    uses=USES,
    params=PARAMS,
    bounds=BOUNDS,
    check=check_combination,
    headline=("valid_accuracy", "valid_loss", "samples_per_s"),
    description=(
        "The lessons' minibatch loop (bs 64, lr 0.2) on the MLP or the CNN (model) with the chosen optimizer,"
        " schedule and norm: train loss per step, valid loss and accuracy per epoch, samples/s."
    ),
)
