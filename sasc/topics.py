"""Topics of explanations (the SASC paper's comparison of BERT factors and fMRI voxels): a seeded
topic model over the best explanation of every unit in one or more result files, each topic's top
words, the share of each topic per result set, and the explanations nearest each topic.

Result files read (:func:`read_explanations`): a `sasc explain` result (also an fMRI report's
``explanations.json``, or the report folder), a `units-summary` JSON, a `benchmark d3`
``summary.json`` or one D3 task record. Anything else is a :class:`~sasc.errors.ResultFormatError`.

Model: word counts (scikit-learn ``CountVectorizer``, English stop words removed, unigrams) of the
explanations, factored by NMF (``init="nndsvda"``) or LDA, both with ``random_state=seed``. A
document's topic weights are normalized to sum to 1; a set's share of a topic is the mean of its
documents' normalized weights (documents with no counted word are left out and counted).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, ResultFormatError

METHODS = ("nmf", "lda")


@dataclass(frozen=True)
class ExplainedUnit:
    """One unit's best explanation."""

    unit: str
    explanation: str
    sigma: float


@dataclass(frozen=True)
class ExplanationSet:
    """The explained units of one result file."""

    name: str
    """A label for the set (default: the file's stem)."""
    kind: str
    """Which format it was read as: explain_result, units_summary, d3_summary, d3_record."""
    items: list[ExplainedUnit] = field(repr=False)


def _f(x: Any) -> float:
    return float("nan") if x is None or x == "" else float(x)


def parse_explanations(doc: Any, name: str) -> ExplanationSet:
    """The units of an already-parsed result document (see the module doc for the formats)."""
    if isinstance(doc, dict) and isinstance(doc.get("units"), list) and "module" in doc:
        items = []
        for u in doc["units"]:
            if not isinstance(u, dict):
                raise ResultFormatError(f"{name}: a unit of the explain result is not an object")
            cands = u.get("candidates") or []
            if cands:
                items.append(ExplainedUnit(str(u.get("unit", "")), str(cands[0].get("explanation", "")),
                                           _f((cands[0].get("score") or {}).get("sigma"))))
        return ExplanationSet(name, "explain_result", items)
    if isinstance(doc, list) and doc and all(isinstance(r, dict) and {"unit", "explanation"} <= set(r) for r in doc):
        return ExplanationSet(name, "units_summary", [ExplainedUnit(str(r["unit"]), str(r["explanation"] or ""),
                                                                    _f(r.get("sigma"))) for r in doc])
    if isinstance(doc, dict) and isinstance(doc.get("tasks"), list) and "settings" in doc:
        return ExplanationSet(name, "d3_summary", [
            ExplainedUnit(f"{r.get('setting', '')}/{r.get('seed', '')}/{r.get('task', '')}",
                          str(r.get("best_explanation") or ""), _f(r.get("best_sigma"))) for r in doc["tasks"]])
    if isinstance(doc, dict) and {"task", "explanations", "sigmas"} <= set(doc):
        ex, sig = doc["explanations"], doc["sigmas"]
        items = [ExplainedUnit(str(doc["task"]), str(ex[0]), _f(sig[0]))] if ex else []
        return ExplanationSet(name, "d3_record", items)
    raise ResultFormatError(f"{name}: not a result sasc reads; accepted: a `sasc explain` result (or an fMRI "
                            "report folder / its explanations.json), a `units-summary` JSON, a `benchmark d3` "
                            "summary.json or one D3 task record")


def read_explanations(path: str | Path, name: str | None = None) -> ExplanationSet:
    """The best explanation of every unit in a result file (or an fMRI report folder)."""
    p = Path(path).expanduser()
    if p.is_dir():
        if not (p / "explanations.json").is_file():
            raise ResultFormatError(f"{p} is a folder without explanations.json (an fMRI report folder has one)")
        p = p / "explanations.json"
    if not p.is_file():
        raise ResultFormatError(f"no such result file: {p}")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResultFormatError(f"{p}: not a JSON result file ({e})") from None
    label = name or (p.parent.name if p.name == "explanations.json" else p.stem)
    return parse_explanations(doc, label)


# -- pure parts -----------------------------------------------------------------------------------
def normalize_rows(weights: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to 1; an all-zero row stays zero."""
    w = np.asarray(weights, dtype=np.float64)
    s = w.sum(1, keepdims=True)
    return np.divide(w, s, out=np.zeros_like(w), where=s > 0)


def topic_shares(doc_topic: np.ndarray, set_of_doc: Sequence[int], n_sets: int) -> np.ndarray:
    """``[n_sets, n_topics]``: per set, the mean normalized topic weights of its documents that have
    any weight (a set with none is all zero). Each row with documents sums to 1."""
    w = normalize_rows(doc_topic)
    sets = np.asarray(set_of_doc)
    out = np.zeros((n_sets, w.shape[1]))
    for s in range(n_sets):
        rows = w[(sets == s) & (w.sum(1) > 0)]
        if len(rows):
            out[s] = rows.mean(0)
    return out


def top_words(components: np.ndarray, vocabulary: Sequence[str], k: int = 8) -> list[list[str]]:
    """Per topic, its ``k`` highest-weight words (ties: vocabulary order)."""
    comp = np.asarray(components)
    return [[vocabulary[j] for j in np.argsort(-row, kind="stable")[:k]] for row in comp]


# -- the model --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TopicReport:
    """What :func:`fit_topics` found."""

    method: str
    n_topics: int
    seed: int
    sets: list[dict[str, Any]]
    """Per result set: name, kind, units, explanations used (non-empty, with a counted word)."""
    topics: list[dict[str, Any]]
    """Per topic: index, top words, and the nearest explanations (set, unit, explanation, weight)."""
    shares: list[list[float]]
    """``[set][topic]``: the share of each topic per set."""

    def to_dict(self) -> dict[str, Any]:
        import dataclasses

        return dataclasses.asdict(self)


def fit_topics(sets: Sequence[ExplanationSet], n_topics: int = 5, *, method: str = "nmf", seed: int = 0,
               n_words: int = 8, n_nearest: int = 3) -> TopicReport:
    """A topic model over every non-empty explanation of ``sets``."""
    from sklearn.decomposition import NMF, LatentDirichletAllocation
    from sklearn.feature_extraction.text import CountVectorizer

    if method not in METHODS:
        raise ConfigError(f"unknown topic method {method!r}; accepted: {', '.join(METHODS)}")
    if n_topics < 1:
        raise ConfigError(f"n_topics must be >= 1, got {n_topics}")
    docs, owner = [], []
    for i, s in enumerate(sets):
        for item in s.items:
            if item.explanation.strip():
                docs.append((item, i))
                owner.append(i)
    if len(docs) < n_topics:
        raise ConfigError(f"{len(docs)} non-empty explanation(s) in {len(sets)} result set(s): fewer than "
                          f"{n_topics} topics (use fewer --topics or more results)")
    vec = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b")
    try:
        counts = vec.fit_transform([d.explanation for d, _ in docs])
    except ValueError:
        raise ConfigError("the explanations have no words left after removing English stop words") from None
    if method == "nmf":
        model = NMF(n_components=n_topics, init="nndsvda", random_state=seed, max_iter=1000)
    else:
        model = LatentDirichletAllocation(n_components=n_topics, random_state=seed)
    doc_topic = model.fit_transform(counts.astype(np.float64))
    shares = topic_shares(doc_topic, owner, len(sets))
    norm = normalize_rows(doc_topic)
    vocab = list(vec.get_feature_names_out())
    words = top_words(model.components_, vocab, n_words)
    topics = []
    for t in range(n_topics):
        order = np.argsort(-doc_topic[:, t], kind="stable")[:n_nearest]
        topics.append({"topic": t, "words": words[t], "nearest": [
            {"set": sets[docs[j][1]].name, "unit": docs[j][0].unit, "explanation": docs[j][0].explanation,
             "weight": float(norm[j, t])} for j in order if doc_topic[j, t] > 0]})
    used = np.asarray(counts.sum(1)).ravel() > 0
    set_rows = [{"name": s.name, "kind": s.kind, "units": len(s.items),
                 "explanations": int(sum(1 for j, (_, o) in enumerate(docs) if o == i and used[j]))}
                for i, s in enumerate(sets)]
    return TopicReport(method, n_topics, seed, set_rows, topics, shares.tolist())


def format_topics(report: TopicReport) -> str:
    """The topic table: words, then each set's share."""
    names = [s["name"] for s in report.sets]
    width = max(8, *(len(n) for n in names))
    lines = [f"{report.method.upper()}, {report.n_topics} topics, seed {report.seed}; explanations used: "
             + ", ".join(f"{s['name']} {s['explanations']}/{s['units']}" for s in report.sets),
             f"{'topic':<6}" + "".join(f"{n:>{width + 2}}" for n in names) + "  top words"]
    for t in report.topics:
        lines.append(f"{t['topic']:<6}" + "".join(f"{report.shares[i][t['topic']]:>{width + 2}.2f}"
                                                  for i in range(len(names))) + "  " + ", ".join(t["words"]))
    for t in report.topics:
        lines.append(f"\n== topic {t['topic']}: {', '.join(t['words'][:5])}")
        for n in t["nearest"]:
            lines.append(f"  {n['weight']:.2f}  [{n['set']}] {n['unit']}: {n['explanation']}")
    return "\n".join(lines)


def plot_topic_shares(report: TopicReport, path: str | Path) -> Path:
    """Stacked bars: one bar per result set, one segment per topic (labelled by its top words)."""
    from .plots import new_figure, save_figure

    names = [s["name"] for s in report.sets]
    shares = np.asarray(report.shares)
    fig = new_figure((max(5, 1.6 * len(names) + 4), 4.5))
    ax = fig.add_subplot(1, 1, 1)
    bottom = np.zeros(len(names))
    for t in report.topics:
        k = t["topic"]
        ax.bar(names, shares[:, k], bottom=bottom, label=f"{k}: {', '.join(t['words'][:3])}")
        bottom += shares[:, k]
    ax.set_ylabel("share of explanations' topic weight")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title(f"{report.method.upper()} topics of explanations", fontsize=10)
    return save_figure(fig, path)
