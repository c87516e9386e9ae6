"""torch for the built-in components, imported when a component first runs, not when it is
registered.

Every ``runner`` command loads the plugins: ``runner sweep`` plans from their registrations,
``runner plugins`` lists them. None of that runs torch, yet importing it costs a process
about 1.3 s of CPU at the start and 0.35 s more at the exit. So the built-in component
modules bind these stand-ins instead of importing torch at their top::

    from scratchlab.plugins.lazytorch import F, no_grad, torch

``torch.randn(3)`` inside a function then imports torch on that first call (in the worker
that runs the component) and is the real ``torch.randn`` from then on. What runs when a module
is imported (a base class, a decorator's argument, a default value) must not touch them: an
``nn.Module`` subclass lives in a module the component imports when it builds one, and
:func:`no_grad` stands for ``@torch.no_grad()``.

A third-party plugin has no reason to do this; importing torch at the top of a plugin module
is fine, it only makes every command that loads that plugin slower to start.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

Fn = TypeVar("Fn", bound=Callable[..., Any])


class LazyModule:
    """A stand-in for the module ``name``: the first attribute read imports it, and every read
    is the module's own attribute."""

    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attribute)

    def __repr__(self) -> str:
        loaded = "" if self._module is not None else ", not imported yet"
        return f"<lazy module {self._name!r}{loaded}>"


torch: Any = LazyModule("torch")
nn: Any = LazyModule("torch.nn")
F: Any = LazyModule("torch.nn.functional")
torch_init: Any = LazyModule("torch.nn.init")


def no_grad(fn: Fn) -> Fn:
    """``@torch.no_grad()`` for a module that must not import torch when it is imported: the
    function runs under ``torch.no_grad()``, which is looked up when it is called."""

    @functools.wraps(fn)
    def without_grad(*args: Any, **kwargs: Any) -> Any:
        with torch.no_grad():
            return fn(*args, **kwargs)

    return without_grad  # type: ignore[return-value]
