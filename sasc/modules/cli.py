"""CLI commands for many-unit modules (added to ``sasc`` by ``sasc.cli.build_parser``).

* ``sasc units-summary RESULT.json``: table (CSV + JSON), σ plot (PNG) and HTML page of a many-unit result.
* ``sasc dictionary learn --out dict.safetensors``: learn a transformer-factor dictionary.
* ``sasc neurons prepare``: convert/cache a causal LM once and print its layers and site widths.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from ..analyses_cli import add_classify_command


def _cache_dir(args: argparse.Namespace) -> Path | None:
    value = getattr(args, "cache_dir", None) or os.environ.get("SASC_CACHE")
    return Path(value) if value else None


def cmd_units_summary(args: argparse.Namespace) -> int:
    from ..many_units import scorer_names, summarize_units, write_summary
    from ..results import ExplainResult
    from ..scorers.cli import LEGEND, cell

    result = ExplainResult.from_json(args.result)
    rows = summarize_units(result, n_ngrams=args.ngrams)
    paths = write_summary(result, Path(args.result).with_suffix(""), rows=rows, csv=args.csv, json=args.json,
                          plot=args.plot, html=args.html, plot_title=None).values()

    names = scorer_names(rows)
    print(f"{'unit':<14} {'σ':>6}" + "".join(f"{n:>28}" for n in names) + "  explanation")
    for r in sorted(rows, key=lambda r: -r.sigma if math.isfinite(r.sigma) else math.inf)[: args.show]:
        print(f"{r.unit:<14} {r.sigma:6.2f}" + "".join(f"{cell(r.scores.get(n)):>28}" for n in names)
              + f"  {r.explanation}")
    if len(rows) > args.show:
        print(f"... {len(rows) - args.show} more")
    if names:
        print(f"({LEGEND})")
    print("\n" + "\n".join(f"wrote {p}" for p in paths))
    return 0


def cmd_dictionary_learn(args: argparse.Namespace) -> int:
    from ..corpora import load_corpus
    from .dictionary import learn_dictionary, load_bert_encoder, save_dictionary

    texts = load_corpus(args.corpus, args.column).texts
    enc = load_bert_encoder(args.encoder, args.device)
    phi = learn_dictionary(texts, args.factors, encoder=enc, layer=args.layer, lam=args.lam,
                           max_tokens=args.max_tokens, n_epochs=args.epochs, seed=args.seed)
    path = save_dictionary(args.out, phi, encoder=args.encoder or "all-MiniLM-L6-v2", layer=args.layer,
                           lam=args.lam, corpus=str(args.corpus))
    print(f"dictionary {phi.shape[0]} x {phi.shape[1]} (d x K) at layer {args.layer}: wrote {path}")
    print(f"explain it with: sasc explain -m 'dictionary_factor:dictionary={path}'")
    return 0


def cmd_neurons_prepare(args: argparse.Namespace) -> int:
    from .neurons import build_llm_neuron_bank

    params = {"cache_dir": _cache_dir(args)} if _cache_dir(args) else {}
    for site in ("mlp", "resid", "attn"):
        bank = build_llm_neuron_bank(args.model, site=site, layer=0, units=0, **params)
        if site == "mlp":
            print(f"model {args.model or 'SmolLM2-135M-Instruct'}: {bank.lm.n_layers} layers, "
                  f"identity {bank.lm.identity[:24]}")
        print(f"  site {site}: width {bank.widths[0]}")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``units-summary``, ``dictionary learn`` and ``neurons prepare`` to the ``sasc`` CLI."""
    s = subparsers.add_parser("units-summary", help="summary table and σ plot of a many-unit result",
                              description="Write a CSV/JSON table (unit, best explanation, σ) and a PNG of σ "
                                          "per layer or per unit from a `sasc explain` result.")
    s.add_argument("result", help="result JSON written by `sasc explain`")
    s.add_argument("--csv", default=None, help="CSV path (default: RESULT.summary.csv)")
    s.add_argument("--json", default=None, help="JSON path (default: RESULT.summary.json)")
    s.add_argument("--plot", default=None, help="PNG path (default: RESULT.sigma.png)")
    s.add_argument("--html", default=None, help="HTML page with the plot, every unit's winner, scores, form flags, "
                                                "top n-grams, output-side evidence and experiments "
                                                "(default: RESULT.html)")
    s.add_argument("--ngrams", type=int, default=5, help="top n-grams kept per unit (default: 5)")
    s.add_argument("--show", type=int, default=20, help="rows printed, best σ first (default: 20)")
    s.set_defaults(func=cmd_units_summary)

    d = subparsers.add_parser("dictionary", help="transformer-factor dictionaries")
    dsub = d.add_subparsers(dest="dictionary_command", required=True)
    learn = dsub.add_parser("learn", help="learn a dictionary from an encoder's hidden states on a corpus")
    learn.add_argument("--out", "-o", required=True, help="output .safetensors (with metadata) or .npy (d x K)")
    learn.add_argument("--corpus", default="news100", help="corpus name or path (default: news100)")
    learn.add_argument("--column", default=None, help="text field of .jsonl/.csv corpora (default: text)")
    learn.add_argument("--encoder", default=None, help="BERT-family name or path (default: all-MiniLM-L6-v2)")
    learn.add_argument("--layer", type=int, default=4, help="hidden-state layer, 0 = embeddings (default: 4)")
    learn.add_argument("--factors", type=int, default=1000, help="dictionary size K (default: 1000)")
    learn.add_argument("--lam", type=float, default=0.3, help="sparsity λ (default: 0.3, as Yun et al.)")
    learn.add_argument("--max-tokens", type=int, default=50_000, help="token states sampled (default: 50000)")
    learn.add_argument("--epochs", type=int, default=2, help="passes over the sample (default: 2)")
    learn.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    learn.add_argument("--device", default=None, help="cuda/cpu (default: best available)")
    learn.set_defaults(func=cmd_dictionary_learn)
    add_classify_command(dsub)

    n = subparsers.add_parser("neurons", help="causal-LM neuron modules")
    nsub = n.add_subparsers(dest="neurons_command", required=True)
    prep = nsub.add_parser("prepare", help="convert (GGUF) and cache a causal LM; print its sites")
    prep.add_argument("--model", default=None, help="HF name, local dir, .gguf or alias (default: SmolLM2-135M-Instruct)")
    prep.add_argument("--cache-dir", default=None, help="cache root (default: $SASC_CACHE or ~/.cache/sasc)")
    prep.set_defaults(func=cmd_neurons_prepare)
