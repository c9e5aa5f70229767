"""How a distributed worker gets its own copy of a module: a spec it can rebuild from.

Torch models are never pickled to workers. A worker receives a :class:`ModuleSpec` (a
registered kind plus parameters, numpy arrays allowed) and builds the module itself with
:func:`sasc.modules.build_module`, once per worker. Tests and custom modules may instead
give a plain picklable zero-argument callable that returns the module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from ..errors import ConfigError
from ..modules.base import as_bank


@dataclass(frozen=True)
class ModuleSpec:
    """A module as a registered kind plus parameters; rebuilt on each worker."""

    kind: str
    """A kind known to :func:`sasc.modules.build_module` (see ``sasc kinds``)."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments of the kind's factory (JSON values and numpy arrays)."""

    @classmethod
    def parse(cls, spec: str) -> ModuleSpec:
        """From ``'kind:key=value,...'`` or a JSON object (the CLI's ``--module`` forms)."""
        from ..modules.registry import parse_module_spec

        kind, params = parse_module_spec(spec)
        return cls(kind, params)

    def build(self) -> Any:
        """The module as a bank (``.units``, ``.responses``)."""
        from ..modules.registry import build_module

        return as_bank(build_module(self.kind, **dict(self.params)))


ModuleSource = Union[ModuleSpec, str, Callable[[], Any]]
"""What a distributed runner accepts: a spec, a spec string, or a picklable factory."""


def spec_of(bank: Any) -> ModuleSpec | None:
    """The spec a module was built from (``build_module`` records it), or None."""
    for obj in (bank, getattr(bank, "module", None)):  # SingleUnitBank wraps the built callable
        raw = getattr(obj, "module_spec", None)
        if isinstance(raw, ModuleSpec):
            return raw
        if isinstance(raw, tuple) and len(raw) == 2 and isinstance(raw[0], str):
            return ModuleSpec(raw[0], dict(raw[1]))
    return None


def resolve_source(source: ModuleSource | None, bank: Any) -> ModuleSpec | Callable[[], Any]:
    """``source`` made concrete, falling back to the spec recorded on ``bank``.

    Raises :class:`ConfigError` when neither gives a way to rebuild the module on a worker.
    """
    if isinstance(source, str):
        return ModuleSpec.parse(source)
    if isinstance(source, ModuleSpec) or callable(source):
        return source
    if source is not None:
        raise ConfigError(f"module_spec must be a ModuleSpec, a spec string or a zero-argument factory, "
                          f"got {type(source).__name__}")
    found = spec_of(bank)
    if found is None:
        name = getattr(bank, "name", type(bank).__name__)
        raise ConfigError(
            f"the Ray backend rebuilds the module on each worker, but module {name!r} carries no spec "
            "(only modules made by sasc.build_module / a spec string do); pass "
            "RayRunner(module_spec=ModuleSpec(kind, params)) or module_spec='kind:key=value', "
            "or a picklable zero-argument factory returning the module")
    return found


def build_source(source: ModuleSpec | Callable[[], Any]) -> Any:
    """Build the bank a worker scores with."""
    return source.build() if isinstance(source, ModuleSpec) else as_bank(source())
