"""Scoring sets drawn from the reference corpus: top, random, top-and-random; seeded and recorded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..corpora import sample_texts, split_sentences
from ..errors import ConfigError
from ..modules.base import check_finite, module_name, to_response_array

SET_KINDS = ("top", "random", "top_and_random")
"""Scoring-set kinds (Bills et al. 2023: top-activating, random, both)."""
EXCERPT_KINDS = ("text", "token")
"""Per-text values (every module) or per-token excerpts (modules with a ``token_responses`` hook)."""


@dataclass(frozen=True)
class SetConfig:
    """How a scoring set is drawn."""

    kind: str = "top_and_random"
    """One of :data:`SET_KINDS`."""
    n_top: int = 20
    """Texts with the highest responses (top, top_and_random)."""
    n_random: int = 20
    """Texts drawn uniformly from the rest of the pool (random, top_and_random)."""
    pool_size: int = 2000
    """Corpus texts (a seeded sample) whose responses are computed; the top texts are the pool's top."""
    seed: int = 0
    """Seed of the pool sample and the random draw."""
    excerpts: str = "text"
    """One of :data:`EXCERPT_KINDS`."""
    sentences: bool = True
    """Split the corpus texts into sentences of 4..60 words first (short excerpts, as Bills's
    64-token ones; a whole news article would make every helper prompt hundreds of tokens long);
    False: the corpus texts as they are."""

    def __post_init__(self) -> None:
        if self.kind not in SET_KINDS:
            raise ConfigError(f"unknown scoring set {self.kind!r}; known: {', '.join(SET_KINDS)}")
        if self.excerpts not in EXCERPT_KINDS:
            raise ConfigError(f"unknown excerpt kind {self.excerpts!r}; known: {', '.join(EXCERPT_KINDS)}")
        if min(self.n_top, self.n_random) < 0 or self.pool_size < 1:
            raise ConfigError("n_top and n_random must be >= 0 and pool_size >= 1")


@dataclass(frozen=True)
class ScoringSet:
    """The texts a unit's explanations are scored on, with how they were drawn."""

    texts: tuple[str, ...]
    """Top texts first (highest response first), then the random ones in draw order."""
    responses: tuple[float, ...]
    """The unit's response to each text."""
    is_top: tuple[bool, ...]
    """Which texts are top texts."""
    config: SetConfig
    """How the set was drawn (seed included)."""
    corpus: str
    """Name of the corpus the pool came from."""
    pool: int
    """Texts actually in the pool (the corpus may be smaller than ``pool_size``)."""
    marks: tuple[tuple[str, ...], ...] = ()
    """Per text, its n-grams the unit responds to most (filled by a scorer's ``prepare``, e.g.
    fuzzing's); empty when no scorer needs them."""

    def to_dict(self) -> dict[str, Any]:
        """The set as recorded in a score file."""
        return {"kind": self.config.kind, "n_top": sum(self.is_top), "n_random": len(self.texts) - sum(self.is_top),
                "pool_size": self.config.pool_size, "pool": self.pool, "seed": self.config.seed,
                "excerpts": self.config.excerpts, "sentences": self.config.sentences, "corpus": self.corpus,
                "texts": list(self.texts), "responses": list(self.responses), "is_top": list(self.is_top),
                **({"marks": [list(m) for m in self.marks]} if self.marks else {})}


def choose(values: Sequence[float], config: SetConfig) -> tuple[list[int], list[int]]:
    """``(top, random)`` indices into ``values`` (pure): the ``n_top`` highest (ties by lower
    index) and ``n_random`` uniform draws without replacement from the others, seeded."""
    v = np.asarray(values, dtype=np.float64)
    n_top = config.n_top if config.kind in ("top", "top_and_random") else 0
    n_random = config.n_random if config.kind in ("random", "top_and_random") else 0
    order = np.lexsort((np.arange(v.size), -v))
    top = [int(i) for i in order[:n_top]]
    rest = np.setdiff1d(np.arange(v.size), top)
    rng = np.random.default_rng(config.seed + 1)
    rand = [int(i) for i in rng.choice(rest, size=min(n_random, rest.size), replace=False)] if rest.size else []
    return top, rand


def draw_set(bank: Any, col: int, texts: Sequence[str], config: SetConfig, corpus: str = "") -> ScoringSet:
    """The scoring set of unit ``col`` of ``bank`` from corpus ``texts``."""
    if config.excerpts == "token":
        raise ConfigError(f"per-token excerpts are not available for module {module_name(bank)!r}: "
                          "no module kind has the token_responses hook yet; use per-text scoring sets (excerpts='text')")
    units = split_sentences(list(texts)) if config.sentences else list(texts)
    pool = sample_texts([t for t in dict.fromkeys(units) if t.strip()], config.pool_size, config.seed)
    if not pool:
        raise ConfigError("the scoring-set corpus has no texts")
    name = module_name(bank)
    values = check_finite(to_response_array(bank.responses(pool), len(pool), name, len(bank.units)), pool, name)[:, col]
    top, rand = choose(values, config)
    idx = top + rand
    return ScoringSet(tuple(pool[i] for i in idx), tuple(float(values[i]) for i in idx),
                      tuple([True] * len(top) + [False] * len(rand)), config, corpus, len(pool))
