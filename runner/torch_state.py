"""torch's process-wide settings a run may change, as :class:`~scratchlab.runner.process_state.Aspect`
objects: the default dtype, grad mode, anomaly mode, flush-denormal, deterministic algorithms, the
float32 matmul precision and cudnn/cuda flags, the thread count, and the RNG states (python, numpy,
torch), which :mod:`~scratchlab.runner.isolation` puts back after every run. torch is imported
inside functions only.
"""

from __future__ import annotations

import random
from typing import Any

from scratchlab.runner.process_state import Aspect, was


def torch_module() -> Any:
    """torch, imported on first use (``runner --help`` must not pay for it)."""
    import torch

    return torch


def denormals_flushed() -> bool:
    """Whether torch flushes denormal floats to zero now (``torch.set_flush_denormal``)."""
    torch = torch_module()
    # 1e-39 is a float32 denormal: with flush-denormal on, it reads as zero
    return bool((torch.tensor([1e-39]) * 2.0).item() == 0.0)


def _backend_flags() -> tuple:
    torch = torch_module()
    cudnn, cuda = torch.backends.cudnn, torch.backends.cuda
    return (cudnn.enabled, cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32,
            cuda.matmul.allow_tf32, cuda.matmul.allow_fp16_reduced_precision_reduction)  # fmt: skip


def _set_backend_flags(v: tuple) -> None:
    torch = torch_module()
    cudnn, cuda = torch.backends.cudnn, torch.backends.cuda
    cudnn.enabled, cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32 = v[:4]
    cuda.matmul.allow_tf32, cuda.matmul.allow_fp16_reduced_precision_reduction = v[4:]


def _rng_states() -> tuple:
    import numpy as np

    torch = torch_module()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    return random.getstate(), np.random.get_state(), torch.get_rng_state(), cuda


def _set_rng_states(v: tuple) -> None:
    import numpy as np

    torch = torch_module()
    random.setstate(v[0])
    np.random.set_state(v[1])
    torch.set_rng_state(v[2])
    if v[3] is not None:
        torch.cuda.set_rng_state_all(v[3])


def torch_aspects() -> list[Aspect]:
    """torch's settings and the RNG states restored after each run, in the order they are put back."""
    torch = torch_module()
    return [
        Aspect("dtype", torch.get_default_dtype, torch.set_default_dtype, was("the default dtype")),
        Aspect("grad", torch.is_grad_enabled, torch.set_grad_enabled, was("grad mode")),
        Aspect(
            "anomaly",
            lambda: (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()),
            lambda v: torch.autograd.set_detect_anomaly(*v),
            lambda b, a: f"set anomaly detection to {a[0]} (was {b[0]})",
        ),
        Aspect("denormal", denormals_flushed, torch.set_flush_denormal, was("flush-denormal")),
        Aspect(
            "deterministic",
            lambda: (
                torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(),
            ),
            lambda v: torch.use_deterministic_algorithms(v[0], warn_only=v[1]),
            lambda b, a: f"set deterministic algorithms to {a[0]} (was {b[0]})",
        ),
        Aspect(
            "precision",
            torch.get_float32_matmul_precision,
            torch.set_float32_matmul_precision,
            was("the float32 matmul precision"),
        ),
        Aspect(
            "backends", _backend_flags, _set_backend_flags, lambda b, a: "changed cudnn/cuda flags"
        ),
        Aspect(
            "threads", torch.get_num_threads, torch.set_num_threads, was("torch's thread count")
        ),
        Aspect("rng", _rng_states, _set_rng_states, lambda b, a: "", report=False),
    ]
