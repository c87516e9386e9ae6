"""Built-in weight initialisations, from the lessons' 02_fully_connected,
02a_why_sqrt5 and 02b_initializing.

Every init is ``fn(weight, gain, *, mode="fan_in")`` and fills ``weight`` in
place without recording autograd history. ``gain`` is the gain of the
activation that follows the layer (:func:`gain` for (leaky) ReLU). Fans are
computed from the weight's shape with the receptive field counted, exactly as
``torch.nn.init._calculate_fan_in_and_fan_out`` does, so PyTorch-layout linear
``(out, in)`` and conv ``(out, in, kh, kw)`` weights work alike.

The own versions (``kaiming-normal``, ``kaiming-uniform``, ``xavier``) draw
from the same RNG calls as their ``torch.nn.init`` counterparts, so with the
same seed they give the same numbers; the tests check that.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from scratchlab.plugins import Init, hookimpl
from scratchlab.plugins.lazytorch import no_grad, torch, torch_init

MODES: tuple[str, ...] = ("fan_in", "fan_out")

#: params of the inits whose scale depends on the fan direction
MODE_PARAMS: dict[str, str] = {"mode": "fan_in"}


def gain(slope: float = 0.0) -> float:
    """The gain ``sqrt(2 / (1 + slope**2))`` for a (leaky) ReLU with negative slope ``slope``.

    ``gain(0)`` is ``sqrt(2)`` (ReLU); ``gain(sqrt(5))`` is ``sqrt(1/3)``, the
    factor hidden in PyTorch's default Linear/Conv init (02a_why_sqrt5).
    """
    return math.sqrt(2.0 / (1 + slope**2))


def fans(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape``, receptive field counted.

    ``shape[1] * receptive`` and ``shape[0] * receptive``, where ``receptive`` is
    the product of the dimensions after the first two; a Conv2d(1, 32, 5)
    weight ``(32, 1, 5, 5)`` gives ``(25, 800)``. Raises ``ValueError`` for
    fewer than two dimensions, as PyTorch does.
    """
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(f"fans need a weight with at least 2 dimensions, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def fan(shape: Sequence[int], mode: str) -> int:
    """The fan that ``mode`` (``"fan_in"`` or ``"fan_out"``) selects for ``shape``."""
    if mode not in MODES:
        raise ValueError(f"init mode must be one of {', '.join(MODES)}, got {mode!r}")
    fan_in, fan_out = fans(shape)
    return fan_in if mode == "fan_in" else fan_out


@no_grad
def init_randn(weight: torch.Tensor, gain: float, *, mode: str = "fan_in") -> None:
    """Standard normal, std 1, no scaling (the lessons' first ``torch.randn``); gain and mode ignored."""
    weight.normal_(0.0, 1.0)


@no_grad
def init_simple(weight: torch.Tensor, gain: float, *, mode: str = "fan_in") -> None:
    """Normal with std ``1/sqrt(fan_in)`` (the lessons' ``randn(m, nh)/math.sqrt(m)``); gain ignored."""
    weight.normal_(0.0, 1.0 / math.sqrt(fan(weight.shape, "fan_in")))


@no_grad
def init_kaiming_normal(weight: torch.Tensor, gain: float, *, mode: str = "fan_in") -> None:
    """Own Kaiming/He normal: std ``gain / sqrt(fan)``, fan chosen by ``mode``."""
    weight.normal_(0.0, gain / math.sqrt(fan(weight.shape, mode)))


@no_grad
def init_kaiming_uniform(weight: torch.Tensor, gain: float, *, mode: str = "fan_in") -> None:
    """Own Kaiming uniform, the lessons' ``kaiming2``: bound ``sqrt(3) * gain / sqrt(fan)``."""
    std = gain / math.sqrt(fan(weight.shape, mode))
    # a uniform on [-b, b] has std b/sqrt(3)
    bound = math.sqrt(3.0) * std
    weight.uniform_(-bound, bound)


@no_grad
def init_torch_kaiming_normal(weight: torch.Tensor, gain: float, *, mode: str = "fan_in") -> None:
    """``torch.nn.init.kaiming_normal_`` scaled to ``gain``.

    PyTorch's function takes a nonlinearity name rather than a gain, and no
    name gives tanh's 5/3; so draw with its linear gain (std ``1/sqrt(fan)``)
    and scale by ``gain``, which is the same distribution.
    """
    fan(weight.shape, mode)  # same mode check and message as the own inits
    torch_init.kaiming_normal_(weight, mode=mode, nonlinearity="linear")
    weight.mul_(gain)


@no_grad
def init_torch_default(weight: torch.Tensor, gain: float, *, mode: str = "fan_in") -> None:
    """What ``nn.Linear``/``nn.Conv2d`` reset does: ``kaiming_uniform_(a=sqrt(5))``.

    Gain and mode are ignored on purpose: this measures PyTorch's default,
    whose std is ``1/sqrt(3 * fan_in)`` whatever activation follows.
    """
    torch_init.kaiming_uniform_(weight, a=math.sqrt(5))


@no_grad
def init_xavier(weight: torch.Tensor, gain: float, *, mode: str = "fan_in") -> None:
    """Own Glorot/Xavier uniform: bound ``gain * sqrt(6 / (fan_in + fan_out))``; mode ignored."""
    fan_in, fan_out = fans(weight.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    weight.uniform_(-bound, bound)


@dataclass(frozen=True, kw_only=True)
class DataInit(Init):
    """An init that also needs the built model and a batch of data (LSUV).

    ``fn`` draws the weights as any init does (so code that only knows the
    ``Init`` contract still gets a sensible model); a model builder that has data
    then calls ``calibrate(model, xb, layers)``, where ``layers`` are the modules
    whose outputs should be calibrated, in order, each with a ``weight`` tensor to
    scale and a settable ``bias`` to shift.
    """

    calibrate: Callable[..., Any]

    CALLABLE_FIELDS: ClassVar[tuple[str, ...]] = ("fn", "calibrate")


#: LSUV's stopping rule: |mean| and |std - 1| below this (07a_lsuv's 1e-3)
LSUV_TOL = 1e-3
#: most shift-and-rescale rounds per layer: a layer whose std does not react
#: (a norm after it) must not loop forever
LSUV_MAX_ITER = 30


@no_grad
def lsuv(model: Any, xb: torch.Tensor, layers: Sequence[Any]) -> list[tuple[float, float]]:
    """07a_lsuv's ``lsuv_module`` on each of ``layers`` in order; returns each one's final (mean, std).

    For each layer, with a forward hook on its output: shift ``bias`` by the
    output's mean until ``|mean| < 1e-3``, then divide ``weight`` by the output's
    std until ``|std - 1| < 1e-3``. Rescaling moves the mean again, which the
    notebook leaves (its printed means are not 0); here the two phases
    alternate until both hold, at most :data:`LSUV_MAX_ITER` passes in all per layer.
    """
    seen: dict[str, float] = {}

    def hook(_module: Any, _inputs: Any, output: torch.Tensor) -> None:
        std, mean = torch.std_mean(output.detach().float())
        seen["mean"], seen["std"] = float(mean), float(std)

    def settled() -> bool:
        return abs(seen["mean"]) <= LSUV_TOL and (
            abs(seen["std"] - 1) <= LSUV_TOL or not seen["std"] > 0
        )

    # in the model's own mode, as the lessons: a norm's running statistics see these passes
    results = []
    for layer in layers:
        handle = layer.register_forward_hook(hook)
        try:
            model(xb)
            for _ in range(LSUV_MAX_ITER):
                if settled():
                    break
                if abs(seen["mean"]) > LSUV_TOL:
                    layer.bias -= seen["mean"]
                    model(xb)
                if seen["std"] > 0 and abs(seen["std"] - 1) > LSUV_TOL:
                    layer.weight.div_(seen["std"])
                    model(xb)
        finally:
            handle.remove()
        results.append((seen["mean"], seen["std"]))
    return results


#: name -> (function, depends on mode, description)
INITS: dict[str, tuple[Callable[..., None], bool, str]] = {
    "randn": (init_randn, False, "Standard normal, std 1, unscaled (gain and mode ignored)."),
    "simple": (init_simple, False, "Normal with std 1/sqrt(fan_in) (gain and mode ignored)."),
    "kaiming-normal": (init_kaiming_normal, True, "Own Kaiming normal: std gain/sqrt(fan)."),
    "kaiming-uniform": (
        init_kaiming_uniform,
        True,
        "Own Kaiming uniform (the lessons' kaiming2): bound sqrt(3)*gain/sqrt(fan).",
    ),
    "torch-kaiming-normal": (
        init_torch_kaiming_normal,
        True,
        "torch.nn.init.kaiming_normal_ (linear) scaled by the gain.",
    ),
    "torch-default": (
        init_torch_default,
        False,
        "PyTorch's Linear/Conv2d reset, kaiming_uniform_(a=sqrt(5)); gain and mode ignored.",
    ),
    "xavier": (
        init_xavier,
        False,
        "Own Glorot/Xavier uniform: bound gain*sqrt(6/(fan_in+fan_out)) (mode ignored).",
    ),
}


@hookimpl
def register_inits(register):
    """Register the lessons' initialisations and PyTorch's."""
    for name, (fn, uses_mode, description) in INITS.items():
        register(
            Init(name=name, fn=fn, params=MODE_PARAMS if uses_mode else {}, description=description)
        )
    register(
        DataInit(
            name="lsuv",
            fn=init_kaiming_normal,
            calibrate=lsuv,
            params=MODE_PARAMS,
            description="LSUV (07a_lsuv): Kaiming normal, then each layer rescaled to unit std on a batch.",
        )
    )
