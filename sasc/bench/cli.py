"""``sasc benchmark d3``: the CLI adapter over :func:`sasc.bench.d3.run_d3`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..cli_common import TqdmProgress, _cache_dir, add_method_args, method_config, parse_ints
from ..config import ExplainConfig
from ..options import option_fields
from .d3 import SETTINGS, D3Options
from ..llm.factory import is_local_spec
from ..lists import split_list
from ..llm.local import available_cores
from .parallel import WORKER_MEMORY_GIB, auto_workers, total_memory_gib
from .tasks import DEFAULT_DATA


def add_commands(subparsers) -> None:
    """Add ``benchmark d3`` to the ``sasc`` command line."""
    b = subparsers.add_parser("benchmark", help="benchmarks with known ground truth")
    bsub = b.add_subparsers(dest="benchmark_command", required=True)
    p = bsub.add_parser("d3", help="the paper's 54 synthetic D3 modules (section 3)",
                        description="Explain the 54 D3 synthetic modules, judge against their keyphrases and "
                                    "print the table beside the paper's figures.")
    p.add_argument("--data", default=str(DEFAULT_DATA), help=f"D3 data folder (default: {DEFAULT_DATA})")
    p.add_argument("--tasks", default=None, help="task indices, e.g. 0,1,2 or 0-9 (default: all 54)")
    p.add_argument("--seeds", default="0", help="seeds, e.g. 0,1,2 (default: 0)")
    p.add_argument("--settings", default=",".join(SETTINGS), help=f"among {', '.join(SETTINGS)} (default: all)")
    p.add_argument("--helper", default="local", help="helper LLM spec as for `sasc explain` (default: local)")
    p.add_argument("--out", "-o", default="d3_results", help="output folder; records there are resumed "
                                                             "(default: d3_results)")
    p.add_argument("--cache-dir", default=None, help="cache root (default: $SASC_CACHE or ~/.cache/sasc)")
    add_method_args(p, benchmark=True, skip=("method",))
    method = next(o for o in option_fields(ExplainConfig) if o.name == "method")
    p.add_argument("--method", dest="methods", default=method.default,
                   help=f"explainer method, or several side by side in one run (a comma list among "
                        f"{', '.join(method.spec.accepted)}, e.g. single,iterative): each method's records "
                        f"go under OUT/METHOD and the runs are compared as `sasc benchmark compare` does "
                        f"(default: {method.default})")
    p.add_argument("--max-corpus-texts", type=int, default=None, help="use the first N texts of each corpus "
                   "(default: all; for smoke runs)")
    p.add_argument("--per-corpus-responses", action="store_true", help="score each corpus's n-grams separately "
                   "instead of reading them from the pooled-corpus table (cheaper for a few small tasks)")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel worker processes, each with its own helper and a share of the cores "
                        f"(default: one per core, at most 4 and {WORKER_MEMORY_GIB:g} GiB of memory each, "
                        "for a local helper; 1 for a remote one)")
    p.add_argument("--no-similarity", action="store_true", help="skip the SmolLM2 similarity judge")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_d3)
    c = bsub.add_parser("compare", help="compare two D3 output folders run by run",
                        description="Pair the runs of two `sasc benchmark d3` output folders by setting, seed and "
                                    "task; print top-1 and any-candidate counts, every run whose top-1 outcome "
                                    "changed, an exact sign test on those changes, and the cost in helper calls "
                                    "and time.")
    c.add_argument("base", help="output folder of the reference run (its --out)")
    c.add_argument("new", help="output folder of the run to compare with it")
    c.add_argument("--settings", default=None, help=f"among {', '.join(SETTINGS)} (default: those in either folder)")
    c.add_argument("--json", default=None, help="also write the comparison to this JSON file")
    c.add_argument("--max-listed", type=int, default=30,
                   help="changed runs listed per setting and direction, 0 for none (default: 30)")
    c.add_argument("--fluency", action="store_true",
                   help="judge readable winners with the fluency LM too (loads SmolLM2), not the form rules alone")
    c.set_defaults(func=cmd_compare)


def cmd_d3(args: argparse.Namespace) -> int:
    from .compare import compare_records, format_comparison, read_records, readable_judge

    methods = list(dict.fromkeys(split_list(args.methods)))
    configs = {m: method_config(args, method=m) for m in methods}  # an unknown method fails here, before any work
    options = D3Options(settings=tuple(split_list(args.settings)),
                        seeds=tuple(parse_ints(args.seeds, "--seeds") or [0]),
                        shared_responses=not args.per_corpus_responses, max_corpus_texts=args.max_corpus_texts)
    workers = args.workers
    if workers is None:
        workers = auto_workers(available_cores(), total_memory_gib(), is_local_spec(args.helper))
    outs = {m: Path(args.out) / m if len(methods) > 1 else Path(args.out) for m in methods}
    for m in methods:
        if len(methods) > 1:
            print(f"== method {m} -> {outs[m]}", flush=True)
        _run_one(args, configs[m], options, outs[m], workers)
    if len(methods) > 1:
        base = read_records(outs[methods[0]])
        readable = readable_judge(bool(configs[methods[0]].fluency_model))  # as the tables judged them
        for m in methods[1:]:
            print(f"\n== {methods[0]} vs {m}, run by run\nbase: {outs[methods[0]]}\nnew:  {outs[m]}\n")
            print(format_comparison(compare_records(base, read_records(outs[m]), list(options.settings), readable), 30))
    return 0


def _run_one(args: argparse.Namespace, config: ExplainConfig, options: D3Options, out: Path, workers: int) -> None:
    from .d3 import run_d3

    bar = TqdmProgress(not args.quiet)
    try:
        report = run_d3(Path(args.data), tasks=parse_ints(args.tasks, "--tasks"), helper=args.helper, config=config,
                        options=options, out=out, cache_dir=_cache_dir(args),
                        judge=None if args.no_similarity else "smollm2", progress=bar,
                        workers=workers)
    finally:
        bar.close()
    u = report.usage
    print(report.table)
    print(f"\nhelper calls: {int(u.get('calls', 0))} "
          f"({int(u.get('cached_calls', 0))} cached), tokens: {int(u.get('prompt_tokens', 0))} prompt + "
          f"{int(u.get('completion_tokens', 0))} completion;  wall time {report.wall_s:.0f}s "
          f"(n-gram responses {report.responses_s:.0f}s, {workers} worker{'s' if workers > 1 else ''})")
    print("wrote " + ", ".join(str(p) for p in report.files.values()) + f" and records under {out}{os.sep}records")


def cmd_compare(args: argparse.Namespace) -> int:
    from ..jsonio import dumps
    from .compare import compare_records, comparison_dict, format_comparison, read_records, readable_judge

    settings = None if args.settings is None else split_list(args.settings)
    comparisons = compare_records(read_records(args.base), read_records(args.new), settings,
                                  readable_judge(args.fluency))
    report = format_comparison(comparisons, args.max_listed)
    print(f"base: {args.base}\nnew:  {args.new}\n")
    print(report)
    if args.json:
        Path(args.json).write_text(dumps(comparison_dict(comparisons, args.base, args.new), indent=1,
                                         ensure_ascii=False), encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0
