"""Strict JSON for files other tools read: NaN and infinities are written as ``null``.

Python's ``json`` writes ``NaN``, which is not JSON: ``jq``, JavaScript and most other
parsers refuse the file. Readers of sasc files turn ``null`` back into NaN where a float
is expected (see :func:`nan_if_none`).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def strict(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None (numpy scalars become Python numbers)."""
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`strict` ``(obj)``; refuses to write NaN."""
    return json.dumps(strict(obj), allow_nan=False, **kwargs)


def nan_if_none(value: Any) -> Any:
    """None (a NaN written by :func:`dumps`) back to NaN; a list element-wise; anything else as is."""
    if value is None:
        return float("nan")
    if isinstance(value, list):
        return [nan_if_none(v) for v in value]
    return value
