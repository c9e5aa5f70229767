"""Device choice for torch-backed modules."""

from __future__ import annotations


def best_device() -> str:
    """``"cuda"`` when a CUDA device is visible, else ``"cpu"``."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"
