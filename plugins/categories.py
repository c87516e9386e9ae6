"""Categories are data: the one table of what kinds of components exist.

A :class:`Category` says what a category is: its ``name`` (also its
``--<name>`` sweep option, its column in the results and its ``--where``
name), the component ``type`` a plugin registers, a ``description``, the
``default`` component a run gets when the sweep does not name the category,
and the registration ``hook`` (``register_<name>s`` unless given).
:data:`BUILTIN_CATEGORIES` is the built-in table; every other part of
scratchlab (the sweep's options, planning, storage, ``--where``, the app's
filters and compare views, ``runner plugins``) derives the list of categories
from the registry, so a category a plugin adds works everywhere with no edit
to core.

Adding a category from a plugin (the whole recipe; ``tests/plugins/optimizer_plugin``
is a complete package)::

    from dataclasses import dataclass
    from typing import Any, Callable, ClassVar
    from scratchlab.plugins import Category, Component, Experiment, hookimpl

    @dataclass(frozen=True, kw_only=True)
    class Regularizer(Component):
        penalty: Callable[..., Any]                   # penalty(weights, **params) -> tensor
        CATEGORY: ClassVar[str] = "regularizer"
        CALLABLE_FIELDS: ClassVar[tuple[str, ...]] = ("penalty",)  # checked callable at registration
        PARAM_FIELDS: ClassVar[tuple[str, ...]] = ("penalty",)     # called with the bound params

    @hookimpl
    def register_categories(register):
        register(Category(name="regularizer", type=Regularizer, default="none",
                          description="a penalty added to the loss"))

    @hookimpl
    def register_regularizers(register):              # the category's hook, derived from its name
        register(Regularizer(name="none", penalty=...))
        register(Regularizer(name="l2", penalty=..., params={"weight": 1e-4}))

    @hookimpl
    def register_experiments(register):
        register(Experiment(name="fit", uses=("regularizer", "dataset"), run=...))

``Category(..., hook="register_penalties")`` names the hook when the derived
one (``register_<name>s``) reads badly; components can always come through
the generic ``register_components(register)`` too.

In the experiment, ``ctx.components["regularizer"]`` is the chosen component
with its params bound. ``runner sweep --plugins regularizer`` sweeps it,
``--regularizer none,l2`` narrows it, ``-s l2.weight=1e-3`` sets its
param, ``runner runs --where regularizer=l2`` filters by it.

Instead of the per-category hook, a plugin may implement the generic
``register_components(register)`` hook and call ``register(component)``
(the category is the component type's ``CATEGORY``) or
``register(dict_of_fields, category="regularizer")``.

How loading works: every plugin is imported first and its
``register_categories`` hook called; then a hookspec is added for each new
category's hook (pluggy checks an implementation against its spec only once
the spec exists, so a plugin may implement ``register_regularizers`` before or
after the plugin that adds ``regularizer`` is loaded); then every plugin's
components are collected. A category whose name is taken, or whose type is
not a :class:`~scratchlab.plugins.types.Component` subclass with a matching
``CATEGORY``, fails the plugin that registers it, with a one-line reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from scratchlab.plugins.types import Activation, Component, Dataset, Experiment, Init, Loss, Matmul

CATEGORY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: names a category cannot take: they are run columns, sweep options or CLI words
RESERVED_NAMES = frozenset(
    {
        "experiment",
        "experiments",
        "plugin",
        "plugins",
        "device",
        "devices",
        "dtype",
        "seed",
        "repeat",
        "status",
        "key",
        "name",
        "config",
        "set",
        "threads",
        "workers",
        "scheduler",
        "timeout",
        "resume",
        "sweep",
        "run",
        "run_id",
        "sweep_id",
        "reason",
        "help",
        "json",
        "quiet",
        "data_path",
    }
)


class CategoryError(ValueError):
    """A category definition the host cannot accept; the message is one line."""


@dataclass(frozen=True)
class Category:
    """One kind of component.

    ``type`` is the component class plugins register (a frozen dataclass
    subclassing :class:`~scratchlab.plugins.types.Component` whose ``CATEGORY``
    is ``name``); ``default`` is the component a run uses when the sweep does
    not choose (None: a sweep that needs the category must choose one);
    ``hook`` is the registration hook, ``register_<name>s`` when not given.
    """

    name: str
    type: type[Component]
    description: str = ""
    default: str | None = None
    hook: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not CATEGORY_NAME.match(self.name):
            raise CategoryError(
                f"category name {self.name!r} is not valid: use lower-case letters, digits and '_', starting with a letter"
            )
        if not (isinstance(self.type, type) and issubclass(self.type, Component)):
            raise CategoryError(
                f"category {self.name!r}: type must be a Component subclass, got {self.type!r}"
            )
        if self.name != self.type.CATEGORY:
            raise CategoryError(
                f"category {self.name!r}: its type {self.type.__name__} has CATEGORY = {self.type.CATEGORY!r};"
                f" set CATEGORY: ClassVar[str] = {self.name!r}"
            )
        if not self.hook:
            object.__setattr__(self, "hook", f"register_{plural(self.name)}")

    @property
    def is_component(self) -> bool:
        """True for a category experiments can use (every category but ``experiment``)."""
        return self.name != "experiment"


def plural(name: str) -> str:
    """``optimizer`` -> ``optimizers``, ``loss`` -> ``losses``, ``matmul`` -> ``matmuls``."""
    return f"{name}es" if name.endswith(("s", "x", "ch", "sh")) else f"{name}s"


#: The built-in categories, in the order they are shown and planned.
BUILTIN_CATEGORIES: tuple[Category, ...] = (
    Category(
        "matmul",
        Matmul,
        "fn(a, b) -> a @ b for 2-D tensors, with the largest problem it is fit for",
        "torch",
    ),
    Category(
        "init",
        Init,
        "fills a weight tensor in place from the gain of the activation that follows",
        "kaiming-normal",
    ),
    Category(
        "activation",
        Activation,
        "a nonlinearity with an optional hand-written backward and its init gain",
        "relu",
    ),
    Category("loss", Loss, "a loss with an optional hand-written gradient", "cross-entropy"),
    Category("dataset", Dataset, "loads train/valid splits as tensors", "mnist-5k"),
    Category("experiment", Experiment, "a procedure that uses some categories and records results"),
)


def check_new(category: Any, known: dict[str, Category]) -> Category:
    """``category`` if it can join ``known`` (a :class:`Category`), else CategoryError."""
    if not isinstance(category, Category):
        raise CategoryError(
            f"register_categories expects a Category, got {type(category).__name__}"
        )
    if category.name in known:
        raise CategoryError(f"category {category.name!r} already exists")
    if category.name in RESERVED_NAMES and category not in BUILTIN_CATEGORIES:
        raise CategoryError(
            f"category name {category.name!r} is reserved (a run column or sweep option)"
        )
    clash = next((c.name for c in known.values() if c.hook == category.hook), None)
    if clash is not None:
        raise CategoryError(
            f"category {category.name!r}: hook {category.hook} is already category {clash!r}'s"
        )
    return category


__all__ = ["BUILTIN_CATEGORIES", "Category", "CategoryError", "check_new", "plural"]
