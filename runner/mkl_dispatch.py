"""oneMKL's vector-math kernels chosen in one thread, before a process's first run.

On the CPU, torch hands float32 and float64 unary ops on contiguous tensors (``exp``, ``log``,
``sqrt``, ``tanh``, ...) to MKL's vector math (VML): each intra-op thread calls the VML function
on its own chunk of at least 2,048 elements. oneMKL picks each VML function's kernel on that
function's first call in the process. When the first call runs on several threads at once, one
thread can run a low-accuracy kernel on its chunk for that one call, although high accuracy was
asked for. The next call is right again. This is pytorch/pytorch#188792; it affects oneMKL
2024.2, the version torch 2.13 ships.

For us, this meant that a worker's first run could store other numbers than the same run key
stored anywhere else. It was measured here with a fresh process per run:

- the first ``exp`` of 10,000 floats had half its values off by up to 4e-5 in 14 of 100
  processes;
- the ``gradcheck`` experiment (relu, cross-entropy) stored ``max_rel_err`` 1.4e-5 instead of
  2.4e-7, in 3 of 30 runs.

:func:`resolve_vml_kernels` calls every such function once, on one element (one thread), for
both precisions, so oneMKL has chosen each kernel before any run's op can reach it from several
threads. :func:`scratchlab.runner.run_one.run_experiment` calls it before every run; after the
first call in a process it costs nothing. ``benchmarks/vml_first_call.py`` counts the
differing results with and without it.
"""

from __future__ import annotations

import functools

#: the torch ops ATen sends to MKL VML, by torch name: the ``IMPLEMENT_VML_MKL`` lines of
#: ``ATen/cpu/vml.h`` (``Ln`` is ``log``). A test reads the installed torch's header and checks
#: this list against it.
VML_OPS: tuple[str, ...] = (
    "acos",
    "asin",
    "atan",
    "cos",
    "erf",
    "erfc",
    "erfinv",
    "exp",
    "log",
    "log10",
    "log2",
    "sin",
    "sqrt",
    "tan",
    "tanh",
    "trunc",
)


@functools.cache
def resolve_vml_kernels() -> bool:
    """Call each op of :data:`VML_OPS` once, on a one-element float32 and float64 tensor, so that
    oneMKL chooses every VML kernel in this thread alone. Returns whether torch uses MKL (without
    it there is nothing to resolve). Only the first call in a process does anything, and it
    changes no state a run can see: no RNG draw, no setting, no default dtype."""
    import torch

    if not torch.backends.mkl.is_available():
        return False
    # one element: an intra-op parallel loop below its grain size runs in the calling thread
    for dtype in (torch.float32, torch.float64):
        value = torch.full((1,), 0.5, dtype=dtype)
        for op in VML_OPS:
            getattr(torch, op)(value)
    return True
