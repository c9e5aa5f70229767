"""HTML pages of explain results: one self-contained file a researcher opens in a browser.

:func:`result_html` is what ``sasc units-summary`` writes beside its CSV, JSON and σ plot: the plot,
then one row per unit (σ with its interval, the predictive scores, the winner with its form flags,
the top n-grams and, for units inside a language model explained with ``--evidence output``, what
the unit makes the model say), then the iterative explainer's experiments. The fMRI report
(:mod:`sasc.fmri.report`) shares the pieces: :func:`score_td`, :func:`figure_html`, :func:`experiments_html`.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

STYLE = ("body{font-family:sans-serif;margin:1em} table{border-collapse:collapse;font-size:90%} "
         "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top} code{font-size:80%} "
         "img{max-width:100%} .flag{color:#a33;font-size:85%} .tok{font-family:monospace;background:#f3f3f3;"
         "padding:0 2px;margin-right:3px;white-space:pre}")


def score_td(d: dict | None) -> str:
    """A table cell of one predictive score: value [CI] and its baseline; the reason as a tooltip
    when undefined."""
    from .scorers.cli import cell

    title = f' title="{html.escape(d["undefined_reason"])}"' if d and d.get("undefined_reason") else ""
    return f"<td{title}>{html.escape(cell(d))}</td>"


def tokens_html(pairs: Sequence[Any], k: int = 8) -> str:
    """The first ``k`` ``(token, value)`` pairs as token chips (whitespace kept visible), value in the tooltip."""
    return "".join(f'<span class="tok" title="{float(v):+.3g}">{html.escape(repr(str(t))[1:-1])}</span>'
                   for t, v in list(pairs)[:k])


def output_evidence_td(evidence: dict | None) -> str:
    """A cell of output-side evidence (``--evidence output``): the tokens the unit raises when turned
    up on text and those it promotes through the unembedding; empty when there is none."""
    if not evidence:
        return "<td></td>"
    parts = []
    for key, label in (("raised", "raises"), ("promoted", "promotes"), ("suppressed", "suppresses")):
        if evidence.get(key):
            parts.append(f"<div>{label}: {tokens_html(evidence[key])}</div>")
    return "<td>" + "".join(parts) + "</td>"


def experiments_html(units: Sequence[Any]) -> str:
    """The iterative explainer's experiments (``--method iterative``), one collapsible block per unit:
    how it stopped, the evidence per hypothesis and the log the helper read; "" when there are none."""
    blocks = []
    for u in units:
        x = getattr(u, "experiment", None) or {}
        if not x:
            continue
        ev = "".join(f"<li>{html.escape(h)}: fitting texts {e['fits']:.2f}σ, near misses {e['near_misses']:.2f}σ</li>"
                     for h, e in x.get("evidence", {}).items())
        log = "".join(f"<li>{html.escape(line)}</li>" for line in x.get("log", []))
        blocks.append(f"<details><summary>{html.escape(u.unit)}: {x.get('rounds', 0)} rounds, stopped: "
                      f"{html.escape(str(x.get('status')))}</summary><p>evidence:</p><ul>{ev or '<li>none</li>'}</ul>"
                      f"<p>log:</p><ol>{log}</ol></details>")
    return "<h2>Experiments (iterative explainer)</h2>" + "".join(blocks) if blocks else ""


def figure_html(path: str | Path | None, caption: bool = False) -> str:
    """A PNG embedded in the page (base64), its file name as caption if asked; "" when there is none."""
    if not path or not Path(path).exists():
        return ""
    p = Path(path)
    data = base64.b64encode(p.read_bytes()).decode()
    cap = f"<figcaption>{html.escape(p.name)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(p.stem)}">{cap}</figure>'


def result_html(result: Any, rows: Sequence[Any], *, plot: str | Path | None = None, title: str = "") -> str:
    """The page of an :class:`~sasc.results.ExplainResult` and its :class:`~sasc.many_units.UnitSummary`
    rows (same order), units by σ, best first; ``plot``: a PNG embedded above the table."""
    from .scorers.cli import LEGEND
    from .summarize import OUTPUT_STYLE

    units = {u.unit: u for u in result.units}
    names = list(dict.fromkeys(n for r in rows for n in r.scores))
    evidence = any(getattr(u, "output_evidence", None) for u in result.units)
    head = ["unit", "σ [95% CI]", *names, "top explanation", "top n-grams"] + (["makes the model say"] if evidence else [])
    body = []
    for r in sorted(rows, key=lambda r: -r.sigma if math.isfinite(r.sigma) else math.inf):
        u = units.get(r.unit)
        best = u.best if u is not None else None
        flags = list(best.form.flags) if best is not None and best.form is not None else []
        moved = getattr(u, "reranked_from", "") if u is not None else ""
        note = (f' <span class="flag">[{html.escape(", ".join(flags))}]</span>' if flags else "") + (
            f' <span class="flag" title="the readable ranking moved it first">(over {html.escape(moved)!s})</span>'
            if moved else "") + (
            ' <span class="flag" title="summarized from what the unit makes the model say">(output side)</span>'
            if best is not None and getattr(best, "style", "") == OUTPUT_STYLE else "")
        sigma = f"{r.sigma:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]" if math.isfinite(r.sigma) else "—"
        body.append(f"<tr><td>{html.escape(r.unit)}</td><td>{sigma}</td>"
                    + "".join(score_td(r.scores.get(n)) for n in names)
                    + f"<td>{html.escape(r.explanation) or '<i>none</i>'}{note}</td>"
                    + f"<td>{html.escape(', '.join(r.top_ngrams))}</td>"
                    + (output_evidence_td(getattr(u, "output_evidence", None)) if evidence else "") + "</tr>")
    if names:
        body.append(f'<tr><td colspan="{len(head)}"><small>{html.escape(LEGEND)}</small></td></tr>')
    title = title or f"sasc: {result.module.get('name', 'explain result')}"
    meta = (f"helper: {result.helper} · reference corpus: {result.reference_corpus.get('name', '')} · "
            f"generic corpus: {result.generic_corpus.get('name', '')} · {len(rows)} units")
    head_html = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p><code>{html.escape(meta)}</code></p>"
            f"{figure_html(plot)}<table><thead><tr>{head_html}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"{experiments_html(result.units)}</body></html>\n")


def write_result_html(result: Any, rows: Sequence[Any], path: str | Path, *, plot: str | Path | None = None,
                      title: str = "") -> Path:
    """Write :func:`result_html` to ``path`` (atomically) and return it."""
    from .cache import atomic_write_text

    path = Path(path)
    atomic_write_text(path, result_html(result, rows, plot=plot, title=title))
    return path
