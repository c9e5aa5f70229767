"""Voxelwise encoding models: ridge regression from stimulus features to BOLD responses.

Ridge with one regularization strength per voxel, chosen by cross-validation over whole
training runs (never splitting a run), with ``himalaya`` (its ``torch_cuda`` backend is
used when a GPU is present). Performance is the Pearson correlation between predicted
and measured responses on held-out test runs, per voxel.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..progress import ProgressEvent, ProgressFn, no_progress
from .features import FeatureModel, FeatureSettings, design_matrix, lanczos_downsample, tr_times, trim, zscore
from .io import Dataset, check_run_timing, load_mask, mask_indices, run_responses

DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(0, 6, 13))


@dataclass(frozen=True)
class EncodingConfig:
    """Settings of an encoding-model fit. Defaults live here."""

    features: FeatureSettings = field(default_factory=FeatureSettings)
    """Delays, edge trimming and Lanczos window."""
    alphas: tuple[float, ...] = DEFAULT_ALPHAS
    """Candidate ridge penalties; each voxel picks its own by cross-validation."""
    n_folds: int = 5
    """Cross-validation folds over training runs (at most one per training run)."""
    backend: str = "auto"
    """himalaya backend: ``"auto"`` (``torch_cuda`` with a GPU, else ``numpy``), ``"numpy"``, ``"torch"``, ``"torch_cuda"``."""
    n_targets_batch: int = 4096
    """Voxels solved at once (bounds memory)."""

    def __post_init__(self) -> None:
        if not self.alphas or any(a <= 0 for a in self.alphas):
            raise ConfigError(f"alphas must be positive, got {self.alphas}")
        if self.n_folds < 2:
            raise ConfigError(f"n_folds must be >= 2, got {self.n_folds}")
        if self.n_targets_batch < 1:
            raise ConfigError(f"n_targets_batch must be >= 1, got {self.n_targets_batch}")


@dataclass(frozen=True)
class EncodingModel:
    """A fitted voxelwise encoding model."""

    weights: np.ndarray = field(repr=False)
    """float32 ``[n_delays * dim, n_voxels]``; rows are delay-major blocks of ``dim``."""
    alphas: np.ndarray = field(repr=False)
    """float32 ``[n_voxels]``: each voxel's ridge penalty chosen by cross-validation."""
    test_r: np.ndarray = field(repr=False)
    """float32 ``[n_voxels]``: correlation of prediction and response on the test runs."""
    feature_spec: dict[str, Any]
    """Feature model parameters (:func:`~sasc.fmri.features.feature_model_from_spec`)."""
    feature_mean: np.ndarray = field(repr=False)
    """float32 ``[dim]``: mean word feature over the training runs."""
    feature_scale: np.ndarray = field(repr=False)
    """float32 ``[dim]``: RMS over training runs of each run's TR-feature standard deviation."""
    config: EncodingConfig
    """Settings of the fit."""
    tr: float
    """Repetition time in seconds."""
    train_runs: list[str]
    """Runs the weights were fitted on."""
    test_runs: list[str]
    """Held-out runs behind ``test_r``."""
    voxel_ijk: np.ndarray | None = field(default=None, repr=False)
    """int64 ``[n_voxels, 3]`` voxel indices in the mask volume (None for array data without a mask)."""
    affine: np.ndarray | None = field(default=None, repr=False)
    """4x4 voxel-to-world (mm) affine of the mask (None without a mask)."""
    volume_shape: tuple[int, int, int] | None = None
    """Shape of the mask volume (None without a mask)."""
    fit_seconds: float = 0.0
    """Wall time of feature extraction plus ridge fit."""

    @property
    def n_voxels(self) -> int:
        """Number of voxels (response columns)."""
        return int(self.weights.shape[1])

    @property
    def n_delays(self) -> int:
        """Number of FIR delays."""
        return len(self.config.features.delays)

    def summed_weights(self, voxels: Sequence[int] | None = None) -> np.ndarray:
        """float32 ``[dim, n]``: weights summed over delays (as in the SASC paper)."""
        w = self.weights if voxels is None else self.weights[:, np.asarray(voxels, dtype=np.int64)]
        return w.reshape(self.n_delays, -1, w.shape[1]).sum(axis=0)

    def xyz_mm(self, voxels: Sequence[int] | None = None) -> np.ndarray | None:
        """float64 ``[n, 3]`` world coordinates (mm) of voxels, or None without a mask."""
        if self.voxel_ijk is None or self.affine is None:
            return None
        ijk = self.voxel_ijk if voxels is None else self.voxel_ijk[np.asarray(voxels, dtype=np.int64)]
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]

    def save(self, path: str | Path) -> Path:
        """Write the model as one ``.npz`` (arrays plus JSON metadata); returns the path."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        meta = {"feature_spec": self.feature_spec, "config": dataclasses.asdict(self.config), "tr": self.tr,
                "train_runs": self.train_runs, "test_runs": self.test_runs, "volume_shape": self.volume_shape,
                "fit_seconds": self.fit_seconds, "format": "sasc.fmri.EncodingModel/1"}
        arrays = {"weights": self.weights, "alphas": self.alphas, "test_r": self.test_r,
                  "feature_mean": self.feature_mean, "feature_scale": self.feature_scale}
        if self.voxel_ijk is not None:
            arrays["voxel_ijk"] = self.voxel_ijk
        if self.affine is not None:
            arrays["affine"] = self.affine
        with open(p, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
        return p

    @classmethod
    def load(cls, path: str | Path) -> "EncodingModel":
        """Read a model written by :meth:`save`."""
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"encoding model {str(p)!r} does not exist")
        try:
            with np.load(p, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                arr = {k: z[k] for k in z.files if k != "meta"}
        except (OSError, KeyError, ValueError) as e:
            raise ConfigError(f"{str(p)!r} is not an encoding model saved by sasc ({e})") from e
        c = meta["config"]
        config = EncodingConfig(**{**c, "features": FeatureSettings(**{**c["features"], "delays": tuple(c["features"]["delays"])}),
                                   "alphas": tuple(c["alphas"])})
        shape = tuple(meta["volume_shape"]) if meta.get("volume_shape") else None
        return cls(arr["weights"], arr["alphas"], arr["test_r"], meta["feature_spec"], arr["feature_mean"],
                   arr["feature_scale"], config, float(meta["tr"]), list(meta["train_runs"]), list(meta["test_runs"]),
                   arr.get("voxel_ijk"), arr.get("affine"), shape, float(meta.get("fit_seconds", 0.0)))


def correlation(pred: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Per-column Pearson correlation of two ``[n, v]`` arrays (NaN for constant columns)."""
    p = pred - pred.mean(0)
    a = actual - actual.mean(0)
    denom = np.sqrt((p**2).sum(0) * (a**2).sum(0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, (p * a).sum(0) / denom, np.nan).astype(np.float32)


@dataclass(frozen=True)
class RunMatrices:
    """A run's design matrix and responses after delaying, trimming and z-scoring."""

    name: str
    """Run name."""
    x: np.ndarray = field(repr=False)
    """float32 ``[n_kept_trs, dim * n_delays]``."""
    y: np.ndarray = field(repr=False)
    """float32 ``[n_kept_trs, n_voxels]``."""
    raw_std: np.ndarray = field(repr=False)
    """float32 ``[dim]``: standard deviation of the run's raw TR features."""
    word_mean: np.ndarray = field(repr=False)
    """float32 ``[dim]``: mean word feature of the run."""
    n_words: int = 0
    """Words in the transcript."""


def run_matrices(dataset: Dataset, features: FeatureModel, settings: FeatureSettings,
                 progress: ProgressFn = no_progress) -> list[RunMatrices]:
    """Validated design matrices and responses of every run (errors name the run)."""
    out: list[RunMatrices] = []
    n_vox = None
    for i, run in enumerate(dataset.runs):
        y = run_responses(run, dataset.mask)
        check_run_timing(run, len(y))
        kept = len(y) - settings.trim_start - settings.trim_end
        if kept < 2:
            raise ConfigError(f"run {run.name!r} has {len(y)} TRs; trimming {settings.trim_start} + "
                              f"{settings.trim_end} leaves {kept}: use a longer run or smaller trims")
        if n_vox is not None and y.shape[1] != n_vox:
            raise ConfigError(f"run {run.name!r} has {y.shape[1]} voxels but run {out[0].name!r} has {n_vox}")
        n_vox = y.shape[1]
        words = features.word_features(run.transcript.words)
        raw = lanczos_downsample(words, run.transcript.times, tr_times(len(y), run.tr), settings.lanczos_window)
        x = design_matrix(raw, settings)
        yz = zscore(trim(y, settings.trim_start, settings.trim_end))
        out.append(RunMatrices(run.name, x, yz, raw.std(0), words.mean(0), len(words)))
        progress(ProgressEvent("features", i + 1, len(dataset.runs), run.name))
    return out


def split_runs(names: Sequence[str], test_runs: int | Sequence[str]) -> tuple[list[str], list[str]]:
    """(train, test) run names: ``test_runs`` is a count (the last runs) or a list of names."""
    names = list(names)
    if isinstance(test_runs, (int, np.integer)):
        if not 1 <= test_runs <= len(names) - 2:
            raise ConfigError(f"test_runs={test_runs}: need at least 1 test run and 2 training runs; have {len(names)} runs")
        test = names[len(names) - int(test_runs):]
    else:
        test = list(test_runs)
        unknown = [t for t in test if t not in names]
        if unknown:
            raise ConfigError(f"unknown test runs {unknown}; runs: {names}")
    train = [n for n in names if n not in test]
    if len(train) < 2 or not test:
        raise ConfigError(f"need at least 2 training runs and 1 test run; got {len(train)} and {len(test)}")
    return train, test


@contextmanager
def himalaya_backend(name: str):
    """Use himalaya backend ``name`` (``"auto"``: ``torch_cuda`` when CUDA is available, else ``numpy``) inside the block."""
    from himalaya.backend import get_backend, set_backend

    if name == "auto":
        import torch

        name = "torch_cuda" if torch.cuda.is_available() else "numpy"
    previous = get_backend()
    try:
        backend = set_backend(name, on_error="raise")
    except (ValueError, ImportError, RuntimeError) as e:
        raise ConfigError(f"himalaya backend {name!r} is not usable here: {e}") from e
    try:
        yield backend
    finally:
        set_backend(previous.name if hasattr(previous, "name") else "numpy", on_error="warn")


def fit_encoding(dataset: Dataset, features: FeatureModel, *, test_runs: int | Sequence[str] = 1,
                 config: EncodingConfig = EncodingConfig(), progress: ProgressFn = no_progress) -> EncodingModel:
    """Fit a voxelwise ridge encoding model and score it on held-out runs.

    ``test_runs``: how many of the last runs to hold out, or their names. Raises
    :class:`ConfigError` naming the run for any bad input (see :mod:`sasc.fmri.io`).
    """
    t0 = time.perf_counter()
    mats = run_matrices(dataset, features, config.features, progress)
    train, test = split_runs([m.name for m in mats], test_runs)
    by_name = {m.name: m for m in mats}
    tr_m = [by_name[n] for n in train]
    x = np.concatenate([m.x for m in tr_m])
    y = np.concatenate([m.y for m in tr_m])
    progress(ProgressEvent("fit", 0, 1, f"{x.shape[0]} TRs x {y.shape[1]} voxels"))
    coef, alphas = ridge_cv(x, y, _run_folds([len(m.x) for m in tr_m], config.n_folds), config)
    del x, y
    xt = np.concatenate([by_name[n].x for n in test])
    yt = np.concatenate([by_name[n].y for n in test])
    test_r = correlation(xt @ coef, yt)
    progress(ProgressEvent("fit", 1, 1))
    n_words = np.array([m.n_words for m in tr_m], dtype=np.float64)
    word_mean = (np.stack([m.word_mean for m in tr_m]) * n_words[:, None]).sum(0) / n_words.sum()
    scale = np.sqrt((np.stack([m.raw_std for m in tr_m]) ** 2).mean(0))
    ijk, affine, shape = _mask_geometry(dataset)
    return EncodingModel(coef, alphas, test_r, features.spec(), word_mean.astype(np.float32),
                         np.where(scale > 0, scale, 1.0).astype(np.float32), config, dataset.tr, train, test,
                         ijk, affine, shape, time.perf_counter() - t0)


def _run_folds(lengths: Sequence[int], n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, validation) row indices leaving out whole runs, runs dealt round-robin to folds."""
    starts = np.concatenate([[0], np.cumsum(lengths)])
    k = min(n_folds, len(lengths))
    folds = []
    for f in range(k):
        val = np.concatenate([np.arange(starts[r], starts[r + 1]) for r in range(len(lengths)) if r % k == f])
        trn = np.setdiff1d(np.arange(starts[-1]), val)
        folds.append((trn, val))
    return folds


def ridge_cv(x: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]],
             config: EncodingConfig) -> tuple[np.ndarray, np.ndarray]:
    """himalaya ridge with per-voxel alphas; returns float32 (coef ``[features, voxels]``, alphas ``[voxels]``).

    With fewer training TRs than features the equivalent linear-kernel ridge (``KernelRidgeCV``:
    an eigendecomposition of the TR x TR kernel, then primal weights ``X.T @ dual``) is solved:
    the same weights, and LAPACK's SVD of wide matrices is very slow on CPU. Otherwise the
    primal SVD form (cost linear in TRs).
    """
    from himalaya.kernel_ridge import KernelRidgeCV
    from himalaya.ridge import RidgeCV

    params = {"n_targets_batch": config.n_targets_batch, "n_alphas_batch": 4,
              "n_targets_batch_refit": config.n_targets_batch}
    alphas = np.asarray(config.alphas, dtype=np.float32)
    x = x.astype(np.float32, copy=False)
    y = y.astype(np.float32, copy=False)
    with himalaya_backend(config.backend) as backend:
        if x.shape[0] < x.shape[1]:
            model = KernelRidgeCV(alphas=alphas, kernel="linear", cv=folds, solver_params=params, warn=False)
            model.fit(x, y)
            coef = model.get_primal_coef()
        else:
            model = RidgeCV(alphas=alphas, cv=folds, solver_params={**params, "warn": False})
            model.fit(x, y)
            coef = model.coef_
        coef = np.asarray(backend.to_numpy(coef), dtype=np.float32)
        best = np.asarray(backend.to_numpy(model.best_alphas_), dtype=np.float32)
    return coef, best


def _mask_geometry(dataset: Dataset) -> tuple[np.ndarray | None, np.ndarray | None, tuple[int, int, int] | None]:
    if dataset.mask is None:
        return None, None, None
    img = load_mask(dataset.mask)
    return mask_indices(img), np.asarray(img.affine, dtype=np.float64), tuple(int(s) for s in img.shape)
