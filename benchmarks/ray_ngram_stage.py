"""N-gram stage of the MiniLM embedding-distance module: local backend vs Ray with 1 and 2 workers.

All three score the same n-gram table (the first ``--articles`` articles of ``news100``)
with the same shards; no response cache. Runs are interleaved (local, ray-1, ray-2, local,
...) so load from other processes spreads over all three. Ray runs on a local cluster of
``--cpus`` CPUs started here; ray-1 gets all of them (one actor, ``--cpus`` torch threads),
ray-2 one each. "cold" includes starting the actors and loading the model in them; "warm"
reuses running actors (a service or a long job pays startup once).

Prints one JSON object: per backend the wall times of every repeat, the median, and the
per-shard figures (worker seconds, bytes sent and received) a scaling model needs.

    nice -n 10 python benchmarks/ray_ngram_stage.py --articles 30 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

KEYPHRASES = ["food and cooking"]


def per_shard(stats, n_shards: int) -> dict:
    return {"shards": stats.shards, "texts": stats.texts, "worker_s_per_shard": stats.worker_seconds / n_shards,
            "bytes_sent_per_shard": stats.bytes_sent / n_shards,
            "bytes_received_per_shard": stats.bytes_received / n_shards,
            "startup_s": stats.startup_seconds, "worker_ngrams_per_s": stats.texts / max(stats.worker_seconds, 1e-9)}


def worker_threads(ray, cpus: float) -> int:
    """torch intra-op threads inside an actor reserving ``cpus`` CPUs."""

    class Probe:
        def threads(self) -> int:
            import torch

            return torch.get_num_threads()

    actor = ray.remote(Probe).options(num_cpus=cpus).remote()
    try:
        return ray.get(actor.threads.remote())
    finally:
        ray.kill(actor)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--articles", type=int, default=30, help="news100 articles in the reference corpus (default: 30)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats of each backend (default: 3)")
    ap.add_argument("--shard-size", type=int, default=4096, help="n-grams per shard (default: 4096, the library's)")
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster (default: 2)")
    args = ap.parse_args()

    import ray
    import torch

    from sasc.corpora import load_corpus
    from sasc.distributed import ModuleSpec, RayRunner
    from sasc.ngrams import count_ngrams
    from sasc.responses import ngram_responses, plan_shards

    table = count_ngrams(load_corpus("news100").texts[: args.articles])
    spec = ModuleSpec("embedding_distance", {"keyphrases": KEYPHRASES})
    bank = spec.build()
    n_shards = len(plan_shards(bank, table.ngrams, args.shard_size)[0])
    t = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, object_store_memory=200 * 1024**2, log_to_driver=False)
    init_s = time.perf_counter() - t
    threads = {"driver": torch.get_num_threads(), "ray1_actor": worker_threads(ray, args.cpus),
               "ray2_actor": worker_threads(ray, 1)}
    backends = {
        "local": None,
        "ray1": RayRunner(spec, workers=1, cpus_per_worker=args.cpus, keep_workers=True),
        "ray2": RayRunner(spec, workers=2, cpus_per_worker=1, keep_workers=True),
    }
    ngram_responses(bank, table, shard_size=args.shard_size)  # warm the driver's model
    reference = None
    out: dict = {name: {"warm_s": []} if runner is None else {"cold_s": [], "warm_s": []}
                 for name, runner in backends.items()}
    for _ in range(args.repeats):
        for name, runner in backends.items():
            for other in backends.values():  # one pool at a time: each takes all the cluster's CPUs
                if other is not None and other is not runner:
                    other.close()
            for phase in ("warm",) if runner is None else ("cold", "warm"):
                if phase == "cold":
                    runner.close()  # a fresh pool: actor start + model load included
                t = time.perf_counter()
                res = ngram_responses(bank, table, shard_size=args.shard_size, runner=runner)
                out[name][f"{phase}_s"].append(time.perf_counter() - t)
                if reference is None:
                    reference = res.values
                assert np.allclose(res.values, reference, atol=1e-5), f"{name} differs from local"
                if runner is not None:
                    out[name][f"{phase}_per_shard"] = per_shard(runner.stats, n_shards)
    for runner in backends.values():
        if runner is not None:
            runner.close()
    for name, d in out.items():
        for phase in ("cold", "warm"):
            if d.get(f"{phase}_s"):
                d[f"{phase}_median_s"] = statistics.median(d[f"{phase}_s"])
    local = out["local"]["warm_median_s"]
    summary = {
        "ray1_overhead_warm": out["ray1"]["warm_median_s"] / local - 1,
        "ray1_overhead_cold": out["ray1"]["cold_median_s"] / local - 1,
        "ray2_speedup_warm": local / out["ray2"]["warm_median_s"],
        "ray2_speedup_cold": local / out["ray2"]["cold_median_s"],
    }
    print(json.dumps({"n_ngrams": len(table), "n_shards": n_shards, "shard_size": args.shard_size,
                      "ray_init_s": init_s, "torch_threads": threads, "summary": summary, **out}, indent=1))


if __name__ == "__main__":
    main()
