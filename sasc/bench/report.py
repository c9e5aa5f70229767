"""The D3 results table: per-setting figures beside the paper's, JSON/CSV files and a plot."""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..jsonio import dumps
from .judging import mean_or_nan

PAPER = {
    "default": {"top1": 88.3, "any_candidate": 90.1},
    "restricted": {"top1": 66.7, "any_candidate": 70.4},
    "noisy": {"top1": 67.9, "any_candidate": 70.4},
}
"""The paper's accuracies in % (54 tasks x 3 seeds, text-davinci-003, Instructor-XL module)."""


@dataclass(frozen=True)
class SettingSummary:
    """Aggregate figures of one setting over its tasks and seeds."""

    setting: str
    """``default``, ``restricted`` or ``noisy``."""
    n_tasks: int
    """Distinct tasks."""
    n_runs: int
    """Task runs (tasks x seeds)."""
    top1: float
    """% of runs whose best candidate matches the regex."""
    any_candidate: float
    """% of runs with some matching candidate."""
    top1_seed_sd: float
    """Standard deviation of top-1 % across seeds (NaN with one seed)."""
    seeds: tuple[int, ...]
    """The seeds run, ascending."""
    top1_by_seed: tuple[float, ...]
    """Top-1 % of each seed, in the order of ``seeds``."""
    similarity: float
    """Mean judge similarity of the best candidate to the keyphrase (NaN without a judge)."""
    sigma_correct: float
    """Mean σ of candidates that match the regex."""
    sigma_incorrect: float
    """Mean σ of candidates that do not."""
    paper_top1: float
    """The paper's top-1 % for this setting (NaN if none)."""
    paper_any_candidate: float
    """The paper's any-candidate % (NaN if none)."""
    llm_calls: int
    """Helper calls (cache hits included)."""
    llm_cached_calls: int
    """Helper calls answered from the reply cache."""
    tokens: int
    """Prompt + completion tokens of calls that reached the model."""
    seconds: float
    """Summed wall time of the runs, in seconds."""
    readable_winners: float = math.nan
    """% of runs whose best candidate passes the form check stored with it (:mod:`sasc.form`);
    NaN when no record of the setting stores one (records made before the check)."""


def summarize_setting(setting: str, records: Sequence) -> SettingSummary:
    """Aggregate the records of one setting (records are :class:`~sasc.bench.d3.TaskRecord`)."""
    recs = [r for r in records if r.setting == setting]
    n = len(recs)
    pct = (lambda xs: 100.0 * sum(xs) / len(xs)) if n else (lambda xs: math.nan)
    by_seed: dict[int, list[bool]] = {}
    for r in recs:
        by_seed.setdefault(r.seed, []).append(r.top1)
    seeds = tuple(sorted(by_seed))
    per_seed = [100.0 * sum(by_seed[k]) / len(by_seed[k]) for k in seeds]
    paper = PAPER.get(setting, {})
    return SettingSummary(
        setting=setting, n_tasks=len({r.index for r in recs}), n_runs=n,
        top1=pct([r.top1 for r in recs]), any_candidate=pct([r.any_candidate for r in recs]),
        top1_seed_sd=float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else math.nan,
        seeds=seeds, top1_by_seed=tuple(per_seed),
        similarity=mean_or_nan([r.similarity for r in recs]),
        sigma_correct=mean_or_nan([s for r in recs for s, m in zip(r.sigmas, r.matches) if m]),
        sigma_incorrect=mean_or_nan([s for r in recs for s, m in zip(r.sigmas, r.matches) if not m]),
        paper_top1=paper.get("top1", math.nan), paper_any_candidate=paper.get("any_candidate", math.nan),
        llm_calls=sum(r.llm_calls for r in recs), llm_cached_calls=sum(r.llm_cached_calls for r in recs),
        tokens=sum(r.prompt_tokens + r.completion_tokens for r in recs), seconds=sum(r.seconds for r in recs),
        readable_winners=readable_share(recs),
    )


def readable_share(records: Sequence) -> float:
    """% of ``records`` whose best candidate's stored form check passes (a run without
    candidates counts as not readable); NaN when none stores a form check."""
    forms = [(r.unit.get("candidates") or [{}])[0].get("form") if r.unit else None for r in records]
    if not any(forms):
        return math.nan
    return 100.0 * sum(bool(f) and not f.get("flags") for f in forms) / len(forms)


def format_table(summaries: Sequence[SettingSummary]) -> str:
    """A plain-text table, ours beside the paper's."""
    head = (f"{'setting':<11} {'runs':>5} {'top-1 %':>8} {'paper':>6} {'any %':>7} {'paper':>6} "
            f"{'sim':>6} {'σ ok':>6} {'σ wrong':>8} {'calls':>6} {'tokens':>8} {'time s':>8}")
    lines = [head, "-" * len(head)]
    for s in summaries:
        lines.append(f"{s.setting:<11} {s.n_runs:>5} {s.top1:>8.1f} {s.paper_top1:>6.1f} {s.any_candidate:>7.1f} "
                     f"{s.paper_any_candidate:>6.1f} {s.similarity:>6.3f} {s.sigma_correct:>6.2f} "
                     f"{s.sigma_incorrect:>8.2f} {s.llm_calls:>6} {s.tokens:>8} {s.seconds:>8.0f}")
    readable = [s for s in summaries if not math.isnan(s.readable_winners)]
    if readable:
        lines.append("")
        lines += [f"{s.setting} readable winners (best candidate passes the form check): {s.readable_winners:.1f}%"
                  for s in readable]
    several = [s for s in summaries if len(s.seeds) > 1]
    if several:
        lines.append("")
        for s in several:
            by_seed = ", ".join(f"{v:.1f} (seed {k})" for k, v in zip(s.seeds, s.top1_by_seed))
            lines.append(f"{s.setting} top-1 % by seed: {by_seed}; sd {s.top1_seed_sd:.1f}")
    return "\n".join(lines)


TASK_COLUMNS = ("setting", "seed", "index", "task", "corpus", "n_ngrams", "top1", "any_candidate", "similarity",
                "best_explanation", "best_sigma", "n_candidates", "llm_calls", "tokens", "seconds")


def task_rows(records: Sequence) -> list[dict]:
    """One flat row per record, for the per-task CSV."""
    return [{"setting": r.setting, "seed": r.seed, "index": r.index, "task": r.task, "corpus": r.corpus,
             "n_ngrams": r.n_ngrams, "top1": int(r.top1), "any_candidate": int(r.any_candidate),
             "similarity": round(r.similarity, 4) if math.isfinite(r.similarity) else "",
             "best_explanation": r.explanations[0] if r.explanations else "",
             "best_sigma": round(r.sigmas[0], 3) if r.sigmas else "", "n_candidates": len(r.explanations),
             "llm_calls": r.llm_calls, "tokens": r.prompt_tokens + r.completion_tokens,
             "seconds": round(r.seconds, 2)} for r in records]


def write_outputs(out: Path, summaries: Sequence[SettingSummary], records: Sequence, meta: dict) -> dict[str, Path]:
    """``summary.json``, ``summary.csv``, ``tasks.csv`` and ``accuracy.png`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"summary_json": out / "summary.json", "summary_csv": out / "summary.csv",
             "tasks_csv": out / "tasks.csv", "plot": out / "accuracy.png"}
    doc = {"meta": meta, "settings": [dataclasses.asdict(s) for s in summaries], "tasks": task_rows(records)}
    paths["summary_json"].write_text(dumps(doc, indent=1, ensure_ascii=False), "utf-8")
    flat = [{k: " ".join(f"{x:g}" for x in v) if isinstance(v, tuple) else v  # per-seed tuples: "0 1 2"
             for k, v in dataclasses.asdict(s).items()} for s in summaries]
    _write_csv(paths["summary_csv"], flat, [f.name for f in dataclasses.fields(SettingSummary)])
    _write_csv(paths["tasks_csv"], task_rows(records), list(TASK_COLUMNS))
    plot_accuracy(summaries, paths["plot"])
    return paths


def _write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)


def plot_accuracy(summaries: Sequence[SettingSummary], path: Path) -> None:
    """Grouped bars: top-1 and any-candidate accuracy per setting, ours vs the paper's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s.setting for s in summaries]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(names), 3.2))
    bars = [("top-1 (sasc)", [s.top1 for s in summaries], "#1f77b4"),
            ("any (sasc)", [s.any_candidate for s in summaries], "#aec7e8"),
            ("top-1 (paper)", [s.paper_top1 for s in summaries], "#ff7f0e"),
            ("any (paper)", [s.paper_any_candidate for s in summaries], "#ffbb78")]
    sd = [s.top1_seed_sd for s in summaries]  # spread of sasc's top-1 across seeds, where several ran
    top1_err = None if all(math.isnan(v) for v in sd) else np.array(sd)  # NaN (one seed): no error bar
    w = 0.2
    for i, (label, vals, color) in enumerate(bars):
        ax.bar(x + (i - 1.5) * w, np.nan_to_num(vals), w, label=label, color=color,
               yerr=top1_err if i == 0 else None, capsize=3)
    ax.set_xticks(x, names)
    ax.set_ylim(0, 100)
    ax.set_ylabel("tasks recovered (%)")
    ax.set_title("D3 synthetic modules")
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
