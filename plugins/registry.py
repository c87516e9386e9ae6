"""The host side of registration: validates, de-duplicates and looks up
components, and holds the categories (built-in and plugin-added) they belong to.

Everything that needs the list of categories asks a :class:`Registry`:
:meth:`Registry.categories` (the :class:`~scratchlab.plugins.categories.Category`
table, built-ins first), :meth:`Registry.component_categories` (the names an
experiment may use), :meth:`Registry.default`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from scratchlab.plugins import versions
from scratchlab.plugins.categories import BUILTIN_CATEGORIES, Category, check_new
from scratchlab.plugins.contracts import check_bounds
from scratchlab.plugins.types import Component, Experiment

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

#: registration hook name of each built-in category (plugin categories carry their own: ``Category.hook``)
HOOKS: Mapping[str, str] = {c.name: c.hook for c in BUILTIN_CATEGORIES}


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
    #: registered by one of scratchlab's own plugins
    builtin: bool = False

    @functools.cached_property
    def source_hash(self) -> str:
        """The hash of the component's code (:func:`source_hash`), computed when first asked:
        hashing parses every module a component reaches (about 0.3 s for the built-ins), and
        a worker process, ``runner runs`` or a sweep over a few components asks for few or
        none of them."""
        return source_hash(self.component)

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


def coerce(category: Category, item: Any) -> Component:
    """Check that ``item`` is a valid component of ``category`` and return it.

    A plain dict is accepted and turned into the category's type, so that a
    plugin can register without importing the dataclasses.
    """
    cls, name = category.type, category.name
    if isinstance(item, Mapping):
        fields = {f.name for f in dataclasses.fields(cls) if f.init}
        required = {
            f.name
            for f in dataclasses.fields(cls)
            if f.init
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        }
        missing = sorted(required - set(item))
        if missing:
            raise RegistrationError(
                f"{name} {item.get('name', '?')!r} is missing field(s): {', '.join(missing)}"
            )
        extra = sorted(set(item) - fields)
        if extra:
            raise RegistrationError(
                f"{name} {item.get('name', '?')!r} has unknown field(s): {', '.join(extra)}"
            )
        try:
            item = cls(**item)
        except (TypeError, ValueError) as exc:
            raise RegistrationError(str(exc)) from exc
    if not isinstance(item, cls):
        raise RegistrationError(
            f"{category.hook} expects a {cls.__name__} (or a dict of its fields), got {type(item).__name__}"
        )
    if not isinstance(item.name, str) or not NAME_PATTERN.match(item.name):
        raise RegistrationError(
            f"{name} name {item.name!r} is not valid: use lower-case letters, digits, '-', '_' or '.'"
        )
    if not isinstance(item.description, str):
        raise RegistrationError(f"{name} {item.name!r}: description must be a string")
    for field_name in item.CALLABLE_FIELDS:
        if not callable(getattr(item, field_name)):
            raise RegistrationError(f"{name} {item.name!r}: {field_name} must be callable")
    if (bad := check_bounds(item, item.params)) is not None:
        param, value, wanted = bad
        raise RegistrationError(
            f"{name} {item.name!r}: the default {param}={value!r} is outside its bounds ({wanted})"
        )
    return item


class Registry:
    """Every category and every registered component, by category and name."""

    def __init__(self, categories: tuple[Category, ...] = BUILTIN_CATEGORIES) -> None:
        self._categories: dict[str, Category] = {}
        self._owners: dict[str, str] = {}
        self._items: dict[str, dict[str, Registered]] = {}
        #: plugin name -> why it failed to load (set by the plugin manager), for lookup errors
        self.failures: dict[str, str] = {}
        #: (category, name) -> the failed plugin whose rolled-back registration had it
        self.lost: dict[tuple[str, str], str] = {}
        for category in categories:
            self.add_category(category, "scratchlab")

    # -- categories -------------------------------------------------------------

    def add_category(self, category: Any, plugin: str) -> Category:
        """Add a category (from ``plugin``'s ``register_categories``); CategoryError if it clashes."""
        category = check_new(category, self._categories)
        self._categories[category.name] = category
        self._owners[category.name] = plugin
        self._items[category.name] = {}
        return category

    def remove_category(self, name: str) -> None:
        """Forget a category and its components (a plugin that failed after adding it)."""
        self._categories.pop(name, None)
        self._owners.pop(name, None)
        self._items.pop(name, None)

    def categories(self) -> list[Category]:
        """Every category, built-ins first, then in the order plugins added them."""
        return list(self._categories.values())

    def category_info(self, name: str) -> Category:
        """The :class:`Category` called ``name``; UnknownComponentError listing the known ones."""
        try:
            return self._categories[name]
        except KeyError:
            raise UnknownComponentError(
                f"unknown category {name!r}; valid: {', '.join(self._categories)}"
            ) from None

    def category_owner(self, name: str) -> str:
        """The plugin that added category ``name`` (``scratchlab`` for a built-in)."""
        return self._owners[name]

    def component_categories(self) -> tuple[str, ...]:
        """Names of the categories an experiment can use (all but ``experiment``), in order."""
        return tuple(c.name for c in self._categories.values() if c.is_component)

    def default(self, category: str) -> str | None:
        """The component a run gets when the sweep does not choose one in ``category``."""
        return self.category_info(category).default

    # -- components -------------------------------------------------------------

    def registrar(
        self,
        category: str | None,
        plugin: str,
        distribution: str | None,
        distribution_version: str | None,
        added: list[Registered],
        warn: Callable[[str], None] | None = None,
        builtin: bool = False,
    ) -> Callable[..., None]:
        """Return the ``register`` callback handed to one plugin's hook.

        ``category`` None makes the generic callback of ``register_components``:
        the category is the item's type's ``CATEGORY`` (or ``category=`` for a
        dict). A name another plugin already registered in that category is
        dropped with a warning naming both plugins (through ``warn``; the rest
        of the plugin stays); any other problem raises RegistrationError. Each
        accepted component is also appended to ``added`` so that the caller can
        roll a failed plugin back.
        """

        def register(item: Any, category: str | None = category) -> None:
            info = self._category_of(item, category)
            category = info.name
            component = coerce(info, item)
            if isinstance(component, Experiment):
                self._check_uses(component)
            existing = self._items[category].get(component.name)
            if existing is not None:
                message = (
                    f"{category} {component.name!r} from plugin {plugin!r} is dropped: plugin "
                    f"{existing.plugin!r} already registered that name"
                )
                if warn is None:
                    raise RegistrationError(message)
                warn(message)
                return
            entry = Registered(
                category=category,
                component=component,
                plugin=plugin,
                distribution=distribution,
                distribution_version=distribution_version,
                builtin=builtin,
            )
            self._items[category][component.name] = entry
            added.append(entry)

        register.__doc__ = f"Register one {category or 'any'} component from plugin {plugin!r}."
        return register

    def _category_of(self, item: Any, category: str | None) -> Category:
        """The category ``item`` is registered in: ``category``, else its type's ``CATEGORY``."""
        if category is None:
            category = getattr(item, "CATEGORY", None) or None
            if category is None:
                raise RegistrationError(
                    "register_components: give a Component, or category= with a dict"
                )
        try:
            return self._categories[category]
        except KeyError:
            raise RegistrationError(
                f"unknown category {category!r}; valid: {', '.join(self._categories)}"
            ) from None

    def _check_uses(self, experiment: Experiment) -> None:
        known = self.component_categories()
        unknown = [c for c in experiment.uses if c not in known]
        if unknown:
            raise RegistrationError(
                f"experiment {experiment.name!r} uses unknown categor{'y' if len(unknown) == 1 else 'ies'} "
                f"{', '.join(unknown)}; known: {', '.join(known)}"
            )

    def remove(self, entries: list[Registered], failure: str | None = None) -> None:
        """Forget ``entries`` (used to roll back a plugin that failed half-way);
        with ``failure`` (why), a later lookup of one of them names the plugin."""
        for entry in entries:
            if self._items.get(entry.category, {}).get(entry.name) is entry:
                del self._items[entry.category][entry.name]
            if failure is not None:
                self.failures[entry.plugin] = failure
                self.lost[(entry.category, entry.name)] = entry.plugin

    def names(self, category: str) -> list[str]:
        """Registered names in ``category``, in registration order (none for an unknown category)."""
        return list(self._items.get(category, {}))

    def get(self, category: str, name: str) -> Registered:
        """Look up one component; the error lists the valid names, or names the
        plugin that failed to load if the name is one of its components."""
        try:
            return self._items[category][name]
        except KeyError:
            pass
        if category not in self._items:
            raise UnknownComponentError(
                f"unknown category {category!r}; valid: {', '.join(self._items)}"
            )
        plugin = self.lost.get((category, name))
        if plugin is not None:
            raise UnknownComponentError(
                f"{category} {name!r} comes from plugin {plugin!r}, which failed to load: {self.failures[plugin]}"
            )
        valid = ", ".join(self._items[category]) or "none registered"
        hint = "".join(
            f"; plugin {p!r} failed to load ({why}) and may provide it"
            for p, why in self.failures.items()
        )
        raise UnknownComponentError(f"unknown {category} {name!r}; valid: {valid}{hint}")

    def category(self, category: str) -> list[Registered]:
        """All components of one category, in registration order."""
        return list(self._items.get(category, {}).values())

    def __iter__(self) -> Iterator[Registered]:
        for items in list(self._items.values()):
            yield from items.values()


def declared_headlines(registry: Registry, experiments: Iterable[str]) -> dict[str, list[str]]:
    """``{experiment: headline patterns}`` as the installed experiments declare them,
    for the sweep engine to store in a new sweep's spec under
    :data:`scratchlab.core.keys.HEADLINES_KEY`."""
    known = set(registry.names("experiment"))
    return {
        name: list(registry.get("experiment", name).component.headline)
        for name in sorted(set(experiments))
        if name in known
    }
