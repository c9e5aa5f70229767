"""Text modules: protocols, conformance check, registry and built-in kinds."""

from .base import ModuleBank, SingleUnitBank, TextModule, as_bank, check_finite, fingerprint
from .conformance import check_module
from .registry import build_module, known_kinds, module_from_spec, parse_module_spec, register_kind

__all__ = [
    "ModuleBank", "SingleUnitBank", "TextModule", "as_bank", "build_module", "check_finite",
    "check_module", "fingerprint", "known_kinds", "module_from_spec", "parse_module_spec", "register_kind",
]
