"""``sasc fmri simulate|fit|explain``: a thin command-line adapter over :mod:`sasc.fmri`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from ..cli_common import TqdmProgress, add_method_args, method_config, parse_ints
from ..corpora import BUILTIN_CORPORA, DEFAULT_GENERIC, DEFAULT_REFERENCE
from ..lists import split_list
from ..scorers.cli import add_explain_scorer_args


def cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import SimulationConfig, simulate, write_simulation
    from .features import FeatureModel

    cfg = SimulationConfig(n_runs=args.runs, words_per_run=args.words, tr=args.tr, snr=args.snr,
                           voxel_size_mm=args.voxel_size, concepts=tuple(split_list(args.concepts)),
                           voxels_per_concept=args.per_concept, seed=args.seed)
    feats = FeatureModel(args.feature_kind, args.feature_model, args.context, args.decay)
    sim = simulate(cfg, feats)
    write_simulation(sim, args.out)
    print(f"wrote {len(sim.names)} runs, {sim.responses[0].shape[1]} voxels, {len(sim.planted)} planted "
          f"({', '.join(cfg.concepts)}) to {args.out}")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from .encoding import EncodingConfig, fit_encoding
    from .features import FeatureModel, FeatureSettings
    from .io import load_bids

    data = load_bids(args.data, args.subject, mask=args.mask, tr=args.tr, task=args.task)
    test = int(args.test_runs) if args.test_runs.isdigit() else split_list(args.test_runs)
    trims = parse_ints(args.trim, "--trim") or [0]
    cfg = EncodingConfig(features=FeatureSettings(delays=tuple(parse_ints(args.delays, "--delays") or ()), trim_start=trims[0], trim_end=trims[-1]),
                         backend=args.backend)
    feats = FeatureModel(args.feature_kind, args.feature_model, args.context, args.decay)
    bar = TqdmProgress(not args.quiet)
    try:
        model = fit_encoding(data, feats, test_runs=test, config=cfg, progress=bar)
    finally:
        bar.close()
    model.save(args.out)
    r = model.test_r
    print(f"fitted {model.n_voxels} voxels on {len(model.train_runs)} runs in {model.fit_seconds:.1f}s; test runs "
          f"{model.test_runs}: median r {np.nanmedian(r):.3f}, max r {np.nanmax(r):.3f}, "
          f"{int((r > 0.1).sum())} voxels with r > 0.1\nwrote {args.out}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain voxels, optionally score their candidates with predictive scorers (``--scorers``;
    ``--rank-by`` chooses each voxel's first explanation; the report shows the scores)."""
    from .encoding import EncodingModel
    from .explain import explain_voxels
    from .report import write_report

    from ..explain import resolve_helper
    from ..scorers import parse_scorers
    from ..scorers.cli import score_config

    model = EncodingModel.load(args.model)
    config = method_config(args)
    cache = args.cache_dir or os.environ.get("SASC_CACHE")
    predictive = parse_scorers(args.scorers)  # unknown names fail before anything runs
    helper = args.helper if not predictive else resolve_helper(args.helper, cache)  # one model for both
    bar = TqdmProgress(not args.quiet)
    try:
        rep = explain_voxels(model, voxels=parse_ints(args.voxels, "--voxels"), top_k=args.top_k,
                             min_r=args.min_r, corpus=args.corpus, generic=args.generic, helper=helper,
                             config=config, cache_dir=Path(cache) if cache else None, progress=bar)
    finally:
        bar.close()
    if predictive or args.rank_by != "sigma":
        from ..scorers.run import add_scores
        from .explain import VoxelReport, voxel_rows
        from .modules import VoxelBank

        cols = [r.voxel for r in rep.rows]
        scored = add_scores(rep.result, VoxelBank(model, cols), corpus=args.corpus, helper=helper, cache_dir=cache,
                            config=score_config(args, predictive), rank_by=args.rank_by)
        rep = VoxelReport(voxel_rows(model, cols, scored), scored)  # --rank-by may change each voxel's first
    files = write_report(model, rep, args.out)
    print(f"{'voxel':>7} {'test r':>7} {'σ':>6}  explanation")
    for row in rep.rows:
        print(f"{row.voxel:>7} {row.test_r:7.3f} {row.sigma:6.2f}  {row.explanation}")
    print(f"\nwrote {files.html}, {files.table}" + (f", {files.sigma_map}, {files.r_map}" if files.sigma_map else ""))
    return 0


def _feature_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--feature-kind", default="words", choices=("words", "window"),
                   help="feature model: 'words' (per-word embeddings averaged over the context, fast) or 'window' "
                        "(the encoder reads the context window, slower) (default: words)")
    p.add_argument("--feature-model", default=None, help="sentence-transformers name or path (default: packaged all-MiniLM-L6-v2)")
    p.add_argument("--context", type=int, default=4, help="preceding words a word's feature sees (default: 4)")
    p.add_argument("--decay", type=float, default=0.7, help="weight ratio per word back, words kind (default: 0.7)")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sasc fmri ...`` to the main parser."""
    f = subparsers.add_parser("fmri", help="fMRI encoding models: simulate, fit, explain voxels")
    sub = f.add_subparsers(dest="fmri_command", required=True)

    s = sub.add_parser("simulate", help="write a simulated story-listening dataset with planted concepts")
    s.add_argument("out", help="output folder (BIDS-like)")
    s.add_argument("--runs", type=int, default=10, help="stories / runs (default: 10)")
    s.add_argument("--words", type=int, default=400, help="words per story (default: 400)")
    s.add_argument("--tr", type=float, default=2.0, help="TR in seconds (default: 2)")
    s.add_argument("--snr", type=float, default=1.0, help="signal/noise variance in planted voxels (default: 1)")
    s.add_argument("--voxel-size", type=float, default=6.0, help="MNI152 grid in mm (default: 6)")
    s.add_argument("--concepts", default="food,numbers,violence,family", help="planted concepts (default: all four)")
    s.add_argument("--per-concept", type=int, default=8, help="voxels per concept (default: 8)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    _feature_args(s)
    s.set_defaults(func=cmd_simulate)

    t = sub.add_parser("fit", help="fit a voxelwise ridge encoding model")
    t.add_argument("data", help="BIDS-like folder: sub-*/func/*_bold.nii.gz + *_events.tsv or .TextGrid")
    t.add_argument("--subject", default=None, help="subject label (default: the only one)")
    t.add_argument("--task", default=None, help="only runs of this task")
    t.add_argument("--mask", default=None, help="brain mask NIfTI (default: sub-*/anat/*mask.nii*)")
    t.add_argument("--tr", type=float, default=None, help="TR in seconds (default: _bold.json or NIfTI header)")
    t.add_argument("--test-runs", default="1", help="held-out runs: a count (the last runs) or comma-separated names (default: 1)")
    t.add_argument("--delays", default="1,2,3,4", help="FIR delays in TRs (default: 1,2,3,4)")
    t.add_argument("--trim", default="5,5", help="TRs trimmed at run start,end (default: 5,5)")
    t.add_argument("--backend", default="auto", help="himalaya backend: auto, numpy, torch, torch_cuda (default: auto)")
    t.add_argument("--out", "-o", default="encoding_model.npz", help="model file (default: encoding_model.npz)")
    t.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    _feature_args(t)
    t.set_defaults(func=cmd_fit)

    e = sub.add_parser("explain", help="explain the best voxels and write maps + an HTML report")
    e.add_argument("model", help="encoding model written by `sasc fmri fit`")
    e.add_argument("--top-k", type=int, default=10, help="explain the k voxels with the best test r (default: 10)")
    e.add_argument("--min-r", type=float, default=None, help="only voxels with test r >= this")
    e.add_argument("--voxels", default=None, help="voxel indices or ranges, e.g. 3,10-12 (overrides --top-k/--min-r)")
    e.add_argument("--corpus", default=DEFAULT_REFERENCE, help=f"reference corpus: {', '.join(BUILTIN_CORPORA)} or a path "
                                                               f"(default: {DEFAULT_REFERENCE})")
    e.add_argument("--generic", default=DEFAULT_GENERIC, help=f"generic corpus for σ (default: {DEFAULT_GENERIC})")
    e.add_argument("--helper", default="local", help="helper LLM spec, as for `sasc explain` (default: local)")
    add_method_args(e)
    e.add_argument("--cache-dir", default=None, help="cache root (default: $SASC_CACHE or ~/.cache/sasc)")
    e.add_argument("--out", "-o", default="fmri_report", help="report folder (default: fmri_report)")
    e.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    add_explain_scorer_args(e)
    e.set_defaults(func=cmd_explain)
