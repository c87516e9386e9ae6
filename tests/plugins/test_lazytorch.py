"""The stand-ins the built-in components use for torch: nothing imported until first use,
then the real module's attributes."""

from __future__ import annotations

import subprocess
import sys

import torch

from scratchlab.plugins.lazytorch import LazyModule, no_grad
from scratchlab.plugins.lazytorch import torch as lazy

IMPORT_ALL_BUILT_INS = """
import sys
import scratchlab.plugins.activations, scratchlab.plugins.inits, scratchlab.plugins.losses
import scratchlab.plugins.matmul, scratchlab.plugins.norms, scratchlab.plugins.optimizers
import scratchlab.plugins.datasets.common
from scratchlab.plugins.lazytorch import torch
print("torch" in sys.modules, repr(torch))
torch.zeros(1)
print("torch" in sys.modules, repr(torch))
"""


def test_importing_the_built_in_components_imports_torch_only_when_one_runs():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL_BUILT_INS], capture_output=True, text=True, check=True
    )
    before, after = result.stdout.splitlines()
    assert before == "False <lazy module 'torch', not imported yet>"
    assert after == "True <lazy module 'torch'>"


def test_a_stand_in_reads_the_real_modules_attributes():
    assert lazy.matmul is torch.matmul and lazy.Tensor is torch.Tensor
    assert LazyModule("torch.nn.functional").relu is torch.nn.functional.relu


def test_no_grad_runs_the_function_without_grad_and_keeps_its_name():
    weight = torch.nn.Parameter(torch.zeros(3))

    @no_grad
    def fill(w):
        """Fill with ones."""
        w.fill_(1.0)  # in place on a leaf that requires grad: an error under grad mode
        return torch.is_grad_enabled()

    assert fill(weight) is False and torch.is_grad_enabled()
    assert weight.tolist() == [1.0, 1.0, 1.0]
    assert fill.__name__ == "fill" and fill.__doc__ == "Fill with ones."
