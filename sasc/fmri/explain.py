"""Explain the best voxels of an encoding model with the SASC pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ExplainConfig
from ..corpora import DEFAULT_GENERIC, DEFAULT_REFERENCE, Corpus
from ..explain import explain
from ..llm.base import HelperLLM
from ..progress import ProgressFn, no_progress
from ..results import ExplainResult
from .encoding import EncodingModel
from .features import FeatureModel
from .modules import VoxelBank, select_voxels


@dataclass(frozen=True)
class VoxelExplanation:
    """One row of the voxel table."""

    voxel: int
    """Voxel column in the encoding model (and in the mask's C order)."""
    unit: str
    """Unit name in the explanation result (``"v{voxel}"``)."""
    ijk: tuple[int, int, int] | None
    """Voxel indices in the mask volume (None without a mask)."""
    xyz_mm: tuple[float, float, float] | None
    """World coordinates in mm (None without a mask)."""
    test_r: float
    """Held-out correlation of the encoding model."""
    alpha: float
    """Ridge penalty chosen for the voxel."""
    explanation: str
    """Top explanation ("" when the helper produced no candidate)."""
    sigma: float
    """σ of the top explanation (NaN when none)."""
    top_ngrams: list[str] = field(default_factory=list)
    """The voxel's highest-response n-grams, best first (up to 10)."""


@dataclass(frozen=True)
class VoxelReport:
    """Explained voxels: the table rows plus the full SASC result."""

    rows: list[VoxelExplanation]
    """One row per explained voxel, by descending test r."""
    result: ExplainResult
    """The full explanation result (candidates, synthetic texts, provenance)."""


def explain_voxels(
    model: EncodingModel,
    *,
    voxels: Sequence[int] | None = None,
    top_k: int | None = 10,
    min_r: float | None = None,
    corpus: str | Path | list[str] | Corpus = DEFAULT_REFERENCE,
    generic: str | Path | list[str] | Corpus = DEFAULT_GENERIC,
    helper: str | HelperLLM = "local",
    config: ExplainConfig = ExplainConfig(),
    features: FeatureModel | None = None,
    cache_dir: str | Path | None = None,
    concurrency: int = 1,
    progress: ProgressFn = no_progress,
) -> VoxelReport:
    """Select voxels by held-out correlation and explain them with :func:`sasc.explain`.

    ``voxels`` (column indices) overrides ``top_k``/``min_r`` (see
    :func:`~sasc.fmri.modules.select_voxels`). All selected voxels share one feature pass
    over the reference n-grams (a matrix product per batch).
    """
    cols = list(voxels) if voxels is not None else select_voxels(model.test_r, top_k, min_r)
    bank = VoxelBank(model, cols, features)
    result = explain(bank, corpus=corpus, generic=generic, helper=helper, config=config, cache_dir=cache_dir,
                     concurrency=concurrency, progress=progress)
    return VoxelReport(voxel_rows(model, cols, result), result)


def voxel_rows(model: EncodingModel, cols: Sequence[int], result: ExplainResult) -> list[VoxelExplanation]:
    """Table rows for ``cols`` from an explanation result whose units are ``v{col}``."""
    by_unit = {u.unit: u for u in result.units}
    xyz = model.xyz_mm(cols)
    rows = []
    for n, c in enumerate(cols):
        u = by_unit.get(f"v{c}")
        best = u.best if u is not None else None
        rows.append(VoxelExplanation(
            voxel=int(c), unit=f"v{c}",
            ijk=tuple(int(v) for v in model.voxel_ijk[c]) if model.voxel_ijk is not None else None,
            xyz_mm=tuple(round(float(v), 2) for v in xyz[n]) if xyz is not None else None,
            test_r=float(model.test_r[c]), alpha=float(model.alphas[c]),
            explanation=best.explanation if best else "", sigma=float(best.score.sigma) if best else float("nan"),
            top_ngrams=[t.ngram for t in u.top_ngrams[:10]] if u is not None else []))
    rows.sort(key=lambda r: -r.test_r if np.isfinite(r.test_r) else np.inf)
    return rows


def rows_to_tsv(rows: Sequence[VoxelExplanation]) -> str:
    """The voxel table as TSV text (header plus one line per voxel)."""
    def fmt(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, tuple):
            return ",".join(fmt(x) for x in v)
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v).replace("\t", " ").replace("\n", " ")

    head = "voxel\tunit\tijk\txyz_mm\ttest_r\talpha\tsigma\texplanation\ttop_ngrams"
    lines = [head] + ["\t".join([fmt(r.voxel), r.unit, fmt(r.ijk), fmt(r.xyz_mm), fmt(r.test_r), fmt(r.alpha),
                                 fmt(r.sigma), fmt(r.explanation), fmt("; ".join(r.top_ngrams))]) for r in rows]
    return "\n".join(lines) + "\n"
