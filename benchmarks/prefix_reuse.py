"""Per-text scorers with and without prompt-prefix reuse, side by side in one run (embedded helper).

Usage::

    python benchmarks/prefix_reuse.py --d3 11,12,14 --n-top 6 --n-random 6 --pool-size 500

Every scorer's prompts about one explanation share everything before the text (instructions and
explanation first), and ``sasc.scorers.ask.ask`` marks them ``reuse_prefix``, so the embedded
llama.cpp helper keeps the previous prompt's KV cache and evaluates only the text and what follows.
This script scores the D3 ground-truth keyphrase of each task (MiniLM distance module, a
top-and-random set from the task's corpus, as ``predictive_scoring.py --d3`` draws it) twice with
one loaded model: the *reuse* arm as the scorers ask, and the *cold* arm with the hint cleared on
every request (the whole prompt evaluated, as before). The arms alternate which goes first task by
task, share no reply cache, and are timed around the scorers only. Prints per arm the helper's
seconds, llama.cpp's evaluated prompt tokens, the ratio, how far the first reply token's
probabilities moved between the arms per prompt (a reused prefix is evaluated in other batches, so
the logits differ slightly), and the largest difference in any score.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sasc.lists import parse_ranges  # noqa: E402
from sasc.llm import wrap_helper  # noqa: E402
from sasc.llm.factory import build_backend  # noqa: E402
from sasc.modules.base import as_bank  # noqa: E402
from sasc.modules.embedding import EmbeddingDistanceBank  # noqa: E402
from sasc.corpora import Corpus  # noqa: E402
from sasc.scorers import ScoreConfig, SetConfig, score_on_set  # noqa: E402
from sasc.scorers.run import draw_prepared_set  # noqa: E402


class Arm:
    """The shared backend with every request's ``reuse_prefix`` set to ``reuse``; sums llama.cpp's
    own count of evaluated prompt tokens (prompt-cache hits excluded) and its prompt milliseconds."""

    def __init__(self, backend, reuse: bool) -> None:
        self.inner, self.reuse, self.name = backend, reuse, backend.name
        self.evaluated = self.prompt_ms = self.calls = 0
        self.first: dict[str, dict[str, float]] = {}  # prompt -> its reply's first-token probabilities

    def complete(self, prompt, *, sampling, json_schema=None):
        reply = self.inner.complete(prompt, sampling=dataclasses.replace(sampling, reuse_prefix=self.reuse),
                                    json_schema=json_schema)
        t = self.inner.last_timings
        self.evaluated += t.prompt_tokens
        self.prompt_ms += t.prompt_ms
        self.calls += 1
        if reply.top_logprobs:
            self.first[prompt] = {tok: math.exp(lp) for tok, lp in reply.top_logprobs[0]}
        return reply


def probability_gaps(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> list[float]:
    """Per prompt both arms asked, the largest difference in the probability of any first token
    either arm listed (a token one arm left out counts as 0 there)."""
    return [max(abs(a[p].get(k, 0.0) - b[p].get(k, 0.0)) for k in a[p].keys() | b[p].keys())
            for p in a.keys() & b.keys()]


def main() -> None:
    import numpy as np

    from sasc.bench.tasks import D3Corpora, load_tasks, select_tasks

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--d3", default="11,12,14", help="task indices or ranges")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "d3"))
    ap.add_argument("--scorers", default="simulation,detection,fuzzing")
    ap.add_argument("--helper", default="local")
    ap.add_argument("--n-top", type=int, default=6)
    ap.add_argument("--n-random", type=int, default=6)
    ap.add_argument("--pool-size", type=int, default=500)
    args = ap.parse_args()

    tasks = load_tasks(args.data)
    chosen = select_tasks(tasks, parse_ranges(args.d3))
    corpora = D3Corpora(tasks)
    backend = build_backend(args.helper)
    if not hasattr(backend, "last_timings"):
        sys.exit(f"--helper {args.helper}: this benchmark needs an embedded llama.cpp helper (local, local:MODEL)")
    backend.load()
    names = tuple(args.scorers.split(","))
    cfg = ScoreConfig(scorers=names, baseline=False,
                      set=SetConfig(n_top=args.n_top, n_random=args.n_random, pool_size=args.pool_size))
    arms = {"reuse": Arm(backend, True), "cold": Arm(backend, False)}
    seconds = {a: 0.0 for a in arms}
    worst = 0.0
    for i, t in enumerate(chosen):
        bank = as_bank(EmbeddingDistanceBank([t.keyphrase]))
        sset = draw_prepared_set(bank, 0, Corpus(corpora.source(t), corpora.texts(t)), cfg)
        got = {}
        for a in (("reuse", "cold") if i % 2 == 0 else ("cold", "reuse")):
            helper = wrap_helper(arms[a], None)  # a fresh in-memory reply cache: no reply shared between arms
            t0 = time.perf_counter()
            got[a] = score_on_set([t.keyphrase], sset, t.name, helper, cfg)[0]
            seconds[a] += time.perf_counter() - t0
        diffs = {n: abs(got["reuse"][n].value - got["cold"][n].value) for n in names}
        worst = max([worst, *(d for d in diffs.values() if np.isfinite(d))])
        print(f"task {t.index:2d} {t.name[:18]:18s} " + "  ".join(
            f"{n} {got['reuse'][n].value:.4f} / {got['cold'][n].value:.4f}" for n in names)
            + f"   load {os.getloadavg()[0]:.1f}", flush=True)
    r, c = arms["reuse"], arms["cold"]
    print(f"{len(chosen)} tasks, {r.calls} calls per arm ({', '.join(names)}; {args.n_top} top + {args.n_random} random texts)")
    for a in ("cold", "reuse"):
        print(f"  {a:5s}: {seconds[a]:7.1f} s, {arms[a].evaluated} prompt tokens evaluated "
              f"({arms[a].prompt_ms / 1000:.1f} s of prompt evaluation)")
    gaps = np.array(probability_gaps(r.first, c.first))
    if gaps.size:
        print(f"first-token probabilities, reuse vs cold, over {gaps.size} prompts: largest difference "
              f"median {np.median(gaps):.2e}, 90th percentile {np.quantile(gaps, 0.9):.2e}, max {gaps.max():.2e}")
    print(f"reuse / cold: time {seconds['reuse'] / seconds['cold']:.2f}x, evaluated prompt tokens "
          f"{r.evaluated / max(c.evaluated, 1):.2f}x; largest score difference between the arms {worst:.2e}")


if __name__ == "__main__":
    main()
