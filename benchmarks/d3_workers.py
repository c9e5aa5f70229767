"""D3 runs with 1 worker vs N worker processes, side by side, on fresh reply caches.

Usage::

    python benchmarks/d3_workers.py --tasks 12-17              # 1 vs 2 workers
    python benchmarks/d3_workers.py --tasks 0-9 --workers 4 --data ../shared/d3

Both runs use the default setting, seed 0 and the embedded helper, each with its own
empty helper-reply cache (the n-gram responses and models are linked from the normal
cache, so they must be warm: run ``sasc benchmark d3`` once first). Prints both wall
times, the summed per-run seconds (how much each run slows down when runs share the
machine), the helper tokens, and the speed-up ratio; and whether the two runs picked
the same best explanations (llama.cpp's thread count can change a sampled reply).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from sasc.bench.cli import parse_ints
from sasc.bench.d3 import D3Options, run_d3
from sasc.cache import default_cache_dir


def fresh_cache(root: Path, name: str) -> Path:
    """A cache dir with an empty reply cache and the warm responses/models linked in."""
    path = root / name
    path.mkdir()
    for sub in ("responses", "models", "hf"):
        if (default_cache_dir() / sub).exists():
            os.symlink(default_cache_dir() / sub, path / sub)
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="../shared/d3")
    p.add_argument("--tasks", default="12-17", type=lambda v: parse_ints(v, "--tasks"),
                   help="tasks, e.g. 12-17 or 0,3,5-9")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    tasks = args.tasks
    if not tasks:
        p.error("--tasks must name at least one task")
    options = D3Options(settings=("default",))
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, args.workers):
            t0 = time.perf_counter()
            report = run_d3(args.data, tasks=tasks, options=options, out=Path(tmp) / f"out{n}",
                            cache_dir=fresh_cache(Path(tmp), f"cache{n}"), workers=n)
            rows[n] = {"wall_s": time.perf_counter() - t0,
                       "run_s": sum(r.seconds for r in report.records),
                       "tokens": sum(r.prompt_tokens + r.completion_tokens for r in report.records),
                       "best": [r.explanations[0] if r.explanations else "" for r in report.records]}
            print(f"{n} worker(s): wall {rows[n]['wall_s']:.0f} s, summed run time {rows[n]['run_s']:.0f} s, "
                  f"{rows[n]['tokens']} helper tokens", flush=True)
    one, many = rows[1], rows[args.workers]
    same = sum(a == b for a, b in zip(one["best"], many["best"]))
    print(json.dumps({"tasks": tasks, "workers": args.workers, "speedup_wall": one["wall_s"] / many["wall_s"],
                      "run_slowdown": many["run_s"] / one["run_s"], "same_best": f"{same}/{len(tasks)}"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
