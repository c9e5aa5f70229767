"""Forward tokens and wall time with prefix sharing vs naive per-n-gram evaluation.

Usage::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/prefix_sharing.py --ngrams 3000 --layer 5

Same n-gram slice as ``neurons_bank.py`` (unique 1..3-grams of news100 texts). Modes:
"none" runs every distinct n-gram as its own sequence (batched, length-sorted); "leaves"
runs only n-grams that are not a strict token prefix of another n-gram in the same shard;
"tree" packs each shard's token trie into rows with ancestor-only attention, so every
distinct prefix is computed once per row. Shards come from the stage runner (token-id
order). Also checks that every mode gives the naive responses.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
from neurons_bank import ngram_slice


def run(bank, ngrams: list[str], repeats: int) -> tuple[float, np.ndarray, dict]:
    """Median seconds, responses, and forward counters of one n-gram stage."""
    from sasc.modules.neurons import ForwardStats
    from sasc.responses import plan_shards, score_shard

    def once():
        bank.stats = ForwardStats()
        t0 = time.perf_counter()
        shards, inverse = plan_shards(bank, ngrams, 4096)
        vals = np.empty((len(ngrams), len(bank.units)), np.float32)
        for s in shards:
            vals[s.rows] = score_shard(bank, ngrams, s)
        return time.perf_counter() - t0, vals

    once()  # warm-up
    times, vals = [], None
    for _ in range(repeats):
        t, vals = once()
        times.append(t)
    return statistics.median(times), vals, dict(vars(bank.stats))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="SmolLM2-135M-Instruct")
    p.add_argument("--layer", type=int, default=5)
    p.add_argument("--texts", type=int, default=20)
    p.add_argument("--ngrams", type=int, default=None, help="keep the first N unique n-grams (default: all)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--aggregation", default="max")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    import torch

    from sasc.modules.neurons import build_llm_neuron_bank

    if args.threads:
        torch.set_num_threads(args.threads)
    ngrams = ngram_slice(args.texts, args.ngrams)
    common = dict(site="mlp", layer=args.layer, aggregation=args.aggregation, device=args.device)
    res = {}
    for mode in ("none", "leaves", "tree"):
        bank = build_llm_neuron_bank(args.model, prefix_sharing=mode, **common)
        res[mode] = run(bank, ngrams, args.repeats)
    t_n, v_n, st_n = res["none"]
    out = {"model": args.model, "layer": args.layer, "n_ngrams": len(ngrams), "device": bank.device,
           "threads": torch.get_num_threads()}
    for mode, (t, v, st) in res.items():
        out[mode] = {**st, "seconds": round(t, 3), "forward_token_ratio_vs_none": round(st_n["tokens"] / st["tokens"], 3),
                     "wall_time_ratio_vs_none": round(t_n / t, 3), "max_abs_diff_vs_none": float(np.abs(v - v_n).max())}
    out["max_abs_response"] = float(np.abs(v_n).max())
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
