"""Recovery of planted concepts on simulated fMRI: does a voxel's top explanation name its concept?

Usage::

    python benchmarks/fmri_recovery.py                          # SNR 1.0 and 0.1, embedded helper
    python benchmarks/fmri_recovery.py --snr 1 --per-concept 1 --helper fake   # plumbing only

For each SNR: simulate a subject (news stories, MNI152 mask, four planted concepts), fit the
encoding model, take the ``--per-concept`` planted voxels with the best held-out r per concept,
explain them with the real pipeline and judge the top explanation with the concept's regex
(:data:`sasc.fmri.CONCEPT_PATTERNS`) and the form check (``readable_winners``; ``--no-form``: form
repair and the readable ranking off, for a before/after comparison). Prints one JSON object (also written to ``--out``).
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from sasc import ExplainConfig
from sasc.fmri import (
    CONCEPT_PATTERNS, EncodingConfig, FeatureModel, SimulationConfig, explain_voxels, fit_encoding, simulate,
)


def run_snr(snr: float, args: argparse.Namespace, features: FeatureModel, cache: Path) -> dict:
    """Simulate, fit and explain at one SNR; returns the per-voxel verdicts and the recovery rate."""
    sim_cfg = SimulationConfig(n_runs=args.runs, words_per_run=args.words, snr=snr, voxel_size_mm=args.voxel_size,
                               voxels_per_concept=args.planted, seed=args.seed)
    t0 = time.perf_counter()
    sim = simulate(sim_cfg, features)
    model = fit_encoding(sim.dataset(), features, test_runs=2, config=EncodingConfig())
    fit_s = time.perf_counter() - t0
    chosen = []
    for c in sim_cfg.concepts:
        cols = [v for v, cc in sim.planted.items() if cc == c]
        chosen += sorted(cols, key=lambda v: -model.test_r[v])[: args.per_concept]
    config = ExplainConfig(n_candidates=args.candidates, n_synthetic=args.synthetic, seed=args.seed,
                           form_repair=not args.no_form, readable_ranking=not args.no_form)
    t1 = time.perf_counter()
    rep = explain_voxels(model, voxels=chosen, corpus=args.corpus, helper=args.helper, config=config,
                         features=features, cache_dir=cache)
    explain_s = time.perf_counter() - t1
    planted = np.array(sorted(sim.planted))
    background = np.setdiff1d(np.arange(model.n_voxels), planted)
    top = set(np.argsort(-np.nan_to_num(model.test_r, nan=-1))[: len(planted)].tolist())
    rows = []
    form = {u.unit: u.best.form for u in rep.result.units if u.best is not None}
    for r in rep.rows:
        concept = sim.planted[r.voxel]
        check = form.get(r.unit)
        rows.append({"voxel": r.voxel, "concept": concept, "test_r": round(r.test_r, 3), "explanation": r.explanation,
                     "sigma": round(r.sigma, 2), "hit": bool(re.search(CONCEPT_PATTERNS[concept], r.explanation, re.I)),
                     "readable": None if check is None else check.passes,
                     "form_flags": [] if check is None else list(check.flags), "top_ngrams": r.top_ngrams[:8]})
    return {
        "snr": snr, "n_voxels": model.n_voxels, "n_trs_train": int(sum(len(y) for y in sim.responses[:-2])),
        "median_r_planted": float(np.median(model.test_r[planted])),
        "median_r_background": float(np.nanmedian(model.test_r[background])),
        "planted_in_top_by_r": len(top & set(planted.tolist())) / len(planted),
        "recovery": float(np.mean([r["hit"] for r in rows])), "n_explained": len(rows),
        "readable_winners": sum(bool(r["readable"]) for r in rows),
        "fit_s": round(fit_s, 1), "explain_s": round(explain_s, 1), "helper": rep.result.helper, "voxels": rows,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--snr", type=float, nargs="+", default=[1.0, 0.1], help="SNRs (default: 1.0 0.1)")
    p.add_argument("--helper", default="local", help="helper spec (default: local = embedded Qwen2.5-Coder-1.5B)")
    p.add_argument("--per-concept", type=int, default=2, help="voxels explained per concept (default: 2)")
    p.add_argument("--planted", type=int, default=8, help="voxels planted per concept (default: 8)")
    p.add_argument("--candidates", type=int, default=3, help="ExplainConfig.n_candidates (default: 3)")
    p.add_argument("--synthetic", type=int, default=8, help="ExplainConfig.n_synthetic (default: 8)")
    p.add_argument("--runs", type=int, default=10, help="simulated runs (default: 10)")
    p.add_argument("--words", type=int, default=400, help="words per run (default: 400)")
    p.add_argument("--voxel-size", type=float, default=8.0, help="MNI grid mm (default: 8)")
    p.add_argument("--corpus", default="news100", help="reference corpus (default: news100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", default=None, help="cache root (default: a fresh temporary folder)")
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("--no-form", action="store_true", help="form repair and the readable ranking off (σ alone picks)")
    args = p.parse_args()
    features = FeatureModel()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(args.cache_dir or tmp)
        out = {"config": {k: v for k, v in vars(args).items() if k != "out"},
               "results": [run_snr(s, args, features, cache) for s in args.snr]}
    text = json.dumps(out, indent=1)
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
