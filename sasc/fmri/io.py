"""fMRI data in: BOLD runs (4D NIfTI or ``.npy``/``.h5`` arrays), masks or nilearn maskers,
and a BIDS-like folder layout pairing each run with its transcript.

Layout read by :func:`load_bids` (what :mod:`sasc.fmri.simulate` writes)::

    root/sub-01/func/sub-01_task-<story>_bold.nii.gz     # or _bold.nii, _bold.npy, _bold.h5
    root/sub-01/func/sub-01_task-<story>_bold.json       # optional {"RepetitionTime": 2.0}
    root/sub-01/func/sub-01_task-<story>_events.tsv      # word/onset/duration (or offset)
    root/sub-01/anat/sub-01_..._mask.nii.gz              # brain mask (or pass mask=...)

A run's transcript is the first of ``<prefix>_events.tsv``, ``<prefix>_transcript.tsv``,
``<prefix>.TextGrid``, ``<prefix>_transcript.TextGrid`` next to its ``<prefix>_bold.*`` file.
Every bad input raises :class:`~sasc.errors.ConfigError` naming the run and what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .transcripts import Transcript, read_transcript

BOLD_SUFFIXES = ("_bold.nii.gz", "_bold.nii", "_bold.npy", "_bold.h5", "_bold.hf5")
TRANSCRIPT_SUFFIXES = ("_events.tsv", "_transcript.tsv", ".TextGrid", "_transcript.TextGrid")
AFFINE_ATOL = 1e-3
"""Largest difference (mm) between a run's affine and the mask's that counts as equal."""


@dataclass(frozen=True)
class Run:
    """One BOLD run and the words heard during it."""

    name: str
    """Run name used in messages and results, e.g. ``"sub-01_task-story03"``."""
    bold: Any = field(repr=False)
    """A path (``.nii[.gz]``, ``.npy``, ``.h5``), a nibabel 4D image, or an array ``[TRs, voxels]``."""
    transcript: Transcript = field(repr=False)
    """Words with onsets and offsets in seconds from the first volume."""
    tr: float
    """Repetition time in seconds."""


@dataclass(frozen=True)
class Dataset:
    """Runs of one subject plus the mask that maps response columns to voxels."""

    runs: list[Run]
    """Runs in a stable (sorted) order."""
    mask: Any = None
    """3D mask image (nibabel), a nilearn masker, or None for array data without coordinates."""
    tr: float = 2.0
    """Repetition time in seconds, shared by every run."""

    def run(self, name: str) -> Run:
        """The run called ``name``."""
        for r in self.runs:
            if r.name == name:
                return r
        raise ConfigError(f"no run named {name!r}; runs: {[r.name for r in self.runs]}")


def load_mask(mask: Any, reference: Any = None) -> Any:
    """A 3D boolean mask image from a path, an image, or a nilearn masker.

    A masker that is not fitted is fitted on ``reference`` (a 4D image or path). Raises
    :class:`ConfigError` for a missing file, a non-3D image or a mask selecting no voxel.
    """
    import nibabel as nib

    if is_masker(mask):
        if not hasattr(mask, "mask_img_"):
            if reference is None:
                raise ConfigError("a nilearn masker that is not fitted needs a BOLD run to fit on")
            mask.fit(_as_image(reference, "mask reference"))
        img, label = mask.mask_img_, "masker mask"
    elif isinstance(mask, (str, Path)):
        if not Path(mask).is_file():
            raise ConfigError(f"mask {str(mask)!r} does not exist")
        img, label = nib.load(str(mask)), f"mask {str(mask)!r}"
    elif hasattr(mask, "affine") and hasattr(mask, "shape"):
        img, label = mask, "mask image"
    else:
        raise ConfigError(f"unsupported mask {type(mask).__name__}: pass a NIfTI path, a nibabel image or a nilearn masker")
    data = np.asanyarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ConfigError(f"{label} has shape {data.shape}; a mask is a 3D volume")
    bool_data = np.nan_to_num(data) > 0
    if not bool_data.any():
        raise ConfigError(f"{label} is empty: it selects no voxel (all values are 0)")
    return nib.Nifti1Image(bool_data.astype(np.uint8), img.affine)


def mask_indices(mask_img: Any) -> np.ndarray:
    """int64 ``[n_voxels, 3]`` voxel (i, j, k) indices of a mask, in C order (column order of responses)."""
    return np.argwhere(np.asanyarray(mask_img.dataobj) > 0).astype(np.int64)


def _as_image(bold: Any, name: str) -> Any:
    import nibabel as nib

    if isinstance(bold, (str, Path)):
        if not Path(bold).is_file():
            raise ConfigError(f"run {name!r}: BOLD file {str(bold)!r} does not exist")
        return nib.load(str(bold))
    return bold


def read_array(path: str | Path, dataset: str | None = None) -> np.ndarray:
    """A ``[TRs, voxels]`` array from ``.npy`` or ``.h5``/``.hf5`` (dataset ``dataset``, else
    ``data``, else the file's only dataset)."""
    p = Path(path)
    if p.suffix == ".npy":
        return np.load(p, mmap_mode="r")
    import h5py

    with h5py.File(p, "r") as f:
        names = [k for k in f.keys() if isinstance(f[k], h5py.Dataset)]
        key = dataset or ("data" if "data" in names else (names[0] if len(names) == 1 else None))
        if key is None or key not in names:
            raise ConfigError(f"{str(p)!r}: name the dataset holding TRs x voxels; datasets: {names}")
        return np.asarray(f[key])


def run_responses(run: Run, mask: Any = None) -> np.ndarray:
    """float32 ``[n_trs, n_voxels]`` responses of a run, checked against the mask.

    Raises :class:`ConfigError` naming the run for: a missing file, a BOLD image that is not
    4D, a volume shape or affine that differs from the mask's, in-mask voxels with NaN/inf,
    an array that is not 2D or whose column count differs from the mask's voxel count.
    """
    bold = run.bold
    if isinstance(bold, (str, Path)) and Path(bold).suffix in (".npy", ".h5", ".hf5"):
        if not Path(bold).is_file():
            raise ConfigError(f"run {run.name!r}: BOLD file {str(bold)!r} does not exist")
        bold = read_array(bold)
    if isinstance(bold, np.ndarray):
        data = _check_array(run.name, bold, mask)
    else:
        data = _mask_image(run.name, _as_image(bold, run.name), mask)
    _check_finite(run.name, data, mask)
    return data


def _check_array(name: str, arr: np.ndarray, mask: Any) -> np.ndarray:
    if arr.ndim != 2:
        raise ConfigError(f"run {name!r}: response array has shape {arr.shape}; expected 2D [TRs, voxels]")
    if mask is not None:
        n_vox = int((np.asanyarray(load_mask(mask).dataobj) > 0).sum())
        if arr.shape[1] != n_vox:
            raise ConfigError(f"run {name!r}: array has {arr.shape[1]} voxel columns but the mask selects {n_vox} voxels")
    return np.asarray(arr, dtype=np.float32)


def _mask_image(name: str, img: Any, mask: Any) -> np.ndarray:
    if len(img.shape) != 4:
        raise ConfigError(f"run {name!r}: BOLD image has shape {img.shape}; expected 4D (x, y, z, TRs)")
    if mask is None:
        raise ConfigError(f"run {name!r}: NIfTI runs need a brain mask or a nilearn masker (mask=...)")
    mask_img = load_mask(mask, img)
    if tuple(img.shape[:3]) != tuple(mask_img.shape):
        raise ConfigError(f"run {name!r}: BOLD volume shape {tuple(img.shape[:3])} does not match the mask's "
                          f"{tuple(mask_img.shape)}; resample the mask to the run's space")
    if not np.allclose(img.affine, mask_img.affine, atol=AFFINE_ATOL):
        raise ConfigError(f"run {name!r}: BOLD affine differs from the mask's (largest difference "
                          f"{np.abs(img.affine - mask_img.affine).max():.4g} mm); run and mask must be in the same space\n"
                          f"run affine:\n{np.round(img.affine, 3)}\nmask affine:\n{np.round(mask_img.affine, 3)}")
    if is_masker(mask):
        return np.asarray(mask.transform(img), dtype=np.float32)
    sel = np.asanyarray(mask_img.dataobj) > 0
    data = np.asarray(img.dataobj, dtype=np.float32)
    return np.ascontiguousarray(data[sel].T)


def _check_finite(name: str, data: np.ndarray, mask: Any) -> None:
    bad_cols = np.flatnonzero(~np.isfinite(data).all(axis=0))
    if bad_cols.size == 0:
        return
    where = f"column {bad_cols[0]}"
    if mask is not None:
        ijk = mask_indices(load_mask(mask))[bad_cols[0]]
        where += f", voxel (i, j, k) = {tuple(int(v) for v in ijk)}"
    raise ConfigError(f"run {name!r}: {bad_cols.size} in-mask voxel(s) contain NaN or inf (first: {where}); "
                      "shrink the mask to exclude them or fill them before fitting")


def check_run_timing(run: Run, n_trs: int, tolerance_s: float | None = None) -> None:
    """Raise :class:`ConfigError` when the transcript runs past the end of the BOLD run.

    ``tolerance_s``: seconds of overhang accepted (default one TR).
    """
    if n_trs < 1:
        raise ConfigError(f"run {run.name!r} has no volumes")
    tol = run.tr if tolerance_s is None else tolerance_s
    length = n_trs * run.tr
    if run.transcript.end_s > length + tol:
        raise ConfigError(
            f"run {run.name!r}: transcript ends at {run.transcript.end_s:.1f} s but the BOLD run has {n_trs} TRs x "
            f"{run.tr:g} s = {length:.1f} s; check the TR, that the transcript belongs to this run, and that the run is complete")


def _sidecar_tr(bold_path: Path) -> float | None:
    side = Path(str(bold_path).split("_bold.")[0] + "_bold.json")
    if side.is_file():
        try:
            return float(json.loads(side.read_text())["RepetitionTime"])
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as e:
            raise ConfigError(f"{str(side)!r} has no usable RepetitionTime ({e})") from e
    return None


def _header_tr(bold_path: Path) -> float | None:
    if not bold_path.name.endswith((".nii", ".nii.gz")):
        return None
    import nibabel as nib

    zooms = nib.load(str(bold_path)).header.get_zooms()
    return float(zooms[3]) if len(zooms) > 3 and zooms[3] > 0 else None


def find_transcript(bold_path: Path) -> Path | None:
    """The transcript next to a ``*_bold.*`` file (see module docstring), or None."""
    prefix = str(bold_path).split("_bold.")[0]
    for suffix in TRANSCRIPT_SUFFIXES:
        if Path(prefix + suffix).is_file():
            return Path(prefix + suffix)
    return None


def load_bids(root: str | Path, subject: str | None = None, *, mask: Any = None, tr: float | None = None,
              task: str | None = None) -> Dataset:
    """Runs of one subject from a BIDS-like folder (see module docstring).

    ``subject``: label without ``sub-`` (default: the only subject). ``mask``: path, image or
    masker (default: ``sub-*/anat/*mask.nii*``, then ``sub-*/func/*mask.nii*``). ``tr``:
    seconds (default: ``_bold.json`` sidecars, then NIfTI headers). ``task``: keep only runs
    whose name contains ``task-<task>``.
    """
    sub_dir = _subject_dir(Path(root), subject)
    bolds = sorted(p for p in (sub_dir / "func").glob("*_bold.*") if p.name.endswith(BOLD_SUFFIXES))
    if task:
        bolds = [p for p in bolds if f"task-{task}" in p.name]
    if not bolds:
        raise ConfigError(f"{str(sub_dir / 'func')!r} has no *_bold.nii[.gz]/.npy/.h5 runs" + (f" for task {task!r}" if task else ""))
    runs = []
    for p in bolds:
        name = p.name.split("_bold.")[0]
        tpath = find_transcript(p)
        if tpath is None:
            raise ConfigError(f"run {name!r} has no transcript: looked for {name}" + ", ".join(TRANSCRIPT_SUFFIXES)
                              + f" in {str(p.parent)!r}")
        run_tr = tr or _sidecar_tr(p) or _header_tr(p)
        if run_tr is None:
            raise ConfigError(f"run {name!r}: unknown TR; pass tr=... or add a _bold.json with RepetitionTime")
        runs.append(Run(name, p, read_transcript(tpath), float(run_tr)))
    trs = {r.tr for r in runs}
    if len(trs) > 1:
        raise ConfigError("runs have different TRs: " + ", ".join(f"{r.name}: {r.tr:g} s" for r in runs))
    if mask is None:
        mask = _find_mask(sub_dir)
    if mask is None:
        return Dataset(runs, None, runs[0].tr)
    loaded = load_mask(mask, runs[0].bold)  # fits an unfitted masker; checks the mask is not empty
    return Dataset(runs, mask if is_masker(mask) else loaded, runs[0].tr)


def is_masker(obj: Any) -> bool:
    """True for nilearn maskers (objects with ``fit`` and ``transform``)."""
    return hasattr(obj, "transform") and hasattr(obj, "fit")


def _subject_dir(root: Path, subject: str | None) -> Path:
    if not root.is_dir():
        raise ConfigError(f"data folder {str(root)!r} does not exist")
    subs = sorted(p for p in root.glob("sub-*") if p.is_dir())
    if subject is not None:
        d = root / f"sub-{subject.removeprefix('sub-')}"
        if not d.is_dir():
            raise ConfigError(f"no subject {subject!r} in {str(root)!r}; subjects: {[s.name for s in subs]}")
        return d
    if len(subs) != 1:
        raise ConfigError(f"{str(root)!r} has {len(subs)} subjects {[s.name for s in subs]}; name one (subject=...)")
    return subs[0]


def _find_mask(sub_dir: Path) -> Path | None:
    for folder in ("anat", "func"):
        found = sorted((sub_dir / folder).glob("*mask.nii*"))
        if found:
            return found[0]
    return None
