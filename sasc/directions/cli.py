"""``sasc directions find``: a thin adapter over :func:`sasc.directions.find_directions`."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..cli_common import TqdmProgress, _cache_dir, add_method_args, add_option_args, method_config, options_from_args
from ..corpora import BUILTIN_CORPORA, DEFAULT_GENERIC, DEFAULT_REFERENCE
from .search import DirectionConfig


def cmd_find(args: argparse.Namespace) -> int:
    from .export import save_directions
    from .search import causal_lm_site, find_directions

    config = options_from_args(DirectionConfig, args)  # bad counts, rounds, sizes: before anything loads
    explain_config = method_config(args)
    if args.llm_base_url:
        os.environ["SASC_LLM_BASE_URL"] = args.llm_base_url
    site = causal_lm_site(args.model, args.site, args.layer, device=args.device)  # bad model, site, layer: here
    bar = TqdmProgress(not args.quiet)
    try:
        result = find_directions(site, config=config, explain_config=explain_config, corpus=args.corpus,
                                 generic=args.generic, helper=args.helper, cache_dir=_cache_dir(args), progress=bar)
    finally:
        bar.close()
    paths = save_directions(result, args.out)
    print(format_search(result))
    print("\nwrote " + ", ".join(str(p) for p in paths.values()))
    print(f"explain them again: sasc explain --module \"$(cat {paths['spec']})\"")
    return 0


def format_search(result: Any) -> str:
    """One block per direction: its score and explanation at each round, then held out."""
    info = result.config["directions"]
    s = info["search"]
    lines = [f"site: {info['site']} (width {info['width']})   directions: {s['count']}   rounds: {s['rounds']} x "
             f"{s['steps']} steps of {s['step_size']} rad   sets: {s['n_top']} top + {s['n_random']} random "
             f"{'token excerpts' if s['excerpts'] == 'token' else 'sentences'}   seed {s['seed']}",
             f"sentences: {info['halves']['search']} search half, {info['halves']['held_out']} held out"]
    held = []
    for d, unit in zip(info["directions"], result.units):
        lines.append(f"\n== {d['name']}  (turned {d['turned_total']:.1f} degrees in all)")
        for r in d["rounds"]:
            lines.append(f"  round {r['round']}: simulation {_num(r['score'])} (after the steps {_num(r['fit_after'])}, "
                         f"turned {r['turned']:.1f} deg)  σ {r['sigma']:.2f}  {r['explanation']}")
        best = unit.best
        h = d.get("held_out_simulation")
        held.append(h)
        lines.append(f"  final:   simulation on held-out texts {_num(h)}  σ {best.score.sigma:.2f}  {best.explanation}"
                     if best else "  final:   no explanation")
    ok = [h for h in held if h is not None]
    if ok:
        lines.append(f"\nmean held-out simulation score: {sum(ok) / len(ok):.3f} over {len(ok)} directions")
    return "\n".join(lines)


def _num(v: Any) -> str:
    return "undefined" if v is None or v != v else f"{v:.3f}"


def add_commands(sub: Any) -> None:
    """The ``directions`` command group (``find``)."""
    top = sub.add_parser("directions", help="find explainable directions in a layer of a causal LM (Bills et al.)")
    group = top.add_subparsers(dest="directions_command", required=True)
    p = group.add_parser("find", help="search a layer for directions that explain and simulate well",
                         description="Start from random directions at a site of a causal LM; each round explain "
                                     "them (SASC), simulate the explanation on a top-and-random set and take gradient "
                                     "steps on the direction toward a higher correlation with the simulation. Writes "
                                     "the vectors (.npy), a module spec, the result JSON and a plot of score by round.")
    p.add_argument("--model", default=None, help="causal LM: name, path or alias (default: SmolLM2-135M-Instruct)")
    p.add_argument("--site", default="mlp", help="mlp (MLP neurons' space), resid (residual stream) or attn (default: mlp)")
    p.add_argument("--layer", type=int, default=15, help="the layer (default: 15, the middle of SmolLM2-135M)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: the best available)")
    add_option_args(p, DirectionConfig)
    p.add_argument("--corpus", default=DEFAULT_REFERENCE,
                   help=f"reference corpus: n-grams, and the sentences of the search and held-out halves "
                        f"({', '.join(BUILTIN_CORPORA)} or a file) (default: {DEFAULT_REFERENCE})")
    p.add_argument("--generic", default=DEFAULT_GENERIC, help=f"generic corpus of σ (default: {DEFAULT_GENERIC})")
    p.add_argument("--helper", default="local", help="helper LLM spec, as for `sasc explain` (default: local)")
    p.add_argument("--llm-base-url", default=None, help="base URL of an OpenAI-compatible server (openai: helpers)")
    p.add_argument("--cache-dir", default=None, help="cache root (default: $SASC_CACHE or ~/.cache/sasc)")
    p.add_argument("--out", "-o", default="sasc_directions", help="output folder (default: sasc_directions)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    add_method_args(p, skip=("seed",))
    p.set_defaults(func=cmd_find)
