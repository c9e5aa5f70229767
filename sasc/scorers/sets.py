"""Scoring sets drawn from the reference corpus: top, random, top-and-random; seeded and recorded."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..corpora import sample_texts, split_sentences
from ..errors import ConfigError
from ..modules.base import check_finite, has_token_responses, module_name, to_response_array

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
    excerpt_tokens: int = 64
    """Token excerpts (``excerpts="token"``): tokens kept per excerpt, from the start of its
    sentence (Bills et al. used 64-token excerpts)."""
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
        if self.excerpt_tokens < 1:
            raise ConfigError(f"excerpt_tokens must be >= 1, got {self.excerpt_tokens}")


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
    tokens: tuple[tuple[str, ...], ...] = ()
    """Token excerpts only: per text, its tokens (the text is their concatenation)."""
    token_values: tuple[tuple[float, ...], ...] = ()
    """Token excerpts only: per text, the unit's activation at each token (``responses`` holds
    each text's highest)."""
    held_out: tuple[tuple[tuple[str, ...], tuple[float, ...]], ...] = ()
    """Token excerpts only: ``(tokens, activations)`` of excerpts drawn like the set's (top and
    random) but apart from it; the lookup-table baseline (:func:`sasc.scorers.stats.lookup_table`)
    is fitted on them, as Bills et al. fitted it on the excerpts the explanation was written from."""
    seen_removed: int | None = None
    """Corpus texts left out because they contain an n-gram the summaries saw (kept apart from what
    the explanation was written from); None when no n-grams were given, or when leaving them out
    would leave fewer texts than the set needs (then nothing was left out)."""
    extras: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)
    """What a scorer's ``prepare`` keeps for its calls (e.g. ablation's mean-ablation divergences
    and the edit that runs the subject model); its JSON-ready numbers go into :meth:`to_dict`."""

    def to_dict(self) -> dict[str, Any]:
        """The set as recorded in a score file."""
        return {"kind": self.config.kind, "n_top": sum(self.is_top), "n_random": len(self.texts) - sum(self.is_top),
                "pool_size": self.config.pool_size, "pool": self.pool, "seed": self.config.seed,
                "excerpts": self.config.excerpts, "sentences": self.config.sentences, "corpus": self.corpus,
                "seen_removed": self.seen_removed,
                "texts": list(self.texts), "responses": list(self.responses), "is_top": list(self.is_top),
                **({"marks": [list(m) for m in self.marks]} if self.marks else {}),
                **({"excerpt_tokens": self.config.excerpt_tokens, "tokens": [list(t) for t in self.tokens],
                    "token_values": [list(v) for v in self.token_values], "n_held_out": len(self.held_out)}
                   if self.tokens else {}),
                **({"unit_mean": self.extras["ablation"]["mu"],
                    "mean_ablation_jsd": list(self.extras["ablation"]["mean_jsd"])} if "ablation" in self.extras else {})}


def choose(values: Sequence[float], config: SetConfig) -> tuple[list[int], list[int]]:
    """``(top, random)`` indices into ``values`` (pure): the ``n_top`` highest (ties by lower
    index) and ``n_random`` uniform draws without replacement from the others, seeded: the first
    of the others in a permutation of all indices that depends only on the seed and the count."""
    v = np.asarray(values, dtype=np.float64)
    n_top = config.n_top if config.kind in ("top", "top_and_random") else 0
    n_random = config.n_random if config.kind in ("random", "top_and_random") else 0
    order = np.lexsort((np.arange(v.size), -v))
    top = [int(i) for i in order[:n_top]]
    # the first texts of one seeded order of the whole pool, the unit's top skipped: units of a bank
    # drawing from the same pool share most of their random texts (and the model passes over them)
    chosen = set(top)
    order_r = np.random.default_rng(config.seed + 1).permutation(v.size)
    rand = [int(i) for i in order_r if int(i) not in chosen][:n_random]
    return top, rand


def apart_from(texts: Sequence[str], ngrams: Sequence[str]) -> list[str]:
    """The ``texts`` that contain none of ``ngrams`` as whole words (case-insensitive):
    ``apart_from(["I ate pizza", "pizzas!", "rain"], ["pizza"])`` -> ``["pizzas!", "rain"]``."""
    grams = sorted({g.strip() for g in ngrams if g.strip()}, key=len, reverse=True)
    if not grams:
        return list(texts)
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(r"\s+".join(map(re.escape, g.split())) for g in grams) + r")(?!\w)",
                         re.IGNORECASE)
    return [t for t in texts if not pattern.search(t)]


def draw_set(bank: Any, col: int, texts: Sequence[str], config: SetConfig, corpus: str = "",
             seen: Sequence[str] = (), pool_cache: dict | None = None) -> ScoringSet:
    """The scoring set of unit ``col`` of ``bank`` from corpus ``texts``; ``seen``: the n-grams the
    summaries saw, whose texts are left out where enough texts remain (:attr:`ScoringSet.seen_removed`).
    ``pool_cache``: a dict kept across the units of one bank, so that a pool drawn again (the same
    texts) is not run through the module again."""
    if config.excerpts == "token" and not has_token_responses(bank):
        raise ConfigError(f"per-token excerpts are not available for module {module_name(bank)!r}: it has no "
                          "token activations (the token_responses hook of LLM neurons, directions and dictionary "
                          "factors); use per-text scoring sets (excerpts='text', the default)")
    units = [t for t in dict.fromkeys(split_sentences(list(texts)) if config.sentences else texts) if t.strip()]
    removed = None
    if seen:
        apart = apart_from(units, seen)
        # held-out excerpts of token sets need as many again
        need = (config.n_top + config.n_random) * (2 if config.excerpts == "token" else 1)
        if len(apart) >= need:
            removed, units = len(units) - len(apart), apart
    pool = sample_texts(units, config.pool_size, config.seed)
    if not pool:
        raise ConfigError("the scoring-set corpus has no texts")
    name = module_name(bank)
    cache = {} if pool_cache is None else pool_cache
    key = (config.excerpts, tuple(pool))
    if config.excerpts == "token":
        if key not in cache:
            cache[key] = bank.token_responses(pool)
        return dataclasses.replace(_draw_token_set(cache[key], col, pool, config, corpus, name), seen_removed=removed)
    if key not in cache:
        cache[key] = check_finite(to_response_array(bank.responses(pool), len(pool), name, len(bank.units)), pool, name)
    values = cache[key][:, col]
    top, rand = choose(values, config)
    idx = top + rand
    return ScoringSet(tuple(pool[i] for i in idx), tuple(float(values[i]) for i in idx),
                      tuple([True] * len(top) + [False] * len(rand)), config, corpus, len(pool), seen_removed=removed)


def _draw_token_set(responses: Sequence[Any], col: int, pool: list[str], config: SetConfig, corpus: str,
                    name: str) -> ScoringSet:
    """Token excerpts: each pool text's first ``excerpt_tokens`` tokens (``responses``: the module's
    token responses of the pool), ranked by their highest activation; the held-out excerpts are
    chosen the same way from what the set left."""
    excerpts = []
    for r in responses:
        values = np.asarray(r.values, dtype=np.float32)[: config.excerpt_tokens, col]
        if values.size and not np.isfinite(values).all():
            raise ConfigError(f"module {name!r} returned non-finite token activations")
        if values.size:
            excerpts.append((tuple(r.tokens[: config.excerpt_tokens]), tuple(float(v) for v in values)))
    if not excerpts:
        raise ConfigError("the scoring-set corpus has no text with tokens")
    peak = [max(v) for _, v in excerpts]
    top, rand = choose(peak, config)
    chosen = set(top + rand)
    rest = [i for i in range(len(excerpts)) if i not in chosen]
    h_top, h_rand = choose([peak[i] for i in rest], dataclasses.replace(config, seed=config.seed + 1))
    idx = top + rand
    return ScoringSet(tuple("".join(excerpts[i][0]) for i in idx), tuple(peak[i] for i in idx),
                      tuple([True] * len(top) + [False] * len(rand)), config, corpus, len(pool),
                      tokens=tuple(excerpts[i][0] for i in idx), token_values=tuple(excerpts[i][1] for i in idx),
                      held_out=tuple(excerpts[rest[j]] for j in h_top + h_rand))
