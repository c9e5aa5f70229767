"""N-gram stage cost for all neurons of one SmolLM2 layer vs a single neuron.

Usage::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/neurons_bank.py --ngrams 3000 --layer 5

The n-grams are the first ``--ngrams`` unique 1..3-grams of the first ``--texts`` texts of
the ``news100`` corpus. Both banks run the same prefix-shared forward passes (stopped after
the layer); the difference is reading, aggregating and returning 1536 columns instead of 1.
Each configuration runs ``--repeats`` times after a warm-up; the median is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def ngram_slice(n_texts: int, n_ngrams: int | None) -> list[str]:
    """The first ``n_ngrams`` (None: all) unique n-grams of the first ``n_texts`` news100 texts."""
    from sasc.corpora import load_corpus
    from sasc.ngrams import count_ngrams

    return count_ngrams(load_corpus("news100").texts[:n_texts]).ngrams[:n_ngrams]


def stage_seconds(bank, ngrams: list[str], repeats: int) -> float:
    """Median wall seconds of the n-gram stage (planning + all shards), no cache."""
    from sasc.responses import plan_shards, score_shard

    def once() -> float:
        t0 = time.perf_counter()
        shards, _ = plan_shards(bank, ngrams, 4096)
        for s in shards:
            score_shard(bank, ngrams, s)
        return time.perf_counter() - t0

    once()  # warm-up
    return statistics.median(once() for _ in range(repeats))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="SmolLM2-135M-Instruct")
    p.add_argument("--layer", type=int, default=5)
    p.add_argument("--texts", type=int, default=20)
    p.add_argument("--ngrams", type=int, default=None, help="keep the first N unique n-grams (default: all)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--aggregation", default="max")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args()
    import torch

    from sasc.modules.neurons import build_llm_neuron_bank

    if args.threads:
        torch.set_num_threads(args.threads)
    ngrams = ngram_slice(args.texts, args.ngrams)
    common = dict(site="mlp", layer=args.layer, aggregation=args.aggregation, device=args.device)
    one = build_llm_neuron_bank(args.model, units=[0], **common)
    full = build_llm_neuron_bank(args.model, units=None, **common)
    t_one = stage_seconds(one, ngrams, args.repeats)
    t_full = stage_seconds(full, ngrams, args.repeats)
    out = {"model": args.model, "layer": args.layer, "n_ngrams": len(ngrams), "device": full.device,
           "threads": torch.get_num_threads(), "units_full": len(full.units), "seconds_one_unit": round(t_one, 3),
           "seconds_all_units": round(t_full, 3), "cost_ratio": round(t_full / t_one, 3),
           "ngrams_per_s_all_units": round(len(ngrams) / t_full, 1)}
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
