"""Batched sparse coding by FISTA (or ISTA) in torch.

Each row ``x`` (a token's hidden state, length ``d``) is coded against a dictionary
``Φ`` (``d × K``, one atom per column) by solving the lasso

    α* = argmin_α  ½ ||x − Φ α||²  +  λ ||α||₁      (α ≥ 0 when ``positive``)

with a fixed number of proximal-gradient steps of size ``1 / L``, ``L = σ_max(Φ)²``
(Beck & Teboulle 2009). Rows are independent, so a row's code does not depend on the
batch it is solved in (up to float rounding). This is the objective of scikit-learn's
``sparse_encode(X, Φᵀ, algorithm="lasso_cd", alpha=λ)``; Yun et al. (2021) use
non-negative codes with λ = 0.3 and 500 iterations.
"""

from __future__ import annotations

from typing import Any

from ..cancel import checkpoint
from ..errors import ConfigError


def lipschitz_constant(dictionary: Any) -> float:
    """``σ_max(Φ)²``: the Lipschitz constant of the gradient of ½||x − Φα||² (Φ is ``d × K``)."""
    import torch

    return float(torch.linalg.matrix_norm(dictionary.double(), ord=2) ** 2)


def fista(x: Any, dictionary: Any, lam: float = 0.3, *, n_iter: int = 500, positive: bool = True,
          accelerated: bool = True, lipschitz: float | None = None, chunk_rows: int = 8192,
          tol: float = 0.0) -> Any:
    """Sparse codes ``[N, K]`` of rows ``x`` ``[N, d]`` against ``dictionary`` ``[d, K]`` (torch tensors).

    ``lam``: λ, the l1 weight (in the units of ``x``). ``n_iter``: proximal steps (no early
    stop, so results are deterministic). ``positive``: constrain codes to be ≥ 0.
    ``accelerated``: FISTA momentum (False: plain ISTA). ``chunk_rows``: rows solved at once,
    to bound memory. ``tol`` > 0: stop a chunk early once no code moved more than ``tol`` in an
    iteration (checked every 10; faster, but a row's code then depends slightly on its chunk).
    Computation happens on ``x``'s device in ``x``'s float dtype.
    """
    import torch

    if lam < 0:
        raise ConfigError(f"lam (λ) must be >= 0, got {lam}")
    if n_iter < 1:
        raise ConfigError(f"n_iter must be >= 1, got {n_iter}")
    if x.ndim != 2 or dictionary.ndim != 2 or x.shape[1] != dictionary.shape[0]:
        raise ConfigError(f"cannot code rows of shape {tuple(x.shape)} against a dictionary of shape "
                          f"{tuple(dictionary.shape)}: expected x [N, d] and dictionary [d, K]")
    phi = dictionary.to(device=x.device, dtype=x.dtype)
    L = lipschitz if lipschitz is not None else lipschitz_constant(phi)
    if L <= 0:
        return torch.zeros((x.shape[0], phi.shape[1]), dtype=x.dtype, device=x.device)
    gram = phi.T @ phi if phi.shape[1] < 2 * phi.shape[0] else None  # cheaper gradient when K < 2d
    out = [_fista_chunk(x[s:s + chunk_rows], phi, gram, lam / L, 1.0 / L, n_iter, positive, accelerated, tol)
           for s in range(0, x.shape[0], chunk_rows)]
    if not out:
        return torch.zeros((0, phi.shape[1]), dtype=x.dtype, device=x.device)
    return torch.cat(out)


def _fista_chunk(x, phi, gram, thresh: float, step: float, n_iter: int, positive: bool, accelerated: bool,
                 tol: float):
    import torch

    with torch.inference_mode():
        xphi = x @ phi  # [n, K]: the constant part of the gradient
        a = torch.zeros_like(xphi)
        y = a
        t = 1.0
        for it in range(n_iter):
            if it % 10 == 0:
                checkpoint()  # a cancelled job stops between iterations (results unchanged)
            grad = (y @ gram if gram is not None else (y @ phi.T) @ phi) - xphi
            a_next = _prox(y - step * grad, thresh, positive)
            if accelerated:
                t_next = (1.0 + (1.0 + 4.0 * t * t) ** 0.5) / 2.0
                y = a_next + ((t - 1.0) / t_next) * (a_next - a)
                t = t_next
            else:
                y = a_next
            if tol > 0 and it % 10 == 9 and float((a_next - a).abs().max()) <= tol:
                return a_next
            a = a_next
        return a


def _prox(v, thresh: float, positive: bool):
    """Proximal operator of ``thresh·||·||₁`` (plus the α ≥ 0 constraint when ``positive``)."""
    import torch

    if positive:
        return torch.clamp(v - thresh, min=0.0)
    return torch.sign(v) * torch.clamp(v.abs() - thresh, min=0.0)


def lasso_objective(x: Any, dictionary: Any, codes: Any, lam: float) -> Any:
    """Per-row ½||x − Φα||² + λ||α||₁ (torch), for tests and diagnostics."""
    resid = x - codes @ dictionary.T
    return 0.5 * (resid**2).sum(1) + lam * codes.abs().sum(1)
