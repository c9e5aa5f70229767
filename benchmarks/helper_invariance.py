"""Do a helper's replies depend on what is decoded beside them? Same requests, same seeds, at 1 slot and twice at 4.

    python benchmarks/helper_invariance.py --threads 1                    # llama.cpp's default (repacked weights)
    python benchmarks/helper_invariance.py --threads 1 --batch-invariant  # LocalLLM(batch_invariant=True)

Prints, per run, the seconds and tokens/s, how many replies equal the 1-slot replies and how
many equal the first 4-slot run's (so the second 4-slot run says whether batching is
reproducible run to run), with the load average (the cores may be shared).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from sasc.llm import LocalLLM, Request, Sampling, complete_many
    from sasc.synthetic import sentences_schema, synthetic_prompt

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, help="llama.cpp threads (default: all cores)")
    parser.add_argument("--batch-invariant", action="store_true", help="repacked weights off")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    args = parser.parse_args(argv)
    requests = [Request(synthetic_prompt(t, 3), Sampling(max_tokens=70, seed=i), sentences_schema(3))
                for i, t in enumerate(["food", "sports", "weather", "law"])]
    first: dict[int, list[str]] = {}
    for slots in (1, 4, 4):
        llm = LocalLLM.from_asset(args.model, slots=slots, n_threads=args.threads, batch_invariant=args.batch_invariant)
        llm.load()
        t = time.perf_counter()
        replies = complete_many(llm, requests)
        seconds = time.perf_counter() - t
        texts = [r.text for r in replies]
        tokens = sum(r.completion_tokens for r in replies)
        same = lambda ref: f"{sum(a == b for a, b in zip(texts, ref))}/{len(texts)}" if ref else "-"  # noqa: E731
        print(f"batch_invariant={args.batch_invariant} slots={slots} threads={llm.n_threads}: {seconds:.1f} s, "
              f"{tokens / seconds:.1f} tok/s; same as 1 slot: {same(first.get(1)) if slots > 1 else '-'}; "
              f"same as the first 4-slot run: {same(first.get(4))}; "
              f"load {Path('/proc/loadavg').read_text().split()[0]}", flush=True)
        first.setdefault(slots, texts)
        llm.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
