"""Summaries of many-unit explanations: a table (CSV/JSON) and a plot of σ per layer or unit.

One :func:`sasc.explain` call over a bank (all neurons of a layer, all factors of a
dictionary) returns one :class:`~sasc.results.UnitExplanation` per unit; this module turns
that into one row per unit with its best explanation and σ.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .results import ExplainResult

_UNIT_NAME = re.compile(r"^L(\d+)\.(?:[A-Za-z_]+\.)?[A-Za-z]*(\d+)$")


@dataclass(frozen=True)
class UnitSummary:
    """One row of the summary table."""

    unit: str
    """Unit name, e.g. ``"L5.N1204"``."""
    layer: int | None
    """Layer parsed from the unit name (None when it has none)."""
    index: int | None
    """Index within the layer parsed from the unit name (None when it has none)."""
    explanation: str
    """The top-ranked explanation ('' when the helper produced none)."""
    sigma: float
    """Its σ (NaN when there is none)."""
    ci_low: float
    """Lower end of σ's 95% bootstrap interval."""
    ci_high: float
    """Upper end of σ's 95% bootstrap interval."""
    n_candidates: int
    """Candidates scored for the unit."""
    top_ngrams: list[str]
    """The unit's highest-response n-grams, best first."""
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The top-ranked explanation's predictive scores (``sasc explain --scorers``): name ->
    ``{value, ci, n, baseline, ...}``; empty when none were computed."""


def parse_unit_name(name: str) -> tuple[int | None, int | None]:
    """``"L5.N1204"`` -> ``(5, 1204)``; ``"L4.F17"`` -> ``(4, 17)``; anything else -> ``(None, None)``."""
    m = _UNIT_NAME.match(name)
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


def summarize_units(result: ExplainResult, n_ngrams: int = 5) -> list[UnitSummary]:
    """One :class:`UnitSummary` per explained unit, in the result's order."""
    rows = []
    for u in result.units:
        layer, index = parse_unit_name(u.unit)
        best = u.best
        nan = float("nan")
        rows.append(UnitSummary(
            unit=u.unit, layer=layer, index=index,
            explanation=best.explanation if best else "",
            sigma=float(best.score.sigma) if best else nan,
            ci_low=float(best.score.ci_low) if best else nan,
            ci_high=float(best.score.ci_high) if best else nan,
            n_candidates=len(u.candidates),
            top_ngrams=[t.ngram for t in u.top_ngrams[:n_ngrams]],
            scores=dict(best.scores) if best else {},
        ))
    return rows


def scorer_names(rows: Sequence[UnitSummary]) -> list[str]:
    """The predictive scorers any row has a score of, in first-seen order."""
    return list(dict.fromkeys(n for r in rows for n in r.scores))


SCORE_COLUMNS = ("value", "ci_low", "ci_high", "n", "baseline")
"""The CSV columns of each predictive score, as ``<scorer>_<column>``."""


def _score_columns(name: str, d: dict[str, Any] | None) -> dict[str, Any]:
    d = d or {}
    ci = d.get("ci") or [None, None]
    values = {"value": d.get("value"), "ci_low": ci[0], "ci_high": ci[1], "n": d.get("n"), "baseline": d.get("baseline")}
    return {f"{name}_{k}": "" if values[k] is None else values[k] for k in SCORE_COLUMNS}


def write_summary_csv(rows: Sequence[UnitSummary], path: str | Path) -> Path:
    """Write the table as CSV (top n-grams joined with ``" | "``; each predictive score as
    ``<scorer>_value``, ``_ci_low``, ``_ci_high``, ``_n``, ``_baseline``, empty when undefined)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    names = scorer_names(rows)
    fields = [f.name for f in dataclasses.fields(UnitSummary) if f.name != "scores"]
    fields += [f"{n}_{k}" for n in names for k in SCORE_COLUMNS]
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            d = dataclasses.asdict(r)
            del d["scores"]
            d["top_ngrams"] = " | ".join(r.top_ngrams)
            d["layer"] = "" if r.layer is None else r.layer
            d["index"] = "" if r.index is None else r.index
            for n in names:
                d.update(_score_columns(n, r.scores.get(n)))
            w.writerow(d)
    return p


def write_summary_json(rows: Sequence[UnitSummary], path: str | Path) -> Path:
    """Write the table as a JSON list of objects (NaN σ written as null; ``scores`` as in the result)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for r in rows:
        d = dataclasses.asdict(r)
        for k in ("sigma", "ci_low", "ci_high"):
            if not math.isfinite(d[k]):
                d[k] = None
        out.append(d)
    p.write_text(json.dumps(out, indent=1, ensure_ascii=False), encoding="utf-8")
    return p


def plot_sigma(rows: Sequence[UnitSummary], path: str | Path, title: str | None = None) -> Path:
    """PNG of σ: per layer (points + median) when units span several layers, else per unit (bars).

    Drawn with matplotlib's Agg canvas directly (no pyplot, no global backend change).
    """
    from .plots import new_figure, save_figure

    scored = [r for r in rows if math.isfinite(r.sigma)]
    layers = sorted({r.layer for r in scored if r.layer is not None})
    fig = new_figure((8, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    if len(layers) > 1:
        _per_layer(ax, scored, layers)
    else:
        _per_unit(ax, scored)
    ax.axhline(0.0, color="gray", linewidth=0.8)
    ax.set_ylabel("σ of the best explanation")
    ax.set_title(title or f"{len(scored)} of {len(rows)} units with a scored explanation")
    return save_figure(fig, path, format="png")


def _per_layer(ax, rows: Sequence[UnitSummary], layers: list[int]) -> None:
    rng = np.random.default_rng(0)
    for layer in layers:
        s = np.array([r.sigma for r in rows if r.layer == layer])
        ax.scatter(layer + rng.uniform(-0.2, 0.2, len(s)), s, s=8, alpha=0.5, color="tab:blue")
        ax.plot([layer - 0.3, layer + 0.3], [np.median(s)] * 2, color="tab:red", linewidth=2)
    ax.set_xlabel("layer (red: median)")
    ax.set_xticks(layers)


def _per_unit(ax, rows: Sequence[UnitSummary]) -> None:
    ordered = sorted(rows, key=lambda r: -r.sigma)
    x = np.arange(len(ordered))
    ax.bar(x, [r.sigma for r in ordered], color="tab:blue")
    if 0 < len(ordered) <= 40:
        ax.set_xticks(x)
        ax.set_xticklabels([r.unit for r in ordered], rotation=60, ha="right", fontsize=7)
    ax.set_xlabel("unit (sorted by σ)")


def write_summary(result: ExplainResult, stem: str | Path, *, rows: Sequence[UnitSummary] | None = None,
                  csv: str | Path | None = None, json: str | Path | None = None, plot: str | Path | None = None,
                  html: str | Path | None = None, plot_title: str | None = "") -> dict[str, Path]:
    """Write the summary table (CSV and JSON), the σ plot and the HTML page
    (:func:`sasc.html_report.result_html`) of ``result``; return their paths. Each path defaults to
    ``<stem>.summary.csv``, ``<stem>.summary.json``, ``<stem>.sigma.png``, ``<stem>.html``.
    ``rows``: :func:`summarize_units` of ``result`` when None; ``plot_title``: "" for the module's name."""
    from .html_report import write_result_html

    rows = summarize_units(result) if rows is None else rows
    stem = Path(stem)
    default = lambda suffix: stem.with_name(stem.name + suffix)  # noqa: E731
    title = (f"{result.module.get('name', '')}"[:80] or None) if plot_title == "" else plot_title
    png = plot_sigma(rows, plot or default(".sigma.png"), title=title)
    return {
        "csv": write_summary_csv(rows, csv or default(".summary.csv")),
        "json": write_summary_json(rows, json or default(".summary.json")),
        "plot": png,
        "html": write_result_html(result, rows, html or default(".html"), plot=png),
    }
