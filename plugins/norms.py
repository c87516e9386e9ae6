"""The ``norm`` category and its built-in components, from the lessons' 07_batchnorm.

The layers themselves (``nn.Module`` classes written from scratch, and how they depart from
the notebook so that the tests can compare them exactly with ``torch.nn``) are in
:mod:`scratchlab.plugins.norm_layers`; each builder here imports it when it builds one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from scratchlab.plugins import hookimpl
from scratchlab.plugins.contracts import in_range, positive, positive_int
from scratchlab.plugins.lazytorch import nn
from scratchlab.plugins.training_types import NORM, Norm


def groups_problem(nf: int, *, groups: int = 4, **_: Any) -> str | None:
    """Why ``groups`` groups cannot split ``nf`` channels (``nn.GroupNorm``'s rule: they
    must divide them), or None."""
    if groups >= 1 and nf % groups == 0:
        return None
    return f"groups={groups} does not divide {nf} channels"


def no_norm(nf: int) -> nn.Module:
    """No normalisation."""
    return nn.Identity()


def batchnorm(nf: int, *, mom: float = 0.1, eps: float = 1e-5) -> nn.Module:
    """A :class:`~scratchlab.plugins.norm_layers.BatchNorm` of ``nf`` channels."""
    from scratchlab.plugins.norm_layers import BatchNorm

    return BatchNorm(nf, mom=mom, eps=eps)


def layernorm(nf: int, *, eps: float = 1e-5) -> nn.Module:
    """A :class:`~scratchlab.plugins.norm_layers.LayerNorm` (``nf`` unused: its mult and add
    are scalars)."""
    from scratchlab.plugins.norm_layers import LayerNorm

    return LayerNorm(nf, eps=eps)


def instancenorm(nf: int, *, eps: float = 1e-5) -> nn.Module:
    """An :class:`~scratchlab.plugins.norm_layers.InstanceNorm` of ``nf`` channels."""
    from scratchlab.plugins.norm_layers import InstanceNorm

    return InstanceNorm(nf, eps=eps)


def groupnorm(nf: int, *, groups: int = 4, eps: float = 1e-5) -> nn.Module:
    """A :class:`~scratchlab.plugins.norm_layers.GroupNorm` of ``nf`` channels in ``groups``
    groups."""
    from scratchlab.plugins.norm_layers import GroupNorm

    return GroupNorm(nf, groups=groups, eps=eps)


def running_batchnorm(nf: int, *, mom: float = 0.1, eps: float = 1e-5) -> nn.Module:
    """A :class:`~scratchlab.plugins.norm_layers.RunningBatchNorm` of ``nf`` channels."""
    from scratchlab.plugins.norm_layers import RunningBatchNorm

    return RunningBatchNorm(nf, mom=mom, eps=eps)


#: the norms that cannot take every channel count: name -> check(nf, **params)
CHECKS: Mapping[str, Callable[..., str | None]] = {"groupnorm": groups_problem}

#: name -> (build, shifts, params with defaults, description)
NORMS: Mapping[str, tuple[Callable[..., nn.Module], bool, dict[str, Any], str]] = {
    "none": (no_norm, False, {}, "No normalisation (the convolutions keep their bias)."),
    "batchnorm": (
        batchnorm,
        True,
        {"mom": 0.1, "eps": 1e-5},
        "BatchNorm from scratch (= nn.BatchNorm2d).",
    ),
    "layernorm": (
        layernorm,
        True,
        {"eps": 1e-5},
        "LayerNorm over channels and pixels, scalar mult and add.",
    ),
    "instancenorm": (
        instancenorm,
        True,
        {"eps": 1e-5},
        "InstanceNorm (= nn.InstanceNorm2d affine).",
    ),
    "groupnorm": (
        groupnorm,
        True,
        {"groups": 4, "eps": 1e-5},
        "GroupNorm from scratch (= nn.GroupNorm); groups must divide every layer's channels.",
    ),
    "running-batchnorm": (
        running_batchnorm,
        True,
        {"mom": 0.1, "eps": 1e-5},
        "The lessons' RunningBatchNorm: running debiased statistics in training too, for small batches.",
    ),
}


@hookimpl
def register_categories(register):
    """Add the ``norm`` category (default ``none``)."""
    register(NORM)


@hookimpl
def register_norms(register):
    """Register none, batchnorm, layernorm, instancenorm, groupnorm and running-batchnorm."""
    for norm in norms():
        register(norm)


#: what each norm param may be
BOUNDS: Mapping[str, Any] = {"mom": in_range(0, 1), "eps": positive, "groups": positive_int}


def norms() -> list[Norm]:
    """The built-in norm components."""
    return [
        Norm(
            name=n,
            build=build,
            shifts=shifts,
            params=p,
            description=d,
            bounds={k: BOUNDS[k] for k in p},
            check=CHECKS.get(n),
        )
        for n, (build, shifts, p, d) in NORMS.items()
    ]
