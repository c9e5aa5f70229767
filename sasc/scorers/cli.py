"""``sasc score`` and the predictive-scorer flags of ``sasc explain`` (``--scorers``, ``--rank-by``)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from ..cli_common import _cache_dir
from ..corpora import BUILTIN_CORPORA, DEFAULT_REFERENCE
from . import SCORERS, ScoreConfig, SetConfig, parse_scorers
from .sets import EXCERPT_KINDS, SET_KINDS
from .simulation import TOKEN_LAYOUT_CHOICES


def add_set_args(p: argparse.ArgumentParser) -> None:
    """How the scoring set is drawn, and how the helper's answers are read."""
    d = SetConfig()
    p.add_argument("--scoring-set", default=d.kind, choices=SET_KINDS,
                   help=f"texts the explanations are scored on (default: {d.kind})")
    p.add_argument("--n-top", type=int, default=d.n_top, help=f"top-response texts in the set (default: {d.n_top})")
    p.add_argument("--n-random", type=int, default=d.n_random,
                   help=f"random texts in the set (default: {d.n_random})")
    p.add_argument("--pool-size", type=int, default=d.pool_size,
                   help=f"corpus texts (a seeded sample) the top texts are chosen from (default: {d.pool_size})")
    p.add_argument("--excerpts", default=d.excerpts, choices=EXCERPT_KINDS,
                   help="text: one value per text (every module); token: per-token excerpts and per-token "
                        "simulation, for modules with token activations (LLM neurons and directions, "
                        f"dictionary factors) (default: {d.excerpts})")
    p.add_argument("--excerpt-tokens", type=int, default=d.excerpt_tokens,
                   help=f"tokens per excerpt with --excerpts token (default: {d.excerpt_tokens})")
    p.add_argument("--token-layout", default=ScoreConfig.token_layout, choices=TOKEN_LAYOUT_CHOICES,
                   help="with --excerpts token, how the simulator asks for per-token values: all_at_once (every "
                        "token copied with its value, Bills et al.'s), sparse (only the tokens the unit responds "
                        "to; the rest are 0; far fewer generated tokens), per_word (one yes/no question per "
                        "word, a few tokens past a shared prefix; ranks fitting words far better with a small "
                        "helper) or auto: per_word with the embedded helper, all_at_once with a remote one "
                        f"(default: {ScoreConfig.token_layout}; results name the layout used)")
    p.add_argument("--whole-texts", action="store_true", help="score on the corpus texts as they are "
                                                              "(default: their sentences of 4..60 words)")
    p.add_argument("--scoring-seed", type=int, default=0, help="seed of the set, the helper calls and the "
                                                                "random baseline explanation (default: 0)")
    p.add_argument("--sampled", action="store_true", help="read the helper's sampled answers instead of its token "
                                                          "probabilities (for backends without logprobs; results "
                                                          "are marked method=sampled)")
    p.add_argument("--no-baseline", action="store_true", help="do not score a random explanation as the baseline")


def score_config(args: argparse.Namespace, scorers: Any) -> ScoreConfig:
    """The :class:`ScoreConfig` of :func:`add_set_args`' flags and ``scorers``."""
    return ScoreConfig(scorers=tuple(parse_scorers(scorers)),
                       set=SetConfig(args.scoring_set, args.n_top, args.n_random, args.pool_size, args.scoring_seed,
                                     excerpts=args.excerpts, excerpt_tokens=args.excerpt_tokens,
                                     sentences=not args.whole_texts),
                       sampled=args.sampled, baseline=not args.no_baseline, seed=args.scoring_seed,
                       token_layout=args.token_layout)


def add_explain_scorer_args(p: argparse.ArgumentParser) -> None:
    """``--scorers`` and ``--rank-by`` of ``sasc explain`` (and the set flags)."""
    p.add_argument("--scorers", default="sigma",
                   help="scores per candidate: sigma and predictive scorers ("
                        f"{', '.join(SCORERS.names())}), comma-separated (default: sigma)")
    p.add_argument("--rank-by", default="sigma", help="the score that ranks the candidates (default: sigma)")
    add_set_args(p)


def cmd_score(args: argparse.Namespace) -> int:
    from ..corpora import load_corpus
    from .run import score_explanations

    if args.llm_base_url:
        os.environ["SASC_LLM_BASE_URL"] = args.llm_base_url
    explanations = list(args.explanation or [])
    if args.explanations_from:
        explanations += [c["explanation"] for u in json.loads(Path(args.explanations_from).read_text())["units"]
                         for c in u["candidates"]]
    config = score_config(args, args.scorers)
    report = score_explanations(args.module, explanations, unit=int(args.unit) if args.unit.isdigit() else args.unit,
                                corpus=load_corpus(args.corpus, args.column) if args.column else args.corpus,
                                helper=args.helper, config=config, cache_dir=_cache_dir(args))
    from ..jsonio import dumps

    text = dumps(report, indent=1, ensure_ascii=False)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{args.out}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, args.out)  # nothing half-written
    print(format_scores(report))
    print(f"\nwrote {args.out}")
    return 0


def format_scores(report: dict[str, Any]) -> str:
    """A table: one row per explanation, one column per scorer (value [95% CI], baseline)."""
    s = report["scoring_set"]
    lines = [f"module: {report['module']}   unit: {report['unit']}   helper: {report['helper']}",
             f"scoring set: {s['kind']} ({s['n_top']} top + {s['n_random']} random of {s['pool']} texts from "
             f"{s['corpus']}, seed {s['seed']}){'   answers: sampled' if report['sampled'] else ''}"]
    names = report["scorers"]
    lines.append("  " + "".join(f"{n:>28}" for n in names) + "  explanation")
    for e in report["explanations"]:
        lines.append("  " + "".join(f"{cell(e['scores'][n]):>28}" for n in names) + f"  {e['explanation']}")
    lines.append(LEGEND)
    u = report.get("usage") or {}
    lines.append(f"\nhelper calls: {u.get('calls', '?')} ({u.get('cached_calls', 0)} cached), tokens: "
                 f"{u.get('prompt_tokens', 0)} prompt + {u.get('completion_tokens', 0)} completion;  "
                 f"time: set {report['timings']['set_s']:.1f}s, scoring {report['timings']['score_s']:.1f}s")
    return "\n".join(lines)


LEGEND = ("predictive scores: value [95% CI] bBASELINE, the baseline being the same score for a random "
          "explanation (another unit's, or an unrelated topic when there is one unit)")
"""The line under a table with predictive score columns."""


def cell(d: dict[str, Any] | None) -> str:
    """``0.62 [0.41,0.78] b0.05`` for one score map (``undefined`` when it is)."""
    if not d:
        return "-"
    if d.get("value") is None:
        return "undefined"
    lo, hi = d["ci"]
    ci = f"[{lo:.2f},{hi:.2f}]" if lo is not None else "[-]"
    base = f" b{d['baseline']:.2f}" if d.get("baseline") is not None else ""
    return f"{d['value']:.2f} {ci}{base}"


def add_commands(sub: Any) -> None:
    """The ``score`` subcommand."""
    p = sub.add_parser("score", help="score explanations written by anyone (simulation, detection, fuzzing, ablation, steering)",
                       description="Score explanations of one unit by how well a helper, reading only the "
                                   "explanation, predicts the unit on real text (no summarizing).")
    p.add_argument("--module", "-m", required=True, help="module spec, as for `sasc explain` "
                                                         "(e.g. 'embedding_distance:keyphrase=food')")
    p.add_argument("--unit", default="0", help="the unit: a name or an index (default: 0)")
    p.add_argument("--explanation", "-e", action="append", help="an explanation to score (repeat for more)")
    p.add_argument("--explanations-from", default=None,
                   help="also score every candidate of an earlier `sasc explain` JSON result")
    p.add_argument("--scorers", default="simulation",
                   help=f"comma-separated, of: {', '.join(SCORERS.names())} (default: simulation)")
    p.add_argument("--corpus", default=DEFAULT_REFERENCE,
                   help=f"corpus the scoring set is drawn from: built-in ({', '.join(BUILTIN_CORPORA)}) or a file "
                        f"(default: {DEFAULT_REFERENCE})")
    p.add_argument("--column", default=None, help="field/column holding the text in .jsonl/.csv corpora (default: text)")
    p.add_argument("--helper", default="local", help="helper LLM spec, as for `sasc explain` (default: local)")
    p.add_argument("--llm-base-url", default=None, help="base URL of an OpenAI-compatible server (openai: helpers)")
    p.add_argument("--cache-dir", default=None, help="cache root (default: $SASC_CACHE or ~/.cache/sasc)")
    p.add_argument("--out", "-o", default="sasc_scores.json", help="where to write the JSON report")
    add_set_args(p)
    p.set_defaults(func=cmd_score)
