"""The ``matmul`` experiment: time one strategy per shape and check it (the lessons' 01_matmul).

For each shape ``MxKxN`` in ``shapes``: draw ``a`` (m x k) and ``b`` (k x n)
from the seeded RNG on the run's device and dtype, compare the strategy's
``a @ b`` with a float64 reference and time it.

Recorded per shape (``S`` is the shape text, e.g. ``5x784x10``):

- a timing labelled ``S`` with shape ``S`` and ``flops`` = 2*m*k*n;
- metrics ``S.max_abs_err``, ``S.max_rel_err`` and ``S.correct`` (1 or 0), and
  ``S.gflops`` (flops / median time / 1e9) and ``S.median_s`` (the timing's median).

``max_rel_err`` is normwise (:mod:`scratchlab.plugins.experiments.checks`):
the largest absolute error over the largest absolute reference value.
``correct`` is ``max_rel_err <= rtol`` (default the lessons' 1e-3).

A shape larger than the strategy's declared limit (``Matmul.fits``), or one
whose tensors would not fit in the memory available now (:func:`peak_bytes`
against :mod:`~scratchlab.plugins.experiments.memory`), is not run: nothing
is allocated for it. If every shape is too large, the run is ``skipped`` with the reasons;
if only some are, the others are measured, the run is ``done``, the reasons
are kept as the run's note (its reason field) and ``shapes_skipped`` counts them.
"""

from __future__ import annotations

from typing import Any

from scratchlab.plugins import Experiment, Skip
from scratchlab.plugins.contracts import positive
from scratchlab.plugins.experiments.memory import does_not_fit

#: the lessons' shape: 5 validation images (784 pixels) times a 784x10 weight
DEFAULT_SHAPES = "5x784x10"

PARAMS: dict[str, Any] = {
    "shapes": DEFAULT_SHAPES,
    "min_run_time": 0.2,
    "rtol": 1e-3,
}


def parse_shapes(text: str) -> list[tuple[int, int, int]]:
    """``"5x784x10,64x784x50"`` -> ``[(5, 784, 10), (64, 784, 50)]``, duplicates dropped.

    Raises ``ValueError`` naming the bad entry and the expected form.
    """
    shapes: list[tuple[int, int, int]] = []
    for item in str(text).split(","):
        item = item.strip().lower()
        if not item:
            continue
        parts = item.split("x")
        try:
            dims = tuple(int(p) for p in parts)
        except ValueError:
            dims = ()
        if len(dims) != 3 or min(dims) < 1:
            raise ValueError(
                f"matmul: bad shape {item!r} in shapes={text!r}; expected MxKxN with positive integers,"
                " comma-separated, e.g. 5x784x10,64x784x50"
            )
        if dims not in shapes:
            shapes.append(dims)  # type: ignore[arg-type]
    if not shapes:
        raise ValueError(f"matmul: shapes={text!r} names no shape; e.g. 5x784x10")
    return shapes


def peak_bytes(m: int, k: int, n: int, itemsize: int) -> int:
    """An upper bound on the bytes one shape needs at its peak, in a dtype of ``itemsize`` bytes.

    The inputs ``a``, ``b`` and their float64 copies (made for the reference),
    then while the error is computed: the result, the float64 reference, the
    result in float64, the difference and its absolute value (four float64
    m x n arrays alive at once besides the result).
    """
    inputs = (m * k + k * n) * (itemsize + 8)
    return inputs + m * n * (itemsize + 4 * 8)


def _reason_to_skip(ctx: Any, m: int, k: int, n: int) -> str | None:
    """Why shape ``m x k x n`` is not run (the strategy's limit, then memory), or None."""
    import torch

    reason = ctx.matmul.fits(m, k, n)
    if reason is None:
        itemsize = torch.empty((), dtype=ctx.dtype).element_size()
        reason = does_not_fit(
            peak_bytes(m, k, n, itemsize), ctx.device, what=f"{m}x{k}x{n} in {ctx.dtype}"
        )
    return reason


def run(ctx: Any) -> None:
    """Check and time the chosen strategy on every shape in ``shapes``."""
    import torch

    from scratchlab.plugins.experiments.checks import error_vector

    fn = ctx.matmul.fn
    shapes = parse_shapes(ctx.params["shapes"])
    too_big = {shape: _reason_to_skip(ctx, *shape) for shape in shapes}
    skipped = [reason for reason in too_big.values() if reason is not None]
    if len(skipped) == len(shapes):
        raise Skip("; ".join(skipped))
    for m, k, n in (shape for shape, reason in too_big.items() if reason is None):
        label = f"{m}x{k}x{n}"
        a = torch.randn(m, k, device=ctx.device, dtype=ctx.dtype)
        b = torch.randn(k, n, device=ctx.device, dtype=ctx.dtype)
        reference = a.to(torch.float64) @ b.to(torch.float64)
        abs_err, rel_err = error_vector(fn(a, b), reference).tolist()
        ctx.metric(f"{label}.max_abs_err", abs_err)
        ctx.metric(f"{label}.max_rel_err", rel_err)
        ctx.metric(f"{label}.correct", 1.0 if rel_err <= ctx.params["rtol"] else 0.0)
        flops = 2.0 * m * k * n
        record = ctx.timing(
            label,
            lambda a=a, b=b: fn(a, b),
            shape=label,
            flops=flops,
            min_run_time=ctx.params["min_run_time"],
        )
        ctx.metric(f"{label}.gflops", flops / record.median / 1e9)
        ctx.metric(f"{label}.median_s", record.median)  # a headline column of `runner runs`
        ctx.check_budget()
    if skipped:
        ctx.metric("shapes_skipped", float(len(skipped)))
        ctx.note("skipped: " + "; ".join(skipped))


def shapes_problem(text: str) -> str | None:
    """The bound of ``shapes``: None when :func:`parse_shapes` reads it, else why not."""
    try:
        parse_shapes(text)
    except ValueError:
        return "MxKxN shapes with positive integers, comma-separated, e.g. 5x784x10,64x784x50"
    return None


EXPERIMENT = Experiment(
    name="matmul",
    run=run,
    uses=("matmul",),
    params=PARAMS,
    bounds={"shapes": shapes_problem, "min_run_time": positive, "rtol": positive},
    headline=("*.median_s", "*.gflops"),
    exclusive=True,  # its results are timings: a sweep runs it with nothing beside it
    description=(
        "Time a matmul strategy per shape (MxKxN, comma-separated) and check it against a float64"
        " reference: median/IQR time, GFLOP/s, max relative error; shapes over the strategy's limit are skipped."
    ),
)
