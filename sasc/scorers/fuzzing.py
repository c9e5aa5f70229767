"""``fuzzing`` (EleutherAI delphi): words in a text are marked ``<<like this>>``, either the words the
unit responds to most (a correct marking) or words at random positions (an incorrect one, same count
and lengths); the helper reads the explanation and says whether the marking is correct. Score:
balanced accuracy of "yes" (P(yes) > 0.5) over correct vs incorrect markings; ``details`` has the
AUROC of P(yes) and the true-negative rate of each kind of incorrect marking.

Where detection asks "does this text match?", fuzzing asks "are *these words* the ones?": an
explanation that names the right topic but not what in the text drives the unit scores lower.

Every module kind gives one value per text (no module has per-token activations yet), so the
"activating words" of a text are its top n-grams: the text's own 1..``max_n``-grams (the n-gram
tokenization of :mod:`sasc.ngrams`, within a segment) scored by the unit, the ``n_marks`` highest
that do not overlap (:meth:`FuzzingScorer.prepare`, recorded in the scoring set as ``marks``).
The samples (:func:`fuzz_samples`):

- each *top* text marked at its top n-grams: correct (delphi's activating examples);
- each *top* text marked at random word spans of the same lengths, disjoint from the top ones:
  incorrect (delphi's "active" fuzzing: the text is right, the words are not);
- each *random* text marked at random word spans of its own top n-grams' lengths: incorrect (delphi's
  default non-activating examples).

So a unit costs 2 x n_top + n_random helper calls, and one module call on the set's n-grams.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..llm.base import HelperLLM
from ..modules.base import check_finite, module_name, to_response_array
from ..ngrams import word_positions
from .ask import ask, parse_yes_no, read_answers
from .base import ScoreResult, ScoringRecord
from .stats import auroc, balanced_accuracy, bootstrap_ci, constant_reason

OPEN, CLOSE = "<<", ">>"
"""How a marked span is written in the text the helper reads."""

PROMPT = """A unit of a language-processing model is described by this explanation:
"{explanation}"

In the text below, the words between << and >> are marked as the words the unit responds to most strongly.

Text: "{text}"

Does the explanation describe the marked words, so that the marking is correct? Answer yes or no."""

Span = tuple[int, int]
"""Word indices ``[start, end)`` into :func:`sasc.ngrams.word_positions` of a text."""

KINDS = ("top_marked", "top_shifted", "random_text")
"""The samples: a top text marked correctly, a top text marked at random spans, a random text marked
at random spans."""


# --- pure functions ----------------------------------------------------------------------------

def ngram_spans(text: str, max_n: int = 3) -> list[Span]:
    """Every 1..``max_n``-word span of ``text`` inside one segment, by start then length."""
    words = word_positions(text)
    out = []
    for i in range(len(words)):
        for n in range(1, max_n + 1):
            j = i + n
            if j > len(words) or words[j - 1][2] != words[i][2]:
                break
            out.append((i, j))
    return out


def span_text(text: str, span: Span) -> str:
    """The n-gram a span covers: its words joined by one space (as :mod:`sasc.ngrams` writes n-grams)."""
    words = word_positions(text)
    return " ".join(text[s:e] for s, e, _ in words[span[0]:span[1]])


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def top_spans(spans: Sequence[Span], values: Sequence[float], k: int) -> list[Span]:
    """The ``k`` highest-valued ``spans`` that do not overlap, chosen greedily (ties: the earlier
    start, then the shorter span), in the order chosen."""
    order = sorted(range(len(spans)), key=lambda i: (-float(values[i]), spans[i][0], spans[i][1] - spans[i][0]))
    chosen: list[Span] = []
    for i in order:
        if len(chosen) == k:
            break
        if not any(_overlaps(spans[i], c) for c in chosen):
            chosen.append(spans[i])
    return chosen


def find_spans(text: str, ngrams: Sequence[str]) -> list[Span]:
    """The span of each n-gram in ``text`` (its first occurrence not overlapping an earlier one);
    :class:`ConfigError` for an n-gram that is not in the text."""
    words = [text[s:e] for s, e, _ in word_positions(text)]
    out: list[Span] = []
    for g in ngrams:
        want = g.split(" ")
        n = len(want)
        hit = next(((i, i + n) for i in range(len(words) - n + 1)
                    if words[i:i + n] == want and not any(_overlaps((i, i + n), c) for c in out)), None)
        if hit is None:
            raise ConfigError(f"marked n-gram {g!r} is not in the text {text[:60]!r}")
        out.append(hit)
    return out


def random_spans(n_words: int, lengths: Sequence[int], avoid: Sequence[Span], rng: random.Random) -> list[Span] | None:
    """One span per length in ``lengths`` at uniformly drawn free positions of a text of ``n_words``
    words, overlapping neither each other nor ``avoid``; None when they do not fit."""
    taken = list(avoid)
    out: list[Span] = []
    for n in lengths:
        free = [(i, i + n) for i in range(n_words - n + 1) if not any(_overlaps((i, i + n), t) for t in taken)]
        if not free:
            return None
        s = rng.choice(free)
        out.append(s)
        taken.append(s)
    return out


def mark(text: str, spans: Sequence[Span]) -> str:
    """``text`` with each span's words written ``<<between marks>>``; a ``<<`` or ``>>`` already in
    the text is written as one ``<`` or ``>``, so only the marking uses the double brackets."""
    words = word_positions(text)
    cuts = sorted((words[a][0], words[b - 1][1]) for a, b in spans)

    def plain(s: str) -> str:
        return s.replace(OPEN, "<").replace(CLOSE, ">")

    out, pos = [], 0
    for start, end in cuts:
        out += [plain(text[pos:start]), OPEN, plain(text[start:end]), CLOSE]
        pos = end
    out.append(plain(text[pos:]))
    return "".join(out)


@dataclass(frozen=True)
class FuzzSample:
    """One marked text the helper judges."""

    text: str
    """The text with its marks."""
    correct: bool
    """Whether the marks are the text's top n-grams."""
    kind: str
    """One of :data:`KINDS`."""
    source: int
    """Index of the text in the scoring set."""


def fuzz_samples(texts: Sequence[str], is_top: Sequence[bool], marks: Sequence[Sequence[str]],
                 seed: int = 0) -> list[FuzzSample]:
    """The marked samples of a scoring set (see the module docstring), in set order; a text whose
    marks are empty, or whose random spans do not fit beside its top ones, gives no sample of that
    kind. Seeded: the random spans of text i come from ``random.Random(f"{seed}:{i}")``."""
    out = []
    for i, (text, top, ngrams) in enumerate(zip(texts, is_top, marks)):
        if not ngrams:
            continue
        spans = find_spans(text, ngrams)
        rng = random.Random(f"{seed}:{i}")
        n_words = len(word_positions(text))
        lengths = [b - a for a, b in spans]
        if top:
            out.append(FuzzSample(mark(text, spans), True, "top_marked", i))
        wrong = random_spans(n_words, lengths, spans if top else [], rng)
        if wrong is not None:
            out.append(FuzzSample(mark(text, wrong), False, "top_shifted" if top else "random_text", i))
    return out


def token_marks(texts: Sequence[str], is_top: Sequence[bool], tokens: Sequence[Sequence[str]],
                values: Sequence[Sequence[float]]) -> tuple[tuple[str, ...], ...]:
    """Per token excerpt, the word (:func:`sasc.ngrams.word_positions`) that holds its most active
    token, or the nearest word when that token is punctuation or space; empty for a top excerpt
    whose tokens are all alike (nothing to call the most active) or that has no word. A word that
    also occurs earlier in the text is marked at its first occurrence (:func:`find_spans`)."""
    out = []
    for text, top, toks, vals in zip(texts, is_top, tokens, values):
        words = word_positions(text)
        if not words or not vals or (top and max(vals) == min(vals)):
            out.append(())
            continue
        k = int(np.argmax(vals))
        start = sum(len(t) for t in toks[:k])
        end = start + len(toks[k])
        a, b, _ = min(words, key=lambda w: (0 if w[0] < end and w[1] > start else 1, abs(w[0] - start)))
        out.append((text[a:b],))
    return tuple(out)


def _undefined(truth: np.ndarray) -> str | None:
    """Why balanced accuracy over these labels is undefined, None when it is defined."""
    if not truth.any():
        return "needs both correctly and randomly marked texts: no top text has a word to mark"
    if truth.all():
        return ("needs both correctly and randomly marked texts: no random marking fits beside the top n-grams "
                "and the set has no random text")
    return None


# --- the scorer --------------------------------------------------------------------------------

class FuzzingScorer:
    """Balanced accuracy of judging correct vs random markings (see the module docstring)."""

    name = "fuzzing"

    def __init__(self, n_marks: int = 1, max_n: int = 3) -> None:
        if n_marks < 1 or max_n < 1:
            raise ConfigError("fuzzing needs n_marks >= 1 and max_n >= 1")
        self.n_marks = n_marks
        """N-grams marked per text."""
        self.max_n = max_n
        """Longest n-gram marked, in words."""

    def prepare(self, scoring_set: Any, bank: Any, col: int) -> Any:
        """``scoring_set`` with ``marks`` filled: per text, its ``n_marks`` top n-grams by unit
        ``col`` of ``bank`` (one module call on the set's distinct n-grams); none for a text whose
        n-grams all get the same response (no top one to mark) when it is a top text (a random
        text's marks only give the lengths of its random spans). On token excerpts the mark is the
        word holding the excerpt's most active token (no module call; :func:`token_marks`)."""
        if scoring_set.tokens:
            return dataclasses.replace(scoring_set, marks=token_marks(scoring_set.texts, scoring_set.is_top,
                                                                      scoring_set.tokens, scoring_set.token_values))
        spans = [ngram_spans(t, self.max_n) for t in scoring_set.texts]
        grams = [[span_text(t, s) for s in ss] for t, ss in zip(scoring_set.texts, spans)]
        distinct = list(dict.fromkeys(g for gs in grams for g in gs))
        value: dict[str, float] = {}
        if distinct:
            name = module_name(bank)
            r = to_response_array(bank.responses(distinct), len(distinct), name, len(bank.units))
            value = dict(zip(distinct, check_finite(r, distinct, name)[:, col].tolist()))
        marks = []
        for t, top, ss, gs in zip(scoring_set.texts, scoring_set.is_top, spans, grams):
            v = [value[g] for g in gs]
            if top and len(v) > 1 and max(v) == min(v):  # every n-gram alike: no word to call the top one
                marks.append(())
                continue
            chosen = top_spans(ss, v, self.n_marks)
            marks.append(tuple(span_text(t, s) for s in chosen))
        return dataclasses.replace(scoring_set, marks=tuple(marks))

    def __call__(self, record: ScoringRecord, helper: HelperLLM, *, sampled: bool = False, seed: int = 0,
                 n_boot: int = 1000) -> ScoreResult:
        method = "sampled" if sampled else "logprobs"
        if len(record.marks) != len(record.texts):
            raise ConfigError("fuzzing needs each text's top n-grams (the scoring set's marks); draw the set "
                              "with sasc.scorers.run (score_explanations / add_scores) or FuzzingScorer.prepare")
        samples = fuzz_samples(record.texts, record.is_top, record.marks, seed)
        truth = np.array([s.correct for s in samples], dtype=bool)
        # an empty or constant set, or no correct or no incorrect marking: undefined, no helper call
        reason = constant_reason(record.responses) or _undefined(truth)
        if reason is not None:
            return ScoreResult(self.name, float("nan"), float("nan"), float("nan"), len(samples),
                               undefined_reason=reason, method=method)
        prompts = [PROMPT.format(explanation=record.explanation, text=s.text) for s in samples]
        replies = ask(helper, prompts, sampled=sampled, seed=seed, max_tokens=2)
        probs = read_answers(replies, ("yes", "no"), helper.name, sampled=sampled, parse=parse_yes_no)
        p = np.array([pr.get("yes", 0.0) for pr in probs], dtype=np.float64)
        value, reason = balanced_accuracy(p > 0.5, truth)
        lo, hi = (bootstrap_ci(lambda s, t: balanced_accuracy(s > 0.5, t), [p, truth], n_boot, seed)
                  if reason is None else (float("nan"),) * 2)
        area, _ = auroc(p, truth)
        details: dict[str, Any] = {"auroc": area, "n_marks": self.n_marks}
        for kind in KINDS:
            rows = np.array([s.kind == kind for s in samples])
            details[f"n_{kind}"] = int(rows.sum())
            if kind != "top_marked" and rows.any():
                details[f"tnr_{kind}"] = float((p[rows] <= 0.5).mean())
        return ScoreResult(self.name, value, lo, hi, len(samples), undefined_reason=reason, method=method,
                           details=details)
