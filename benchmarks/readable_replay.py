"""Replay the readable ranking on finished D3 records (no helper call) and compare with them.

    python benchmarks/readable_replay.py D3_OUT REPLAY_OUT [--no-fluency]
    sasc benchmark compare D3_OUT REPLAY_OUT --fluency

Reads every record under ``D3_OUT/records``, adds the form check to each candidate, applies
:func:`sasc.readable.readable_first` and writes the re-judged records under
``REPLAY_OUT/records``; then prints the same comparison as ``sasc benchmark compare``. A
replay covers the ranking only: repairs and the scoring of pre-screened paraphrases need the
helper, so only a run with the options on measures them.
"""

from __future__ import annotations

import argparse
import time

from sasc.bench.compare import compare_records, format_comparison, read_records, readable_judge
from sasc.bench.replay import replay_folder
from sasc.form import fluency_scorer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", help="output folder of a `sasc benchmark d3` run")
    ap.add_argument("out", help="where the replayed records go")
    ap.add_argument("--no-fluency", action="store_true", help="the form rules only, no SmolLM2 fluency")
    args = ap.parse_args()
    fluency = None if args.no_fluency else fluency_scorer("smollm2")
    t0 = time.perf_counter()
    base = read_records(args.base)
    new = replay_folder(base, args.out, fluency)
    moved = [r for r in new if r.unit.get("reranked_from")]
    print(f"replayed {len(new)} records in {time.perf_counter() - t0:.1f} s; the winner moved in {len(moved)}")
    for r in moved:
        print(f"  {r.setting} seed {r.seed} {r.task}: {r.unit['reranked_from']!r} -> {r.explanations[0]!r}")
    print(format_comparison(compare_records(base, new, readable=readable_judge(not args.no_fluency))))


if __name__ == "__main__":
    main()
