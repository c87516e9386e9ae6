"""The host side of registration: validates, de-duplicates and looks up components."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from scratchlab.plugins import versions
from scratchlab.plugins.types import CATEGORIES, TYPES, Component

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

#: registration hook name for each category
HOOKS: Mapping[str, str] = {
    "matmul": "register_matmuls",
    "init": "register_inits",
    "activation": "register_activations",
    "loss": "register_losses",
    "dataset": "register_datasets",
    "experiment": "register_experiments",
}


class RegistrationError(Exception):
    """A plugin registered something the host cannot accept."""


class UnknownComponentError(LookupError):
    """A name that no plugin registered in that category."""


@dataclass(frozen=True)
class Registered:
    """A component as the host knows it: the object plus where it came from.

    ``version`` is the plugin distribution's version and ``source_hash`` a
    hash of the component's code, so results made by older code can be
    recognised as stale.
    """

    category: str
    component: Component
    plugin: str
    distribution: str | None
    distribution_version: str | None
    source_hash: str

    @property
    def name(self) -> str:
        """The component's registered name."""
        return self.component.name

    @property
    def version(self) -> str:
        """``<distribution version>+<source hash>``, e.g. ``0.1.0+3f2a9c1d``."""
        return f"{self.distribution_version or '0'}+{self.source_hash}"


def source_hash(component: Component) -> str:
    """Hash the source of a component's plugin code (8 hex digits): the modules
    that define its callables and the modules of their package they import
    (see :mod:`scratchlab.plugins.versions`)."""
    return versions.source_hash(component)


def coerce(category: str, item: Any) -> Component:
    """Check that ``item`` is a valid component of ``category`` and return it.

    A plain dict is accepted and turned into the category's type, so that a
    plugin can register without importing the dataclasses.
    """
    cls = TYPES[category]
    if isinstance(item, Mapping):
        fields = {f.name for f in dataclasses.fields(cls) if f.init}
        required = {
            f.name
            for f in dataclasses.fields(cls)
            if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        missing = sorted(required - set(item))
        if missing:
            raise RegistrationError(f"{category} {item.get('name', '?')!r} is missing field(s): {', '.join(missing)}")
        extra = sorted(set(item) - fields)
        if extra:
            raise RegistrationError(f"{category} {item.get('name', '?')!r} has unknown field(s): {', '.join(extra)}")
        try:
            item = cls(**item)
        except (TypeError, ValueError) as exc:
            raise RegistrationError(str(exc)) from exc
    if not isinstance(item, cls):
        raise RegistrationError(
            f"{HOOKS[category]} expects a {cls.__name__} (or a dict of its fields), got {type(item).__name__}"
        )
    if not isinstance(item.name, str) or not NAME_PATTERN.match(item.name):
        raise RegistrationError(
            f"{category} name {item.name!r} is not valid: use lower-case letters, digits, '-', '_' or '.'"
        )
    if not isinstance(item.description, str):
        raise RegistrationError(f"{category} {item.name!r}: description must be a string")
    for field_name in item.CALLABLE_FIELDS:
        if not callable(getattr(item, field_name)):
            raise RegistrationError(f"{category} {item.name!r}: {field_name} must be callable")
    return item


class Registry:
    """Every registered component, by category and name."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Registered]] = {c: {} for c in CATEGORIES}

    def registrar(
        self,
        category: str,
        plugin: str,
        distribution: str | None,
        distribution_version: str | None,
        added: list[Registered],
    ) -> Callable[[Any], None]:
        """Return the ``register`` callback handed to one plugin's hook.

        Each accepted component is also appended to ``added`` so that the
        caller can roll a failed plugin back.
        """

        def register(item: Any) -> None:
            component = coerce(category, item)
            existing = self._items[category].get(component.name)
            if existing is not None:
                raise RegistrationError(
                    f"{category} {component.name!r} is already registered by plugin {existing.plugin!r}"
                )
            entry = Registered(
                category=category,
                component=component,
                plugin=plugin,
                distribution=distribution,
                distribution_version=distribution_version,
                source_hash=source_hash(component),
            )
            self._items[category][component.name] = entry
            added.append(entry)

        register.__doc__ = f"Register one {category} component from plugin {plugin!r}."
        return register

    def remove(self, entries: list[Registered]) -> None:
        """Forget ``entries`` (used to roll back a plugin that failed half-way)."""
        for entry in entries:
            if self._items[entry.category].get(entry.name) is entry:
                del self._items[entry.category][entry.name]

    def names(self, category: str) -> list[str]:
        """Registered names in ``category``, in registration order."""
        return list(self._items[category])

    def get(self, category: str, name: str) -> Registered:
        """Look up one component; the error lists the valid names."""
        try:
            return self._items[category][name]
        except KeyError:
            valid = ", ".join(self._items.get(category, {})) or "none registered"
            raise UnknownComponentError(f"unknown {category} {name!r}; valid: {valid}") from None

    def category(self, category: str) -> list[Registered]:
        """All components of one category, in registration order."""
        return list(self._items[category].values())

    def __iter__(self) -> Iterator[Registered]:
        for category in CATEGORIES:
            yield from self._items[category].values()
