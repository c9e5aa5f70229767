"""Predictive scorers: can a helper, given only an explanation, predict the unit on real text?

``simulation`` (Bills et al. 2023), ``detection`` and ``fuzzing`` (delphi) score an explanation on a scoring set
drawn from the reference corpus (:mod:`sasc.scorers.sets`); each result carries a bootstrap 95%
interval over texts, its n, and the same score for a random explanation as a baseline. Adding a
scorer is one file: a class with ``name`` and ``__call__(record, helper, ...)`` (:class:`Scorer`),
and, when it needs more of the module than the set's responses, ``prepare(scoring_set, bank, col)``
(fuzzing's top n-grams per text), registered in :data:`SCORERS` (or through the ``sasc.scorers`` entry-point group).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..lists import split_list
from ..llm.base import HelperLLM
from ..registry import Registry
from .ablation import AblationScorer
from .base import MAX_EXPLANATION_CHARS, ScoreResult, Scorer, ScoringRecord, check_explanation
from .detection import DetectionScorer
from .fuzzing import FuzzingScorer
from .maia import MaiaScorer
from .sets import ScoringSet, SetConfig, draw_set
from .simulation import SimulationScorer, resolve_token_layout
from .steering import SteeringScorer

__all__ = ["MAX_EXPLANATION_CHARS", "RANDOM_EXPLANATIONS", "SCORERS", "baseline_explanation", "ScoreConfig", "ScoreResult", "Scorer",
           "ScoringRecord", "ScoringSet", "SetConfig", "draw_set", "parse_scorers", "random_explanation",
           "score_on_set"]

SCORERS: Registry[Any] = Registry("scorer", group="sasc.scorers",
                                  builtins={"simulation": SimulationScorer(), "detection": DetectionScorer(),
                                            "fuzzing": FuzzingScorer(), "ablation": AblationScorer(),
                                            "steering": SteeringScorer(), "maia": MaiaScorer()})
"""Predictive scorers by name. (σ, ``sigma``, is computed by :func:`sasc.explain` itself.)"""

RANDOM_EXPLANATIONS = (
    "legal contracts and court rulings", "football matches and scores", "weather forecasts and rain",
    "computer programming and software bugs", "cooking recipes and ingredients", "religious ceremonies",
    "stock markets and interest rates", "animals in the wild", "medical symptoms and diseases",
    "music concerts and bands", "cars and driving", "space exploration and planets",
    "family relationships and children", "military conflicts and weapons", "fashion and clothing",
    "elections and political parties",
)
"""Unrelated topics a random baseline explanation is drawn from."""


def random_explanation(explanation: str, seed: int = 0) -> str:
    """A seeded random topic from :data:`RANDOM_EXPLANATIONS` that shares no word with ``explanation``."""
    words = set(explanation.lower().split())
    pool = [e for e in RANDOM_EXPLANATIONS if not words & set(e.split()) - {"and", "in", "the"}]
    return random.Random(f"{seed}:{explanation}").choice(pool or list(RANDOM_EXPLANATIONS))


def parse_scorers(names: str | Sequence[str]) -> list[str]:
    """Scorer names from ``"simulation,detection"`` or a list, checked against :data:`SCORERS`
    (:class:`~sasc.errors.UnknownKindError` listing the known ones); ``sigma`` is dropped (σ is not a
    predictive scorer). No duplicates, order kept."""
    items = split_list(names) if isinstance(names, str) else list(names)
    out = []
    for n in items:
        n = n.strip()
        if n == "sigma" or n in out:
            continue
        SCORERS.get(n)
        out.append(n)
    return out


@dataclass(frozen=True)
class ScoreConfig:
    """How explanations are scored."""

    scorers: tuple[str, ...] = ("simulation",)
    """Registry names (:data:`SCORERS`)."""
    set: SetConfig = dataclasses.field(default_factory=SetConfig)
    """How the scoring set is drawn."""
    sampled: bool = False
    """Read sampled answers instead of token probabilities (backends without logprobs)."""
    baseline: bool = True
    """Also score a random explanation and report its score as ``baseline``: another unit's
    explanation when the run has other units, else an unrelated topic (:func:`baseline_explanation`)."""
    n_boot: int = 1000
    """Bootstrap resamples of each interval."""
    seed: int = 0
    """Seed of helper calls, bootstrap and random explanations."""
    token_layout: str = "auto"
    """On token excerpts, how the simulator asks for per-token values: ``all_at_once`` (every token
    copied with its value, Bills's), ``sparse`` (only the tokens the unit responds to, the rest 0),
    ``per_word`` (one yes/no question per word; see :mod:`sasc.scorers.simulation`) or ``auto``:
    ``per_word`` with a helper that reuses a shared prompt prefix (the embedded one), else
    ``all_at_once`` (:func:`~sasc.scorers.simulation.resolve_token_layout`); results name the one used."""

    def __post_init__(self) -> None:
        from .simulation import TOKEN_LAYOUT_CHOICES

        if self.token_layout not in TOKEN_LAYOUT_CHOICES:
            raise ConfigError(f"unknown token layout {self.token_layout!r}; known: {', '.join(TOKEN_LAYOUT_CHOICES)}")
        if "ablation" in self.scorers and self.set.excerpts != "token":
            # before any work: a job or an explain run would otherwise fail only at scoring time
            raise ConfigError("the ablation score needs token excerpts: draw the set with excerpts='token' "
                              "(--excerpts token)")


def baseline_explanation(explanation: str, others: Sequence[str] = (), seed: int = 0) -> tuple[str, str]:
    """``(random explanation, where it came from)``: a seeded pick among ``others`` (other units'
    explanations; ``"other_unit"``) that differ from ``explanation``, or, when there are none,
    :func:`random_explanation` (``"unrelated_topic"``)."""
    pool = sorted({o.strip() for o in others if o.strip() and o.strip().lower() != explanation.strip().lower()})
    if pool:
        return random.Random(f"{seed}:{explanation}").choice(pool), "other_unit"
    return random_explanation(explanation, seed), "unrelated_topic"


def score_on_set(explanations: Sequence[str], scoring_set: ScoringSet, unit: str, helper: HelperLLM,
                 config: ScoreConfig = ScoreConfig(), others: Sequence[str] = ()) -> list[dict[str, ScoreResult]]:
    """Per explanation, ``{scorer name: ScoreResult}`` on ``scoring_set``.

    Explanations are checked first (empty or longer than :data:`MAX_EXPLANATION_CHARS`:
    :class:`ConfigError`, before any helper call); an empty or constant set gives results whose
    ``undefined_reason`` says so. ``others``: other units' explanations, the baseline's pool
    (:func:`baseline_explanation`; none: unrelated topics).
    """
    checked = [check_explanation(e) for e in explanations]
    if not checked:
        raise ConfigError("no explanation to score")
    scorers = [SCORERS.get(n) for n in parse_scorers(config.scorers)]
    if not scorers:
        raise ConfigError(f"no predictive scorer chosen; known scorers: {', '.join(SCORERS.names())}")

    layout = resolve_token_layout(config.token_layout, helper)

    def record(e: str) -> ScoringRecord:
        return ScoringRecord(unit, e, scoring_set.texts, scoring_set.responses, scoring_set.is_top,
                             scoring_set.marks, scoring_set.tokens, scoring_set.token_values, scoring_set.held_out,
                             layout, scoring_set.extras)

    opts = {"sampled": config.sampled, "seed": config.seed, "n_boot": config.n_boot}
    baselines = {e: baseline_explanation(e, others, config.seed) for e in checked} if config.baseline else {}
    texts = list(dict.fromkeys([*checked, *(rand for rand, _ in baselines.values())]))
    out: list[dict[str, ScoreResult]] = [{} for _ in checked]
    for s in scorers:
        # a scorer with score_many takes the whole list at once (ablation: shared forward passes)
        many = getattr(s, "score_many", None)
        records = [record(e) for e in texts]
        got = dict(zip(texts, many(records, helper, **opts) if many else [s(r, helper, **opts) for r in records]))
        for i, e in enumerate(checked):
            result = got[e]
            if config.baseline:
                rand, source = baselines[e]
                result = dataclasses.replace(result, baseline=got[rand].value,
                                             details={**result.details, "baseline_explanation": rand,
                                                      "baseline_source": source})
            out[i][s.name] = result
    return out
