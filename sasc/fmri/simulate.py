"""Simulated story-listening fMRI with planted concepts, for tests, the demo and benchmarks.

Stories are articles of the packaged ``news`` corpus read at ``words_per_second`` with
synthetic word timings. Voxels live in nilearn's MNI152 brain mask resampled to a coarse
grid. A planted voxel's signal is the projection of the feature model's word features on
its concept's direction (mean feature of the concept's keywords minus the mean word
feature of the stories), resampled to TRs with the same Lanczos filter as the encoding
model, convolved with the SPM HRF and z-scored per run; Gaussian noise is added at the
chosen SNR (signal variance / noise variance). Other voxels are noise only.
"""

from __future__ import annotations

import json
import random
import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .features import FeatureModel, lanczos_downsample, tr_times, zscore
from .io import Dataset, Run, load_bids, mask_indices
from .transcripts import Transcript, make_transcript

CONCEPTS: dict[str, tuple[str, ...]] = {
    "food": ("food", "pizza", "bread", "cheese", "soup", "pasta", "meal", "dinner", "cooking", "restaurant",
             "fruit", "vegetables", "rice", "chicken", "breakfast"),
    "numbers": ("numbers", "one", "two", "three", "four", "five", "ten", "twenty", "hundred", "thousand",
                "million", "dozen", "seven", "fifty", "eight"),
    "violence": ("violence", "killed", "murder", "shooting", "attack", "gun", "weapon", "assault", "bomb",
                 "wounded", "stabbing", "fight", "war", "shot", "blood"),
    "family": ("family", "mother", "father", "son", "daughter", "brother", "sister", "parents", "children",
               "wife", "husband", "grandmother", "baby", "uncle", "cousin"),
}
"""Built-in concepts: name -> keywords whose mean feature is the concept's direction."""

CONCEPT_PATTERNS: dict[str, str] = {
    "food": r"food|cuisine|culinar|cook|meal|eat|dish|restaurant|dining|ingredient|recipe|snack|fruit|vegetable|"
            r"bak|nutrition|breakfast|dinner|lunch|kitchen|chef|grocer|beverage|drink",
    "numbers": r"number|numer|quantit|count|digit|math|figure|amount|statistic|percent|measure|arithmetic|"
               r"calculat|integer|money|financ|ordinal|cardinal",
    "violence": r"violen|crime|criminal|kill|murder|attack|weapon|gun|shoot|assault|war|conflict|fight|death|"
                r"terror|aggress|bomb|harm|injur|wound|combat|military",
    "family": r"famil|parent|mother|father|child|kin|relative|sibling|\bsons?\b|daughter|marri|household|"
              r"spouse|grand|brother|sister|relationship",
}
"""Regex per concept judging whether an explanation names it (case-insensitive)."""

CONCEPT_CENTERS_MM: dict[str, tuple[float, float, float]] = {
    "food": (-48.0, -60.0, 24.0), "numbers": (40.0, -48.0, 48.0),
    "violence": (52.0, 8.0, -24.0), "family": (-4.0, -56.0, 32.0),
}
"""MNI coordinates (mm) around which each concept's voxels are planted."""


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. Defaults give a small but learnable dataset."""

    n_runs: int = 10
    """Stories (one run each)."""
    words_per_run: int = 400
    """Words read per story (longer articles are cut, shorter ones skipped)."""
    words_per_second: float = 2.5
    """Speech rate."""
    tr: float = 2.0
    """Repetition time in seconds."""
    lead_in_s: float = 10.0
    """Silence before the first word, in seconds."""
    tail_s: float = 16.0
    """Silence after the last word, in seconds (lets the HRF return)."""
    snr: float = 1.0
    """Signal variance over noise variance in planted voxels."""
    voxel_size_mm: float = 6.0
    """Isotropic voxel size of the resampled MNI152 mask."""
    concepts: tuple[str, ...] = ("food", "numbers", "violence", "family")
    """Planted concepts (keys of :data:`CONCEPTS`)."""
    voxels_per_concept: int = 8
    """Voxels per concept, nearest to the concept's center."""
    seed: int = 0
    """Seeds story choice, timings and noise."""

    def __post_init__(self) -> None:
        unknown = [c for c in self.concepts if c not in CONCEPTS]
        if unknown:
            raise ConfigError(f"unknown concepts {unknown}; known: {sorted(CONCEPTS)}")
        if self.n_runs < 3 or self.words_per_run < 20 or self.snr < 0 or self.tr <= 0 or self.voxel_size_mm <= 0:
            raise ConfigError("need n_runs >= 3, words_per_run >= 20, snr >= 0, tr > 0 and voxel_size_mm > 0")


@dataclass(frozen=True)
class Simulation:
    """A simulated subject: transcripts, responses and the planted ground truth."""

    names: list[str]
    """Run names."""
    transcripts: list[Transcript] = field(repr=False)
    """Per run."""
    responses: list[np.ndarray] = field(repr=False)
    """Per run: float32 ``[n_trs, n_voxels]`` (columns in mask order)."""
    mask: object = field(repr=False)
    """The 3D mask image (nibabel) in MNI space."""
    planted: dict[int, str]
    """Voxel column -> planted concept."""
    config: SimulationConfig
    """What was simulated."""

    def dataset(self) -> Dataset:
        """The simulation as an in-memory :class:`Dataset` (arrays plus the mask)."""
        runs = [Run(n, r, t, self.config.tr) for n, t, r in zip(self.names, self.transcripts, self.responses)]
        return Dataset(runs, self.mask, self.config.tr)


def coarse_mni_mask(voxel_size_mm: float) -> object:
    """nilearn's packaged MNI152 brain mask resampled to ``voxel_size_mm`` isotropic voxels."""
    import nibabel as nib
    from nilearn.datasets import load_mni152_brain_mask
    from nilearn.image import resample_img

    fine = load_mni152_brain_mask(resolution=2)
    fine = nib.Nifti1Image(np.asarray(fine.dataobj, dtype=np.float32), fine.affine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = resample_img(fine, target_affine=np.diag([voxel_size_mm] * 3), interpolation="continuous",
                           force_resample=True, copy_header=True)
    return nib.Nifti1Image((np.asarray(img.dataobj) > 0.5).astype(np.uint8), img.affine)


def story_transcripts(config: SimulationConfig) -> tuple[list[str], list[Transcript]]:
    """``n_runs`` news stories with synthetic word timings (longer words last longer; pauses after sentences)."""
    from ..corpora import load_corpus

    texts = [t for t in load_corpus("news").texts if len(t.split()) >= config.words_per_run]
    if len(texts) < config.n_runs:
        raise ConfigError(f"only {len(texts)} news stories have {config.words_per_run} words; ask for fewer words or runs")
    rng = random.Random(config.seed)
    picked = rng.sample(range(len(texts)), config.n_runs)
    names, transcripts = [], []
    for k, idx in enumerate(picked):
        tokens = [t for t in texts[idx].split() if re.search(r"\w", t)][: config.words_per_run]
        lengths = np.array([len(t) for t in tokens], dtype=np.float64)
        pause = np.array([0.35 if re.search(r"[.!?][\"'”]?$", t) else 0.0 for t in tokens])
        dur = (0.5 + 0.5 * lengths / lengths.mean()) / config.words_per_second * 0.9
        gap = 0.1 / config.words_per_second + pause * (1 / config.words_per_second)
        onsets = config.lead_in_s + np.concatenate([[0.0], np.cumsum(dur + gap)[:-1]])
        names.append(f"sub-01_task-story{k + 1:02d}")
        transcripts.append(make_transcript(tokens, onsets, onsets + dur, names[-1]))
    return names, transcripts


def concept_directions(features: FeatureModel, concepts: tuple[str, ...], story_mean: np.ndarray) -> np.ndarray:
    """``[n_concepts, dim]`` unit vectors: mean keyword feature minus the mean story word feature."""
    dirs = np.stack([features.text_features(list(CONCEPTS[c])).mean(0) - story_mean for c in concepts])
    return dirs / np.linalg.norm(dirs, axis=1, keepdims=True)


def plant_voxels(mask: object, concepts: tuple[str, ...], per_concept: int) -> dict[int, str]:
    """Voxel column -> concept: the ``per_concept`` mask voxels nearest each concept's center."""
    ijk = mask_indices(mask)
    xyz = ijk @ mask.affine[:3, :3].T + mask.affine[:3, 3]
    planted: dict[int, str] = {}
    for c in concepts:
        dist = np.linalg.norm(xyz - np.asarray(CONCEPT_CENTERS_MM[c]), axis=1)
        free = [int(i) for i in np.argsort(dist) if int(i) not in planted]
        for i in free[:per_concept]:
            planted[i] = c
    return planted


def simulate(config: SimulationConfig, features: FeatureModel) -> Simulation:
    """Simulate one subject (see module docstring); everything in memory."""
    from nilearn.glm.first_level import spm_hrf

    names, transcripts = story_transcripts(config)
    mask = coarse_mni_mask(config.voxel_size_mm)
    n_vox = int(np.asarray(mask.dataobj).sum())
    planted = plant_voxels(mask, config.concepts, config.voxels_per_concept)
    word_feats = [features.word_features(t.words) for t in transcripts]
    story_mean = np.concatenate(word_feats).mean(0)
    dirs = concept_directions(features, config.concepts, story_mean)
    hrf = spm_hrf(config.tr, oversampling=1)
    rng = np.random.default_rng(config.seed)
    cols = {c: [v for v, cc in planted.items() if cc == c] for c in config.concepts}
    responses = []
    for t, wf in zip(transcripts, word_feats):
        n_trs = int(np.ceil((t.end_s + config.tail_s) / config.tr))
        drive = lanczos_downsample((wf - story_mean) @ dirs.T, t.times, tr_times(n_trs, config.tr))
        bold = zscore(np.stack([np.convolve(drive[:, j], hrf)[:n_trs] for j in range(len(dirs))], axis=1))
        y = rng.standard_normal((n_trs, n_vox)).astype(np.float32)
        for j, c in enumerate(config.concepts):
            y[:, cols[c]] += np.sqrt(config.snr) * bold[:, j:j + 1]
        responses.append(y)
    return Simulation(names, transcripts, responses, mask, planted, config)


def write_simulation(sim: Simulation, root: str | Path) -> Path:
    """Write ``sim`` in the BIDS-like layout of :func:`sasc.fmri.io.load_bids`; returns ``root``.

    Files: ``sub-01/func/*_bold.nii.gz`` (+ ``_bold.json``, ``_events.tsv``),
    ``sub-01/anat/sub-01_space-MNI152_mask.nii.gz`` and ``derivatives/simulation/ground_truth.tsv``
    (+ ``simulation.json``).
    """
    import nibabel as nib

    root = Path(root)
    func, anat, deriv = root / "sub-01" / "func", root / "sub-01" / "anat", root / "derivatives" / "simulation"
    for d in (func, anat, deriv):
        d.mkdir(parents=True, exist_ok=True)
    nib.save(sim.mask, anat / "sub-01_space-MNI152_mask.nii.gz")
    sel = np.asarray(sim.mask.dataobj) > 0
    for name, t, y in zip(sim.names, sim.transcripts, sim.responses):
        vol = np.zeros(sim.mask.shape + (len(y),), dtype=np.float32)
        vol[sel] = 1000.0 + 10.0 * y.T  # a BOLD-like baseline; z-scoring removes it
        img = nib.Nifti1Image(vol, sim.mask.affine)
        img.header.set_xyzt_units("mm", "sec")
        img.header["pixdim"][4] = sim.config.tr
        nib.save(img, func / f"{name}_bold.nii.gz")
        (func / f"{name}_bold.json").write_text(json.dumps({"RepetitionTime": sim.config.tr, "TaskName": name}))
        rows = ["onset\tduration\tword"] + [f"{a:.3f}\t{b - a:.3f}\t{w}" for w, a, b in zip(t.words, t.onsets, t.offsets)]
        (func / f"{name}_events.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    ijk = mask_indices(sim.mask)
    xyz = ijk @ sim.mask.affine[:3, :3].T + sim.mask.affine[:3, 3]
    lines = ["voxel\ti\tj\tk\tx_mm\ty_mm\tz_mm\tconcept"]
    for v, c in sorted(sim.planted.items()):
        lines.append("\t".join([str(v), *map(str, ijk[v]), *(f"{q:g}" for q in xyz[v]), c]))
    (deriv / "ground_truth.tsv").write_text("\n".join(lines) + "\n")
    (deriv / "simulation.json").write_text(json.dumps({**asdict(sim.config), "patterns": CONCEPT_PATTERNS}, indent=1))
    return root


def read_ground_truth(root: str | Path) -> dict[int, str]:
    """Voxel column -> planted concept, from ``derivatives/simulation/ground_truth.tsv``."""
    path = Path(root) / "derivatives" / "simulation" / "ground_truth.tsv"
    if not path.is_file():
        raise ConfigError(f"{str(path)!r} does not exist: is {str(root)!r} a simulated dataset?")
    rows = path.read_text().splitlines()[1:]
    return {int(r.split("\t")[0]): r.split("\t")[-1] for r in rows if r.strip()}


def simulate_dataset(root: str | Path, config: SimulationConfig, features: FeatureModel) -> Dataset:
    """Simulate, write to ``root`` and read back with :func:`load_bids`."""
    write_simulation(simulate(config, features), root)
    return load_bids(root)
