"""Predictive scoring (issue 25): cost of a unit's simulation, and scorer sanity on D3 tasks.

Usage::

    python benchmarks/predictive_scoring.py --cost               # each scorer on one unit, 20 top + 20 random
    python benchmarks/predictive_scoring.py --d3 0,6,12 --records D3_OUT  # ground truth vs wrong vs sasc
    python benchmarks/predictive_scoring.py --neurons explain.json \
        --module '{"kind": "llm_neuron", "layer": 15, "units": [100, 400]}'   # Bills-style per-token table
    python benchmarks/predictive_scoring.py --report table.json   # a --neurons --json file as Markdown

``--cost``: each of ``--cost-scorers`` (default simulation, detection, fuzzing) on one explanation of
the MiniLM 'food and cooking' module on one top-and-random set (``--n-top``/``--n-random``, default
20 + 20) from the news corpus, with the local helper and a cold reply cache per scorer; prints helper
calls, prompt and completion tokens, seconds, units per minute and the score. ``--d3``: for each task, the D3 synthetic module (MiniLM distance
to the ground-truth keyphrase) scored on a set from the task's corpus, with the ground-truth
keyphrase and a wrong task's keyphrase (task index + 27 mod 54); prints per task the values of
``--scorers`` (default ``simulation,detection``; ``fuzzing`` too) of both and the share of tasks where the ground truth
wins; with ``--records D3_OUT`` also the winner of that D3 run (sasc's best candidate; default setting,
``--records-seed``), and the mean of each scorer per source; ``--reuse TABLE`` takes the ground truth's and
the wrong task's scores from an earlier ``--out`` table on the same sets and scores only sasc's winner. ``--neurons RESULT``: for each unit of a ``sasc explain`` result of ``--module`` (LLM
neurons or another module with token activations), per-token simulation of its best explanation
on a top-and-random set of token excerpts (``--excerpt-tokens``, default 64), as Bills et al.
scored: the correlation over all tokens and over the random excerpts only, Bills's lookup-table
baseline (fitted on held-out excerpts), another unit's explanation as the random baseline, and the
cost per unit; with ablation among ``--neuron-scorers``, Spearman's correlation of ablation and
simulation over the units, and with ``--all-candidates`` every scored candidate simulated too and
Spearman's correlation of σ and simulation over them (``--json`` keeps it all, after every unit;
``--resume`` scores only the units the file does not hold yet, so a long table can be run in parts). Replies are cached under ``--cache-dir`` (default: a temp dir, so cold).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sasc.cache import atomic_write_text  # noqa: E402
from sasc.corpora import Corpus, load_corpus  # noqa: E402
from sasc.lists import parse_ranges  # noqa: E402
from sasc.explain import resolve_helper  # noqa: E402
from sasc.modules.base import as_bank  # noqa: E402
from sasc.modules.embedding import EmbeddingDistanceBank  # noqa: E402
from sasc.scorers import SCORERS, ScoreConfig, SetConfig, draw_set, score_on_set  # noqa: E402
from sasc.scorers.run import draw_prepared_set  # noqa: E402


def cost(args: argparse.Namespace, cache: str) -> None:
    """Each of ``--cost-scorers`` on one explanation of one unit, one after the other on the same set,
    each from a cold reply cache: helper calls, tokens and seconds per unit, and units per minute."""
    bank = as_bank(EmbeddingDistanceBank(["food and cooking"]))
    corpus = load_corpus("news")
    t0 = time.perf_counter()
    sset = draw_set(bank, 0, corpus.texts, SetConfig(n_top=args.n_top, n_random=args.n_random,
                                                     pool_size=args.pool_size), corpus.name)
    print(f"set of {len(sset.texts)} texts from a pool of {sset.pool} ({time.perf_counter() - t0:.1f} s); "
          f"explanation 'food, cooking and eating'", flush=True)
    for name in args.cost_scorers.split(","):
        helper = resolve_helper(args.helper, os.path.join(cache, name))  # cold for each scorer
        prepare = getattr(SCORERS.get(name), "prepare", None)
        prepared = prepare(sset, bank, 0) if prepare else sset
        cfg = ScoreConfig(scorers=(name,), baseline=False)
        t1 = time.perf_counter()
        r = score_on_set(["food, cooking and eating"], prepared, "food", helper, cfg)[0][name]
        t2 = time.perf_counter()
        u = helper.usage.snapshot()
        print(f"{name:10s} value {r.value:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]  {u.calls} calls "
              f"({u.cached_calls} cached), {u.prompt_tokens} prompt + {u.completion_tokens} completion tokens, "
              f"{t2 - t1:.1f} s = {60 / max(t2 - t1, 1e-9):.2f} units/min; load average {os.getloadavg()[0]:.1f}",
              flush=True)


def d3(args: argparse.Namespace, cache: str) -> None:
    import json

    import numpy as np

    from sasc.bench.tasks import D3Corpora, load_tasks, select_tasks

    tasks = load_tasks(args.data)
    by = {t.index: t for t in tasks}
    chosen = select_tasks(tasks, parse_ranges(args.d3))
    corpora = D3Corpora(tasks)
    helper = resolve_helper(args.helper, cache)
    names = tuple(args.scorers.split(","))
    cfg = ScoreConfig(scorers=names, baseline=False,
                      set=SetConfig(n_top=args.n_top, n_random=args.n_random, pool_size=args.pool_size))
    best = sasc_winners(args.records, args.records_seed) if args.records else {}
    sources = ["ground truth", "wrong task"] + (["sasc"] if best else [])
    known = reused_rows(args.reuse, args) if args.reuse else {}
    values: dict[str, dict[str, list[float]]] = {n: {s: [] for s in sources} for n in names}
    wins = {n: 0 for n in names}
    rows = []
    t0 = time.perf_counter()
    for t in chosen:
        wrong = by[(t.index + 27) % len(tasks)]
        bank = as_bank(EmbeddingDistanceBank([t.keyphrase]))  # fuzzing's prepare marks each text's top n-grams
        sset = draw_prepared_set(bank, 0, Corpus(corpora.source(t), corpora.texts(t)), cfg)
        explanations = [t.keyphrase, wrong.keyphrase] + ([best.get(t.index, "")] if best else [])
        if best and not explanations[-1]:
            explanations[-1] = "(no explanation)"
        old = known.get(t.index)
        if old is not None and old["explanations"]["ground truth"] == explanations[0] \
                and old["explanations"]["wrong task"] == explanations[1]:
            # ground truth and wrong task from the earlier run on the same set; only sasc's winner is scored
            results = [None, None] + score_on_set(explanations[2:], sset, t.name, helper, cfg)
        else:
            old = None
            results = score_on_set(explanations, sset, t.name, helper, cfg)
        line = [f"task {t.index:2d} {t.name[:18]:18s}"]
        row = {"task": t.index, "name": t.name, "explanations": dict(zip(sources, explanations))}
        if old is not None:
            row["reused"] = ["ground truth", "wrong task"]
        for name in names:
            got = [old[name][s] if r is None else r[name].value for s, r in zip(sources, results)]
            wins[name] += bool(got[0] > got[1])
            for s, v in zip(sources, got):
                values[name][s].append(np.nan if v is None else v)
            row[name] = dict(zip(sources, got))
            line.append(f"{name} " + " ".join(f"{s.split()[0]} {v:6.3f}" for s, v in zip(sources, got)))
            areas = [(old.get("detection AUROC", {}).get(s) if r is None else r[name].details.get("auroc"))
                     for s, r in zip(sources, results)]
            if name == "detection" and None not in areas:  # the helper's P(yes) ranks the texts: a finer grain
                wins["detection AUROC"] = wins.get("detection AUROC", 0) + bool(areas[0] > areas[1])
                values.setdefault("detection AUROC", {s: [] for s in sources})
                for s, v in zip(sources, areas):
                    values["detection AUROC"][s].append(np.nan if v is None else v)
                row["detection AUROC"] = dict(zip(sources, areas))
                line.append("AUROC " + " ".join(f"{s.split()[0]} {v:6.3f}" for s, v in zip(sources, areas)))
        rows.append(row)
        print("  ".join(line) + f"   (gt {t.keyphrase!r} vs {wrong.keyphrase!r}"
              + (f"; sasc {explanations[-1]!r})" if best else ")") + (" [gt, wrong reused]" if old else ""),
              flush=True)
        if args.out:  # after every task, so a run cut short keeps what it measured
            atomic_write_text(Path(args.out), json.dumps({"tasks": rows, "wins": wins, "n": len(rows),
                                                          "set": _set_params(args),
                                                          "records_seed": args.records_seed if best else None},
                                                         indent=1))
    u = helper.usage.snapshot()
    print("ground truth beats the wrong keyphrase: " + ", ".join(f"{k} {v}/{len(chosen)}" for k, v in wins.items()))
    for name in values:
        print(f"mean {name}: " + ", ".join(f"{s} {np.nanmean(values[name][s]):.3f}" for s in sources))
    print(f"{u.calls} helper calls ({u.cached_calls} cached), {u.prompt_tokens} prompt tokens, "
          f"{time.perf_counter() - t0:.0f} s")


def _set_params(args: argparse.Namespace) -> dict:
    return {"n_top": args.n_top, "n_random": args.n_random, "pool_size": args.pool_size}


def reused_rows(path: str, args: argparse.Namespace) -> dict[int, dict]:
    """Task index -> row of an earlier ``--out`` table on the same sets (its ground-truth and wrong-task scores)."""
    import json

    saved = json.loads(Path(path).read_text(encoding="utf-8"))
    if saved.get("set") != _set_params(args):
        raise SystemExit(f"--reuse {path}: its sets {saved.get('set')} differ from these {_set_params(args)}")
    return {r["task"]: r for r in saved["tasks"]}


def sasc_winners(folder: str, seed: int = 0) -> dict[int, str]:
    """Task index -> the best explanation of a `sasc benchmark d3` run's records (default setting, ``seed``)."""
    import json

    out = {}
    for f in Path(folder, "records", "default", f"seed{seed}").glob("*.json"):
        r = json.loads(f.read_text(encoding="utf-8"))
        out[r["index"]] = (r.get("explanations") or [""])[0]
    return out


def neurons(args: argparse.Namespace, cache: str) -> None:
    import json

    from sasc.modules.registry import module_from_spec
    from sasc.results import ExplainResult

    raw = Path(args.neurons).read_bytes()
    if args.neurons.endswith(".gz"):  # results kept in the repository are gzipped
        import gzip

        raw = gzip.decompress(raw)
    result = ExplainResult.from_dict(json.loads(raw))
    bank = as_bank(module_from_spec(args.module))
    corpus = load_corpus(args.corpus)
    helper = resolve_helper(args.helper, cache)
    best = {u.unit: u.best.explanation for u in result.units if u.best is not None}
    if args.max_units:
        best = dict(list(best.items())[: args.max_units])
    # every scored candidate's σ, for the σ-vs-simulation rank correlation (--all-candidates)
    scored = {u.unit: [(c.explanation, float(c.score.sigma)) for c in u.candidates if c.score.n_related]
              for u in result.units if u.unit in best}
    if args.resume and "," in args.layouts:
        sys.exit("--resume: one layout at a time (each table has its own --json)")
    for layout in args.layouts.split(","):
        cfg = ScoreConfig(scorers=tuple(args.neuron_scorers.split(",")), n_boot=1000, token_layout=layout,
                          baseline=not args.no_baseline, sampled=args.sampled,
                          set=SetConfig(n_top=args.n_top, n_random=args.n_random, pool_size=args.pool_size,
                                        excerpts="token", excerpt_tokens=args.excerpt_tokens))
        _neuron_table(bank, corpus, helper, best, scored, cfg, args)


def _spearman(x, y) -> tuple[float, float, int]:
    """Spearman's rank correlation of the finite pairs, its two-sided p value and their number."""
    import numpy as np
    from scipy.stats import spearmanr

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan"), float("nan"), int(ok.sum())
    r = spearmanr(x[ok], y[ok])
    return float(r.statistic), float(r.pvalue), int(ok.sum())


def _neuron_table(bank, corpus, helper, best, scored, cfg, args) -> None:
    import dataclasses

    records = _resumed(args, cfg)  # one per unit, for --json; with --resume, those of an earlier run first
    done = {r["unit"] for r in records}
    pools: dict = {}  # the pool's token activations, run through the model once for all units
    print(f"layout {cfg.token_layout}; helper {helper.name}; {args.n_top} top + {args.n_random} random excerpts of "
          f"<= {args.excerpt_tokens} tokens from a pool of {args.pool_size} {corpus.name} sentences per unit"
          + (f"; {len(done)} units resumed from {args.json}" if done else ""), flush=True)
    for unit, explanation in best.items():
        if unit in done:
            continue
        col = list(bank.units).index(unit)
        before = helper.usage.snapshot()
        t0 = time.perf_counter()
        sset = draw_prepared_set(bank, col, corpus, cfg, pool_cache=pools)
        t1 = time.perf_counter()
        others = [e for u, e in best.items() if u != unit]
        scores = score_on_set([explanation], sset, unit, helper, cfg, others)[0]
        rest = [(e, sg) for e, sg in scored.get(unit, []) if e != explanation] if args.all_candidates else []
        more = score_on_set([e for e, _ in rest], sset, unit, helper,
                            dataclasses.replace(cfg, scorers=("simulation",), baseline=False)) if rest else []
        t2 = time.perf_counter()
        sigma = dict(scored.get(unit, []))
        sims = [(explanation, sigma.get(explanation, float("nan")), scores.get("simulation"))]
        sims += [(e, sg, m["simulation"]) for (e, sg), m in zip(rest, more)]
        used = helper.usage.snapshot()
        records.append({"unit": unit, "explanation": explanation, "set_texts": len(sset.texts),
                        "scores": {k: {"value": v.value, "ci": [v.ci_low, v.ci_high], "baseline": v.baseline,
                                       "undefined": v.undefined_reason,
                                       # the scalar details: random-only r, lookup table, mean-ablation JSD, ...
                                       "details": {dk: dv for dk, dv in v.details.items()
                                                   if isinstance(dv, (int, float, str))},
                                       "lists": {dk: list(dv) for dk, dv in v.details.items()
                                                 if dk in ("kl_cost", "gain")}}
                                   for k, v in scores.items()},
                        "candidates": [{"explanation": e, "sigma": sg, "simulation": None if r is None else r.value}
                                       for e, sg, r in sims],
                        "calls": used.calls - before.calls,
                        "prompt_tokens": used.prompt_tokens - before.prompt_tokens,
                        "completion_tokens": used.completion_tokens - before.completion_tokens,
                        "set_s": t1 - t0, "scoring_s": t2 - t1})
        _write_json(args, cfg, records, {})  # after every unit, so a run cut short keeps what it measured
        _print_unit(records[-1])
    summary = _summarize(records, cfg)
    if _write_json(args, cfg, records, summary):
        print(f"wrote {args.json}", flush=True)


def report(path: str) -> None:
    """--report: a --neurons table's JSON as a Markdown table, one row per unit, then its summary (no helper)."""
    import json
    from types import SimpleNamespace

    saved = json.loads(Path(path).read_text())
    records = saved["units"]
    names = [n for n in ("simulation", "ablation", "steering") if any(n in r["scores"] for r in records)]
    print("| unit | explanation | " + " | ".join(f"{n} [95% CI] | random expl." for n in names)
          + " | lookup table | scoring s |")
    print("|---" * (3 + 2 * len(names)) + "|---|")
    for r in records:
        cells = []
        for n in names:
            v = r["scores"].get(n)
            cells += ([f"{_num(v['value']):.3f} [{_num(v['ci'][0]):.3f}, {_num(v['ci'][1]):.3f}]",
                       f"{_num(v['baseline']):.3f}"] if v else ["", ""])
        lookup = r["scores"].get("simulation", {}).get("details", {}).get("lookup_table")
        print(f"| {r['unit']} | {r['explanation'][:60]} | " + " | ".join(cells)
              + f" | {_num(lookup):.3f} | {r['scoring_s']:.0f} |")
    _summarize(records, SimpleNamespace(token_layout=saved["layout"]))


def _resumed(args, cfg) -> list[dict]:
    """--resume: the units an earlier run of the same table wrote to --json (none without it)."""
    import json

    if not (args.resume and args.json and Path(args.json).exists()):
        return []
    old = json.loads(Path(args.json).read_text())
    if (old["layout"], old["n_top"], old["n_random"]) != (cfg.token_layout, args.n_top, args.n_random):
        sys.exit(f"--resume: {args.json} holds layout {old['layout']}, {old['n_top']} top + {old['n_random']} "
                 f"random excerpts, not this run's; give another --json")
    return old["units"]


def _print_unit(rec: dict) -> None:
    """One unit's lines: its interventional scores, then its simulation beside the baselines."""
    unit, explanation, sc = rec["unit"], rec["explanation"], rec["scores"]
    for name in ("ablation", "steering"):  # the interventional scores, beside a random explanation's
        if name in sc:
            a = sc[name]
            extra = (f"mean-ablation JSD {a['details']['mean_ablation_jsd']:.2e}" if name == "ablation" else
                     f"KL cost {', '.join(f'{c:.2e}' for c in a['lists']['kl_cost'])}  "
                     f"gain {', '.join(f'{g:.3f}' for g in a['lists']['gain'])}")
            print(f"{unit:10s} {name} {_num(a['value']):7.3f} [{_num(a['ci'][0]):7.3f},{_num(a['ci'][1]):7.3f}] "
                  f"random expl. {_num(a['baseline']):7.3f}  {explanation[:40]!r}  {extra}  "
                  f"scoring {rec['scoring_s']:.0f} s", flush=True)
    if "simulation" in sc:
        r, d = sc["simulation"], sc["simulation"]["details"]
        print(f"{unit:10s} {explanation[:40]!r:42s} top+random {_num(r['value']):6.3f} "
              f"[{_num(r['ci'][0]):6.3f},{_num(r['ci'][1]):6.3f}] random-only {_num(d.get('random_only')):6.3f}  "
              f"lookup {_num(d.get('lookup_table')):6.3f} / {_num(d.get('lookup_table_random_only')):6.3f}  "
              f"random expl. {_num(r['baseline']):6.3f}  {_gaps(d)}/{d.get('n_tokens')}  "
              f"{rec.get('calls')} calls, {rec.get('completion_tokens')} completion tokens, "
              f"set {rec.get('set_s', float('nan')):.0f} s, scoring {rec['scoring_s']:.0f} s", flush=True)


def _num(v) -> float:
    """A score's value for printing: None (undefined, or no baseline) as NaN."""
    return float("nan") if v is None else float(v)


def _summarize(records: list[dict], cfg) -> dict:
    """The table's means and rank correlations over ``records`` (printed, and returned for --json)."""
    import numpy as np

    summary: dict = {}
    for name in ("ablation", "steering"):
        v = np.array([(_num(r["scores"][name]["value"]), _num(r["scores"][name]["baseline"]))
                      for r in records if name in r["scores"]], dtype=float).reshape(-1, 2)
        if len(v):
            summary[name] = {"mean": float(np.nanmean(v[:, 0])), "random_explanation": float(np.nanmean(v[:, 1])),
                             "above_random": int(np.sum(v[:, 0] > v[:, 1])), "n": len(v)}
            print(f"{name}: mean over {len(v)} units {np.nanmean(v[:, 0]):.3f}, random explanations "
                  f"{np.nanmean(v[:, 1]):.3f}; above the random explanation in {int(np.sum(v[:, 0] > v[:, 1]))} "
                  f"of {len(v)}", flush=True)
    for name in ("ablation", "steering"):  # does the simulation score stand in for the interventional one?
        both = [(_num(r["scores"][name]["value"]), _num(r["scores"]["simulation"]["value"])) for r in records
                if name in r["scores"] and "simulation" in r["scores"]]
        if both:
            rho, p, n = _spearman(*zip(*both))
            summary[f"spearman_{name}_simulation"] = {"rho": rho, "p": p, "n": n}
            print(f"Spearman({name}, simulation) over {n} units: {rho:.3f} (p = {p:.3g})", flush=True)
    pairs = [(_num(c["sigma"]), _num(c["simulation"])) for r in records for c in r["candidates"]
             if c["simulation"] is not None]
    if len(pairs) >= 3:
        rho, p, n = _spearman(*zip(*pairs))
        summary["spearman_sigma_simulation"] = {"rho": rho, "p": p, "n": n}
        print(f"Spearman(σ, simulation) over {n} candidates of {len(records)} units: {rho:.3f} (p = {p:.3g})",
              flush=True)
    rows = [(_num(s["value"]), _num(s["details"].get("random_only")), _num(s["details"].get("lookup_table")),
             _num(s["details"].get("lookup_table_random_only")), _num(s["baseline"]), r["scoring_s"])
            for r in records if (s := r["scores"].get("simulation"))]
    if rows:
        m = np.nanmean(np.array(rows, dtype=float), axis=0)
        summary["simulation"] = {"top_and_random": m[0], "random_only": m[1], "lookup_table": m[2],
                                 "lookup_table_random_only": m[3], "random_explanation": m[4],
                                 "scoring_s_per_unit": m[5], "n": len(rows)}  # ints stay ints in the JSON
        print(f"mean over {len(rows)} units ({cfg.token_layout}): top+random {m[0]:.3f}, random-only {m[1]:.3f}; "
              f"lookup table {m[2]:.3f} / {m[3]:.3f}; random explanation (top+random) {m[4]:.3f}; "
              f"scoring {m[5]:.0f} s a unit; load average {os.getloadavg()[0]:.1f}", flush=True)
    return {k: {kk: vv if isinstance(vv, int) else float(vv) for kk, vv in v.items()} for k, v in summary.items()}


def _gaps(details: dict) -> str:
    """What the simulator left without a value: tokens the copy missed, or words not answered (per_word)."""
    if "unanswered_words" in details:
        return f"unanswered words {details['unanswered_words']}"
    return f"unaligned {details['unaligned_tokens']}"


def _write_json(args, cfg, records: list[dict], summary: dict) -> bool:
    """Write the --json file (if asked): the units scored so far and the summary; True when written."""
    import json

    if not args.json:
        return False
    atomic_write_text(Path(args.json), json.dumps({"layout": cfg.token_layout, "n_top": args.n_top,
                                                   "n_random": args.n_random, "units": records, "summary": summary},
                                                  indent=1, default=float))
    return True


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cost", action="store_true")
    p.add_argument("--cost-scorers", default="simulation,detection,fuzzing",
                   help="--cost: scorers measured one after the other (default: simulation,detection,fuzzing)")
    p.add_argument("--d3", default="")
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "d3"))
    p.add_argument("--helper", default="local")
    p.add_argument("--scorers", default="simulation,detection", help="--d3: scorers compared (default: simulation,detection)")
    p.add_argument("--n-top", type=int, default=20)
    p.add_argument("--n-random", type=int, default=20)
    p.add_argument("--pool-size", type=int, default=1000)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--records", default="", help="--d3: a `sasc benchmark d3` output folder; its winners (default "
                                                  "setting, --records-seed) are scored too, as sasc's best candidate")
    p.add_argument("--records-seed", type=int, default=0, help="--d3: the seed of --records whose winners are scored")
    p.add_argument("--reuse", default="", help="--d3: an earlier --out table on the same sets; its tasks' ground-truth "
                                               "and wrong-task scores are reused, only sasc's winner is scored")
    p.add_argument("--out", default="", help="--d3: write the per-task table as JSON here (after every task)")
    p.add_argument("--neurons", default="", help="a sasc explain result of --module's units")
    p.add_argument("--module", default="", help="--neurons: the module spec the result explained")
    p.add_argument("--corpus", default="news100", help="--neurons: corpus of the excerpts (default: news100)")
    p.add_argument("--excerpt-tokens", type=int, default=64)
    p.add_argument("--neuron-scorers", default="simulation", help="--neurons: any of simulation, ablation, steering")
    p.add_argument("--layouts", default="all_at_once", help="--neurons: token layouts compared, comma-separated")
    p.add_argument("--max-units", type=int, default=0, help="--neurons: the first N units of the result only")
    p.add_argument("--no-baseline", action="store_true", help="--neurons: no random-explanation baseline")
    p.add_argument("--all-candidates", action="store_true",
                   help="--neurons: simulate every scored candidate too (no baseline), for Spearman(σ, simulation)")
    p.add_argument("--sampled", action="store_true", help="--neurons: sampled answers (a helper without logprobs)")
    p.add_argument("--json", default="", help="--neurons: write per-unit scores and the rank correlations here")
    p.add_argument("--report", default="", help="print a --neurons --json file as a Markdown table and its summary")
    p.add_argument("--resume", action="store_true",
                   help="--neurons: keep the units an earlier run of the same table wrote to --json; score the rest")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache_dir or tmp
        if args.cost:
            cost(args, cache)
        if args.d3:
            d3(args, cache)
        if args.neurons:
            neurons(args, cache)
    if args.report:
        report(args.report)


if __name__ == "__main__":
    main()
