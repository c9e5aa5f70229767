"""Readable winners: repair candidates before scoring, and prefer a winner that reads well
among those σ cannot tell apart from the best (see :mod:`sasc.form` for the check)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence
from .form import FormCheck, Repair, _content, repair, restates, words
from .results import ScoredCandidate
from .scoring import intervals_overlap
from .summarize import Candidate, _norm

PARAPHRASES_SCORED = 2
"""At most this many candidates left unscored by the pre-screen are scored when the winner
fails the form check and they are clean paraphrases of it."""


def repair_candidates(cands: Sequence[Candidate]) -> tuple[list[Candidate], list[Repair], list[list[str]]]:
    """Each candidate repaired, the repairs made, and for each candidate returned the original texts
    repaired into it (what :func:`screen_values` ranks it by). A repaired candidate that now reads
    like an earlier one (case, punctuation and a leading "the" ignored, as
    :func:`sasc.summarize.summarize` merges) is merged into it: its repair is listed with ``after=""``
    and its original text goes to that earlier candidate's sources."""
    out: list[Candidate] = []
    repairs: list[Repair] = []
    sources: list[list[str]] = []
    index: dict[str, int] = {}  # normalized text -> its place in ``out``
    for c in cands:
        text, rules = repair(c.explanation)
        key = _norm(text)
        merged = key in index
        if rules:
            repairs.append(Repair(c.explanation, "" if merged else text, list(rules)))
        if not merged:
            index[key] = len(out)
            out.append(dataclasses.replace(c, explanation=text) if rules else c)
            sources.append([])
        if rules:
            sources[index[key]].append(c.explanation)
    return out, repairs, sources


def screen_values(direct: Sequence[float], sources: Sequence[Sequence[str]],
                  respond: Callable[[list[str]], Sequence[float]]) -> list[float]:
    """What the direct pre-screen ranks each candidate by: its own direct response, or the highest of
    the texts it was repaired from when that is higher, so that a repair never decides whether a
    candidate is scored ("searching for" screened in, then repaired to "searching", stays in).
    ``respond`` gives the module's response to each text (called once, only when there are sources)."""
    texts = sorted({t for s in sources for t in s})
    if not texts:
        return [float(d) for d in direct]
    of = dict(zip(texts, (float(v) for v in respond(texts))))
    return [max([float(d)] + [of[t] for t in s]) for d, s in zip(direct, sources)]


def _restated(xs: Collection[str], ys: Collection[str]) -> int:
    """How many of the words ``xs`` are restated among ``ys`` (:func:`sasc.form.restates`)."""
    return sum(any(restates(x, y) for y in ys) for x in xs)


def is_paraphrase(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` say much the same: at least half of each one's content words are
    restated in the other (:func:`sasc.form.restates`): ``("Food and food", "Food and cooking")``."""
    ca, cb = _content(words(a)), _content(words(b))
    if not ca or not cb:
        return False
    return _restated(ca, cb) / len(ca) >= 0.5 and _restated(cb, ca) / len(cb) >= 0.5


def condenses(long: str, short: str) -> bool:
    """Whether ``short`` says part of what ``long`` says in fewer words: it has fewer distinct
    content words, at least half of them are restated in ``long``, and it restates at least two of
    ``long``'s (one when ``long`` has one): "Cautious sailors at sea" condenses "The phrase 'tide
    charts' often signals a careful or cautious sailor". :func:`is_paraphrase` asks half both ways,
    which a long winner's shorter restatement cannot meet."""
    cl, cs = set(_content(words(long))), set(_content(words(short)))
    if not cs or len(cs) >= len(cl):
        return False
    return _restated(cs, cl) / len(cs) >= 0.5 and _restated(cl, cs) >= min(2, len(cl))


def paraphrases_to_score(winner: ScoredCandidate, unscored: Sequence[tuple[int, str, FormCheck]],
                         limit: int = PARAPHRASES_SCORED) -> list[int]:
    """Indices of the candidates to score because the winner fails the form check: of
    ``unscored`` (index, explanation, form), in the order given, up to ``limit`` that pass the
    check and are paraphrases of the winner (:func:`is_paraphrase`) or condense it
    (:func:`condenses`). Empty when the winner passes."""
    if winner.form is None or winner.form.passes:
        return []
    w = winner.explanation
    return [i for i, text, form in unscored if form.passes and (is_paraphrase(w, text) or condenses(w, text))][:limit]


def readable_first(ranked: Sequence[ScoredCandidate]) -> tuple[list[ScoredCandidate], str]:
    """``ranked`` (by σ, best first) with a readable candidate first when the best fails the form
    check: among the candidates that pass it and whose 95% σ interval overlaps the best's, the
    one with the fewest words (then the highest σ). Returns the new order and the explanation
    σ put first when it moved ("" when σ's order stands). Candidates without a form (unscored
    or from results made before the check) never move."""
    ranked = list(ranked)
    if not ranked or ranked[0].form is None or ranked[0].form.passes or not ranked[0].score.n_related:
        return ranked, ""
    best = ranked[0]
    pool = [c for c in ranked[1:] if c.form is not None and c.form.passes and c.score.n_related
            and intervals_overlap(best.score, c.score)]
    if not pool:
        return ranked, ""
    pick = min(pool, key=lambda c: (c.form.n_words, -c.score.sigma))
    return [pick] + [c for c in ranked if c is not pick], best.explanation
