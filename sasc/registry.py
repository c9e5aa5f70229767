"""One registry shape for everything users plug in by name: module kinds, helper backends (and the
scorers and explainers that come next).

A :class:`Registry` holds built-ins, takes more through :meth:`Registry.register`, discovers
installed plug-ins through an ``importlib.metadata`` entry-point group on first use, and raises
:class:`~sasc.errors.UnknownKindError` listing the known names for a name nobody registered. A
request names a registered entry plus parameters; it never carries code or import paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from .errors import ConfigError, UnknownKindError

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> entries (usually factories) of one plug-in kind."""

    def __init__(self, what: str, group: str | None = None, builtins: Mapping[str, T] | None = None,
                 known: str | None = None):
        """``what``: the kind of entry, for messages ("module kind"); ``group``: the entry-point group
        of plug-ins (None: none); ``known``: how the error names the list (default: ``what`` + "s")."""
        self.what = what
        self.group = group
        self.known = known or f"{what}s"
        self._entries: dict[str, T] = dict(builtins or {})
        self._discovered = group is None

    def register(self, name: str, entry: T, *, replace: bool = False) -> None:
        """Make ``entry`` known as ``name``; a taken name raises ConfigError unless ``replace``
        (a plug-in of the same name, discovered later, does not replace it)."""
        if name in self._entries and not replace:
            raise ConfigError(f"{self.what} {name!r} is already registered")
        self._entries[name] = entry

    def unregister(self, name: str) -> None:
        """Forget ``name`` (a no-op when it is not registered)."""
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self._discover()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._entries

    def get(self, name: str) -> T:
        """The entry registered as ``name``; :class:`UnknownKindError` listing the known names if none."""
        self._discover()
        if name not in self._entries:
            raise UnknownKindError(f"unknown {self.what} {name!r}; known {self.known}: {', '.join(self.names())}")
        return self._entries[name]

    def _discover(self) -> None:
        """Add the plug-ins of the entry-point group once; built-ins and registered names win."""
        if self._discovered:
            return
        self._discovered = True
        for ep in entry_points(group=self.group):
            if ep.name not in self._entries:
                self._entries[ep.name] = ep.load()
