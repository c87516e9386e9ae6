"""``runner/mkl_dispatch.py``: oneMKL's vector-math kernels are chosen in one thread before a run.

The race it prevents (pytorch/pytorch#188792) shows in about one fresh process in ten, too rarely
for a test to catch it cheaply; ``benchmarks/vml_first_call.py`` counts it with and without
the fix. These tests hold what makes the fix whole: it covers every op the installed torch sends
to MKL, every run goes through it before the experiment starts, and it changes nothing a run
can see.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from scratchlab.plugins import Experiment, hookimpl
from scratchlab.runner.mkl_dispatch import VML_OPS, resolve_vml_kernels
from scratchlab.testing import run_components

#: ``IMPLEMENT_VML_MKL(exp, Exp)``, not commented out
VML_LINE = re.compile(r"^IMPLEMENT_VML_MKL\((\w+),", re.MULTILINE)


def test_every_op_the_installed_torch_sends_to_mkl_vml_is_resolved():
    header = Path(torch.__file__).parent / "include" / "ATen" / "cpu" / "vml.h"
    if not header.is_file():
        pytest.skip("this torch install has no C++ headers")
    sent_to_mkl = set(VML_LINE.findall(header.read_text()))
    assert sent_to_mkl, "the header no longer names its MKL ops the way this test reads them"
    assert sent_to_mkl == set(VML_OPS)


def test_every_run_resolves_the_kernels_before_its_experiment_starts():
    class Probe:
        @hookimpl
        def register_experiments(register):
            register(
                Experiment(
                    name="vml-probe",
                    run=lambda ctx: ctx.metric(
                        "resolved", float(resolve_vml_kernels.cache_info().currsize)
                    ),
                    description="whether the kernels were resolved when the run started",
                )
            )

    resolve_vml_kernels.cache_clear()  # as in a fresh worker
    try:
        results = run_components(Probe, experiment="vml-probe")
    finally:
        resolve_vml_kernels()
    results.raise_for_failures()
    assert results.metric("resolved") == 1.0


def test_resolving_changes_nothing_a_run_can_see():
    resolve_vml_kernels.cache_clear()
    rng = torch.get_rng_state()
    settings = (torch.get_default_dtype(), torch.is_grad_enabled(), torch.get_num_threads())
    assert resolve_vml_kernels() is torch.backends.mkl.is_available()
    assert torch.equal(torch.get_rng_state(), rng)
    assert (torch.get_default_dtype(), torch.is_grad_enabled(), torch.get_num_threads()) == settings
