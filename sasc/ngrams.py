"""Unique 1..N-grams of a corpus, with counts.

Tokenization (documented because explanations are built from its output):

* A *word* is a maximal run of word characters, allowing inner apostrophes, hyphens,
  periods and commas between word characters: ``don't``, ``state-of-the-art``,
  ``3.14``, ``1,000``, ``U.S`` are one word each.
* Sentence punctuation (``. ! ? ; :``) and line breaks end a *segment*; n-grams never
  cross a segment boundary. Other punctuation (commas, quotes, brackets, dashes) is
  dropped and does not break n-grams.
* Case is kept (an uncased module folds it itself; see ``dedupe_keys``).
* An n-gram is ``" ".join`` of n consecutive words of one segment, for n = 1..N.

This is a single compiled regular expression and a dict count: about a second per
million words in CPython.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .errors import ConfigError, CorpusError
from .options import check_minimums, option

_TOKEN = re.compile(r"(\w+(?:['’.,\-]\w+)*)|([.!?;:]+|\n)")


@dataclass(frozen=True)
class NgramSettings:
    """How n-grams are extracted; part of every cache key."""

    max_n: int = option(3, flag="--max-n", min=1, job_max=10, benchmark=False)
    """Longest n-gram in words (the paper uses 3)."""
    min_count: int = option(1, flag="--min-count", min=1, job_max=1_000_000, benchmark=False)
    """Drop n-grams seen fewer times than this in the corpus."""
    lowercase: bool = option(False)
    """Lowercase words before counting (off: the module sees the corpus's casing)."""

    def __post_init__(self) -> None:
        check_minimums(self)


@dataclass(frozen=True)
class NgramTable:
    """Unique n-grams of a corpus in first-seen order, with their counts."""

    ngrams: list[str]
    """Each unique n-gram's text."""
    counts: np.ndarray = field(repr=False)
    """int64 ``[len(ngrams)]``: occurrences in the corpus."""
    corpus_fingerprint: str
    """sha256 over the corpus texts."""
    settings: NgramSettings
    """Extraction settings that produced the table."""
    n_words: int = 0
    """Words in the corpus (tokens as defined above)."""

    def __len__(self) -> int:
        return len(self.ngrams)

    @classmethod
    def from_ngrams(cls, ngrams: list[str], counts: list[int] | None = None) -> "NgramTable":
        """A table over n-grams extracted elsewhere (e.g. another tokenizer); counts default to 1."""
        if not ngrams:
            raise CorpusError("an n-gram table needs at least one n-gram")
        if counts is not None and len(counts) != len(ngrams):
            raise ConfigError(f"{len(counts)} counts for {len(ngrams)} n-grams")
        c = np.ones(len(ngrams), dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
        return cls(list(ngrams), c, corpus_fingerprint(ngrams), NgramSettings(), n_words=0)

    @property
    def fingerprint(self) -> str:
        """Identity of (corpus, settings): the corpus part of the response-cache key."""
        s = self.settings
        return hashlib.sha256(
            f"{self.corpus_fingerprint}|{s.max_n}|{s.min_count}|{s.lowercase}".encode()
        ).hexdigest()


def segments(text: str, lowercase: bool = False) -> list[list[str]]:
    """Split ``text`` into segments of words (see module docstring)."""
    out: list[list[str]] = []
    cur: list[str] = []
    for word, brk in _TOKEN.findall(text.lower() if lowercase else text):
        if word:
            cur.append(word)
        elif cur:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def corpus_fingerprint(texts: Iterable[str]) -> str:
    """sha256 over the texts, order-sensitive."""
    h = hashlib.sha256()
    for t in texts:
        _hash_text(h, t)
    return h.hexdigest()


def _hash_text(h: "hashlib._Hash", text: str) -> None:
    """Feed one text to a corpus hash (NUL-separated, so text order and boundaries count)."""
    h.update(text.encode("utf-8", "surrogatepass"))
    h.update(b"\x00")


def count_ngrams(texts: Iterable[str], settings: NgramSettings = NgramSettings()) -> NgramTable:
    """All unique 1..``settings.max_n``-grams of ``texts`` with counts.

    Raises :class:`CorpusError` when the corpus yields no words at all.
    """
    counts: dict[str, int] = {}
    h = hashlib.sha256()
    n_words = 0
    for text in texts:
        _hash_text(h, text)  # one pass: hash and count together
        for seg in segments(text, settings.lowercase):
            n_words += len(seg)
            _count_segment(seg, settings.max_n, counts)
    if not counts:
        raise CorpusError("the corpus contains no words, so it has no n-grams")
    items = [(g, c) for g, c in counts.items() if c >= settings.min_count]
    if not items:
        raise CorpusError(f"no n-gram occurs at least min_count={settings.min_count} times")
    return NgramTable(
        ngrams=[g for g, _ in items],
        counts=np.fromiter((c for _, c in items), dtype=np.int64, count=len(items)),
        corpus_fingerprint=h.hexdigest(),
        settings=settings,
        n_words=n_words,
    )


def _count_segment(seg: list[str], max_n: int, counts: dict[str, int]) -> None:
    get = counts.get
    for n in range(1, max_n + 1):
        for i in range(len(seg) - n + 1):
            g = seg[i] if n == 1 else " ".join(seg[i:i + n])
            counts[g] = get(g, 0) + 1


def word_positions(text: str) -> list[tuple[int, int, int]]:
    """``(start, end, segment)`` of every word of ``text`` (the tokenization above): character
    offsets into ``text`` and the index of the segment the word is in, so a caller can mark
    n-grams inside the original text."""
    out: list[tuple[int, int, int]] = []
    seg = 0
    for m in _TOKEN.finditer(text):
        if m.group(1):
            out.append((m.start(), m.end(), seg))
        elif out and out[-1][2] == seg:
            seg += 1
    return out
