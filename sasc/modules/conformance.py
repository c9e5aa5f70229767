"""A conformance check every text module and bank must pass.

In the spirit of scikit-learn's ``check_estimator``: shape, dtype, finite values,
determinism, empty batch, batch independence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ModuleError
from .base import as_bank, check_finite, module_name

PROBE_TEXTS = (
    "the cat sat on the mat",
    "stock prices fell sharply",
    "I love pizza",
    "a",
    "Numbers like 42 and 3.14 appear here",
    "¿Qué tal? naïve café — “quotes”",
)


def check_module(module: Any, texts: Sequence[str] = PROBE_TEXTS, atol: float = 1e-4) -> None:
    """Raise :class:`ModuleError` describing the first property ``module`` violates.

    Checks: ``[n, units]`` float32 output; finite values; the same texts twice give the
    same values (within ``atol``); an empty batch gives shape ``[0, units]``; a text's
    value does not depend on which other texts share its batch.
    """
    bank = as_bank(module)
    name = module_name(module)
    n_units = len(bank.units)
    if n_units == 0:
        raise ModuleError(f"module {name!r} has no units")
    texts = list(texts)
    first = _call(bank, texts, name, n_units)
    check_finite(first, texts, name)
    second = _call(bank, texts, name, n_units)
    if not np.allclose(first, second, atol=atol, rtol=1e-4):
        raise ModuleError(f"module {name!r} is not deterministic: two calls on the same texts differ")
    empty = _call(bank, [], name, n_units)
    if empty.shape != (0, n_units):
        raise ModuleError(f"module {name!r} returned shape {empty.shape} for an empty batch")
    alone = _call(bank, texts[:1], name, n_units)
    if not np.allclose(alone[0], first[0], atol=atol, rtol=1e-3):
        raise ModuleError(f"module {name!r} gives a text a different value depending on its batch")


def _call(bank: Any, texts: list[str], name: str, n_units: int) -> np.ndarray:
    out = np.asarray(bank.responses(texts))
    if out.dtype != np.float32:
        raise ModuleError(f"module {name!r} returned dtype {out.dtype}; expected float32")
    if out.shape != (len(texts), n_units):
        raise ModuleError(f"module {name!r} returned shape {out.shape} for {len(texts)} texts; expected {(len(texts), n_units)}")
    return out
