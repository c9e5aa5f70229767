"""Single-pass vs iterative explainer on D3 runs (issue 27): accuracy, cost, tools, MAIA-protocol scores.

Usage::

    sasc benchmark d3 --tasks 1,2,4,11,18,26,39,44 --seeds 0 --settings default --method single,iterative --out both
    python benchmarks/iterative_d3.py --single both/single --iterative both/iterative [--maia]

Reads the task records of both runs (same tasks, settings and seeds) and prints, per task, the
winner of each method with its σ and whether the judge's regex recovers it, whether the winner is one
of the experimenter's own hypotheses, how the loop stopped and which tools it used; then top-1 and
any-candidate counts of both, the cost per unit (helper calls, tokens, seconds) and the tools used
on the tasks the iterative method recovered and on all. ``--maia``: the ``maia`` scorer (MAIA's
protocol) on each task's module for three explanations: the single-pass winner, the iterative winner
and the ground-truth keyphrase, and their means (local helper; replies cached under ``--cache-dir``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def records(folder: str) -> dict[tuple[str, int, int], dict]:
    out = {}
    for f in Path(folder, "records").rglob("*.json"):
        r = json.loads(f.read_text())
        out[(r["setting"], r["seed"], r["index"])] = r
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--single", required=True, help="output folder of the single-pass D3 run")
    ap.add_argument("--iterative", required=True, help="output folder of the iterative D3 run")
    ap.add_argument("--maia", action="store_true", help="also score three explanations per task by MAIA's protocol")
    ap.add_argument("--helper", default="local")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--out", default=None, help="write the table as JSON here")
    args = ap.parse_args()
    single, it = records(args.single), records(args.iterative)
    keys = sorted(set(single) & set(it), key=lambda k: (k[0], k[1], k[2]))
    if not keys:
        sys.exit("no task is in both runs")
    rows, tools_all, tools_won = [], Counter(), Counter()
    for k in keys:
        s, r = single[k], it[k]
        x = r["unit"].get("experiment") or {}
        own = {h.lower() for h in x.get("ranked", [])}
        won_by_loop = bool(r["explanations"]) and r["explanations"][0].lower() in own
        used = Counter({a.split(".", 1)[1]: n for a, n in (x.get("counts") or {}).items() if a.startswith("action.")})
        tools_all.update(used)
        if r["top1"] and not s["top1"]:
            tools_won.update(used)
        rows.append({"setting": k[0], "seed": k[1], "index": k[2], "keyphrase": r["keyphrase"],
                     "single": s["explanations"][0] if s["explanations"] else "", "single_sigma": s["sigmas"][0],
                     "single_top1": s["top1"], "single_any": s["any_candidate"],
                     "iterative": r["explanations"][0] if r["explanations"] else "", "iterative_sigma": r["sigmas"][0],
                     "iterative_top1": r["top1"], "iterative_any": r["any_candidate"], "winner_from_loop": won_by_loop,
                     "status": x.get("status"), "rounds": x.get("rounds"), "tools": dict(used),
                     "tested": x.get("ranked", []),
                     "cost": {m: {"calls": d["llm_calls"], "tokens": d["prompt_tokens"] + d["completion_tokens"],
                                  "seconds": d["seconds"]} for m, d in (("single", s), ("iterative", r))}})
    print(f"{'task':28} {'single (σ)':36} {'iterative (σ)':40} loop")
    for w in rows:
        mark = lambda ok: "+" if ok else "-"  # noqa: E731
        print(f"{w['index']:>2} {w['keyphrase'][:25]:25} {mark(w['single_top1'])} {w['single'][:26]:26} "
              f"{w['single_sigma'] or float('nan'):5.2f}  {mark(w['iterative_top1'])} {w['iterative'][:28]:28} "
              f"{w['iterative_sigma'] or float('nan'):5.2f}  {'loop' if w['winner_from_loop'] else '    '} "
              f"{w['status']}, {w['rounds']} rounds, {', '.join(f'{a} {n}' for a, n in w['tools'].items())}")
    n = len(rows)
    for m in ("single", "iterative"):
        top1 = sum(w[f"{m}_top1"] for w in rows)
        anyc = sum(w[f"{m}_any"] for w in rows)
        cost = {c: np.mean([w["cost"][m][c] for w in rows]) for c in ("calls", "tokens", "seconds")}
        print(f"{m:10} top-1 {top1}/{n}, any candidate {anyc}/{n}; per unit {cost['calls']:.1f} helper calls, "
              f"{cost['tokens']:.0f} tokens, {cost['seconds']:.0f} s")
    ratio = np.mean([w["cost"]["iterative"]["seconds"] for w in rows]) / max(
        1e-9, np.mean([w["cost"]["single"]["seconds"] for w in rows]))
    print(f"iterative / single wall time per unit: {ratio:.2f}x (goal: within 4x)")
    print(f"winners that are the loop's own hypotheses: {sum(w['winner_from_loop'] for w in rows)}/{n}")
    print(f"tools used, all tasks: {dict(tools_all)}; on the tasks only the iterative method recovered: {dict(tools_won)}")
    if args.maia:
        maia(rows, args)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
        print(f"wrote {args.out}")


def maia(rows: list[dict], args: argparse.Namespace) -> None:
    from sasc.bench.tasks import load_tasks
    from sasc.corpora import load_corpus
    from sasc.explain import resolve_helper
    from sasc.modules.embedding import EmbeddingDistanceBank
    from sasc.scorers import ScoreConfig, SetConfig
    from sasc.scorers.run import score_explanations

    tasks = {t.index: t for t in load_tasks()}
    helper = resolve_helper(args.helper, args.cache_dir)
    table = {"single": [], "iterative": [], "ground truth": []}
    print("\nMAIA-protocol score (σ of the generic corpus), per task: single / iterative / ground truth")
    for w in rows:
        t = tasks[w["index"]]
        expl = {"single": w["single"], "iterative": w["iterative"], "ground truth": t.keyphrase}
        distinct = list(dict.fromkeys(e for e in expl.values() if e))
        report = score_explanations(EmbeddingDistanceBank([t.keyphrase]), distinct, helper=helper,
                                    corpus=load_corpus(t.corpus_file, column="input") if t.corpus_file else "news100",
                                    config=ScoreConfig(("maia",), SetConfig(n_top=2, n_random=2, pool_size=200),
                                                       baseline=False))
        got = {e["explanation"]: e["scores"]["maia"]["value"] for e in report["explanations"]}
        vals = {m: got.get(e.strip()) for m, e in expl.items()}
        for m, v in vals.items():
            if v is not None:
                table[m].append(v)
        w["maia"] = vals
        print(f"{w['index']:>2} {t.keyphrase[:30]:30} " + " / ".join(f"{vals[m]:.2f}" if vals[m] is not None else "-"
                                                                   for m in table))
    print("mean: " + ", ".join(f"{m} {np.mean(v):.2f} (n={len(v)})" for m, v in table.items() if v))


if __name__ == "__main__":
    main()
