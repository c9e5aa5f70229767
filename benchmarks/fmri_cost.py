"""Cost of the n-gram stage for 1,000 voxels vs 1 voxel (target: <= 1.2x).

Usage::

    python benchmarks/fmri_cost.py                  # news100 n-grams, 1 vs 1000 voxels
    python benchmarks/fmri_cost.py --corpus news100 --voxels 1 1000 --repeats 2

A voxel bank computes each batch's features once and multiplies them by the
``[dim, n_voxels]`` weight matrix, so the voxel count should barely matter. Weights are
random (cost does not depend on their values). "cold" runs start with an empty word-vector
cache (what a first explanation pays: the encoder embeds the corpus vocabulary); "warm"
runs reuse it. No response cache is used. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from sasc import count_ngrams, load_corpus, ngram_responses
from sasc.fmri import EncodingConfig, EncodingModel, FeatureModel, VoxelBank
from sasc.fmri import features as feature_module


def random_model(features: FeatureModel, n_voxels: int, seed: int = 0) -> EncodingModel:
    """An encoding model with random weights of the right shapes."""
    rng = np.random.default_rng(seed)
    delays = EncodingConfig().features.delays
    return EncodingModel(rng.standard_normal((len(delays) * features.dim, n_voxels)).astype(np.float32),
                         np.ones(n_voxels, np.float32), rng.random(n_voxels).astype(np.float32), features.spec(),
                         np.zeros(features.dim, np.float32), np.ones(features.dim, np.float32), EncodingConfig(),
                         2.0, ["a", "b"], ["c"])


def time_stage(features: FeatureModel, table, n_voxels: int, cold: bool) -> float:
    """Seconds of :func:`sasc.ngram_responses` for a bank of ``n_voxels``."""
    bank = VoxelBank(random_model(features, n_voxels), features=features)
    if cold:
        for cache in feature_module._WORD_VECTORS.values():
            cache.clear()
    t0 = time.perf_counter()
    resp = ngram_responses(bank, table, cache=None)
    dt = time.perf_counter() - t0
    assert resp.values.shape == (len(table), n_voxels)
    return dt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default="news100", help="reference corpus (default: news100)")
    p.add_argument("--voxels", type=int, nargs=2, default=[1, 1000], help="the two bank sizes (default: 1 1000)")
    p.add_argument("--repeats", type=int, default=2, help="alternating repeats per setting (default: 2)")
    args = p.parse_args()
    features = FeatureModel()
    table = count_ngrams(load_corpus(args.corpus).texts)
    small, big = args.voxels
    out = {"corpus": args.corpus, "n_ngrams": len(table), "voxels": args.voxels}
    for mode in ("cold", "warm"):
        times = {small: [], big: []}
        for _ in range(args.repeats):
            for n in (small, big):
                times[n].append(time_stage(features, table, n, cold=(mode == "cold")))
        best = {n: min(v) for n, v in times.items()}
        out[mode] = {"seconds": {str(n): [round(t, 2) for t in v] for n, v in times.items()},
                     "ratio_best": round(best[big] / best[small], 3)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
