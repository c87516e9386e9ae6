"""The ``telemetry`` experiment: 06_cuda_cnn_hooks_init's hooks while the CNN trains.

The ``train`` loop (same components, same params, the CNN by default) with
forward hooks on every step (or every ``every``-th):

- each layer's output statistics (mean, std, min, max, fraction zero) per step,
  as ``activation_stats`` rows (layers numbered from 1: ``resize``, ``conv1``..);
- a histogram of each conv layer's output per step, the lessons' 40 bins over
  [-7, 7], one ``activation_histograms`` row per layer and step with the counts
  as JSON, and the fraction of values near zero: the lessons' ``get_min``, the
  bin holding zero and its two neighbours ([-0.35, 0.7)) over the values inside
  the histogram's range;
- metrics ``frac_near_zero.<layer>`` at the last step and ``frac_near_zero``, their
  mean over the conv layers: the headline; beside them ``frac_out_of_range.<layer>``
  and ``frac_out_of_range``, the fraction of all values outside [-7, 7] (or not
  finite), which the histogram and so the near-zero fraction do not see. The lessons' finding is that with
  PyTorch's default init most activations sit near zero (dead units), and
  that Kaiming init with a generalised ReLU keeps far fewer there.

Size, measured for the default run (mnist-5k, bs 64, one epoch = 63 steps x 4 conv
layers): 252 histogram rows holding 32 kB of counts as compact JSON, 48 KiB of SQLite
table pages; the per-step statistics of the 8 layers add 504 ``activation_stats`` rows
(32 KiB, plus 12 KiB of index): about 100 KiB per run in all.
"""

from __future__ import annotations

import contextlib
from typing import Any

from scratchlab.plugins import Experiment
from scratchlab.plugins.contracts import Bounds, finite, positive_int

from . import train

#: train's params with the CNN as the model, plus the histogram's binning and cadence
PARAMS: dict[str, Any] = {
    **train.PARAMS,
    "model": "cnn",
    "log_every": 10,
    "every": 1,
    "hist_lo": -7.0,
    "hist_hi": 7.0,
    "bins": 40,
}


def conv_names(model: Any) -> list[str]:
    """Names of the model's layers whose outputs are binned: the CNN's conv layers, or the MLP's layers."""
    from scratchlab.plugins.experiments.models import ConvLayer

    names = [name for name, child in model.named_children() if isinstance(child, ConvLayer)]
    return names or [name for name, _ in model.named_children()]


@contextlib.contextmanager
def near_zero_metrics(ctx: Any, model: Any, names: list[str], step: int, binning: Any) -> Any:
    """Record ``frac_near_zero.<layer>`` and ``frac_out_of_range.<layer>`` of this forward pass
    for each of ``names``, and the mean of each over them."""
    from scratchlab.plugins.histograms import histogram_vector

    fractions: dict[str, list[Any]] = {"frac_near_zero": [], "frac_out_of_range": []}
    handles = []

    def hook_for(name: str) -> Any:
        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            vector = histogram_vector(output, binning)
            for metric, value in zip(fractions, (vector[-2], vector[-1]), strict=True):
                fractions[metric].append(value)
                ctx.metric(f"{metric}.{name}", value, step)

        return hook

    children = dict(model.named_children())
    try:
        handles = [children[name].register_forward_hook(hook_for(name)) for name in names]
        yield
    finally:
        for handle in handles:
            handle.remove()
    for metric, values in fractions.items():
        if values:
            ctx.metric(metric, sum(values) / len(values), step)


def run(ctx: Any) -> None:
    """Train like ``train`` and record per-step statistics and histograms of every layer."""
    from scratchlab.plugins.histograms import Binning

    p = ctx.params
    train.check_params(p)
    if p["every"] < 1:
        raise ValueError(f"telemetry: every must be >= 1, got {p['every']}")
    binning = Binning(lo=p["hist_lo"], hi=p["hist_hi"], bins=p["bins"])
    sizes = train.layer_sizes(ctx)
    train.check_fits(train.strategy(ctx), p["bs"], sizes)
    model = train.build_model(ctx, sizes)
    names = conv_names(model)
    last = train.steps_per_epoch(ctx) * p["epochs"] - 1

    def watch(step: int) -> Any:
        stack = contextlib.ExitStack()
        if step % p["every"] == 0 or step == last:
            stack.enter_context(ctx.watch(model, p["model"], step=step))
            stack.enter_context(
                ctx.histograms(model, p["model"], step=step, binning=binning, only=names)
            )
        if step == last:
            stack.enter_context(near_zero_metrics(ctx, model, names, step, binning))
        return stack

    train.fit(ctx, model, watch)


EXPERIMENT = Experiment(
    name="telemetry",
    run=run,
    # every category of train but matmul: the strategy does not change what the hooks see,
    # and a sweep over matmuls should not train the CNN once per strategy
    uses=tuple(c for c in train.USES if c != "matmul"),
    params=PARAMS,
    bounds={
        **train.BOUNDS,
        "every": positive_int,
        "hist_lo": finite,
        "hist_hi": finite,
        "bins": Bounds(low=3, high=10_000, integer=True),
    },
    check=train.check_combination,
    headline=("frac_near_zero", "frac_near_zero.*", "frac_out_of_range", "valid_accuracy"),
    description=(
        "06's hooks while the CNN trains: per step and layer the mean, std and a 40-bin histogram"
        " of the activations, and the fraction near zero (final fractions as metrics)."
    ),
)
