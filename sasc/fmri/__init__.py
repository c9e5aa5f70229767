"""fMRI voxels as text modules: data in, encoding models, voxel banks, explanations, brain maps.

Typical use::

    from sasc.fmri import FeatureModel, load_bids, fit_encoding, explain_voxels, write_report
    feats = FeatureModel()                              # MiniLM word features, 4 words of context
    data = load_bids("my_study", subject="01")          # NIfTI runs + transcripts + mask
    model = fit_encoding(data, feats, test_runs=2)      # himalaya ridge, per-voxel alphas
    report = explain_voxels(model, top_k=10, helper="local")
    write_report(model, report, "out/")                 # σ / test-r NIfTI maps, PNGs, HTML

Needs the ``fmri`` extra (nibabel, nilearn, himalaya, h5py).
"""

from __future__ import annotations

from .encoding import EncodingConfig, EncodingModel, correlation, fit_encoding
from .explain import VoxelExplanation, VoxelReport, explain_voxels
from .features import FeatureModel, FeatureSettings, feature_model_from_spec, lanczos_downsample, make_delayed
from .io import Dataset, Run, load_bids, load_mask, read_array, run_responses
from .modules import VoxelBank, build_voxel_bank, select_voxels
from .report import ReportFiles, plot_map, voxel_image, write_report
from .simulate import CONCEPT_PATTERNS, CONCEPTS, Simulation, SimulationConfig, simulate, write_simulation
from .transcripts import Transcript, make_transcript, read_textgrid, read_transcript, read_tsv

__all__ = [
    "CONCEPTS", "CONCEPT_PATTERNS", "Dataset", "EncodingConfig", "EncodingModel", "FeatureModel", "FeatureSettings",
    "ReportFiles", "Run", "Simulation", "SimulationConfig", "Transcript", "VoxelBank", "VoxelExplanation",
    "VoxelReport", "build_voxel_bank", "correlation", "explain_voxels", "feature_model_from_spec", "fit_encoding",
    "lanczos_downsample", "load_bids", "load_mask", "make_delayed", "make_transcript", "plot_map", "read_array",
    "read_textgrid", "read_transcript", "read_tsv", "run_responses", "select_voxels", "simulate", "voxel_image",
    "write_report", "write_simulation",
]
