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


def fast_bf16(device: str) -> bool:
    """True when ``device`` computes bf16 matmuls natively (CUDA with bf16, or a CPU with
    AVX512-BF16 or AMX), i.e. when bf16 autocast is a real speed-up rather than emulation."""
    import torch

    if device.startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    cpu = getattr(torch, "cpu", None)
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, p, lambda: False)()) for p in probes)


def resolve_dtype(dtype: str, device: str) -> str:
    """``"auto"`` -> ``"bfloat16"`` where :func:`fast_bf16` holds, else ``"float32"``."""
    from ..errors import ConfigError

    if dtype not in ("auto", "float32", "bfloat16"):
        raise ConfigError(f"dtype must be 'auto', 'float32' or 'bfloat16', got {dtype!r}")
    if dtype == "auto":
        return "bfloat16" if fast_bf16(device) else "float32"
    return dtype
