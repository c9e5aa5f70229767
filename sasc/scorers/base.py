"""What every predictive scorer shares: the record it reads, the result it returns, its protocol."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any, Protocol

from ..errors import ConfigError
from ..llm.base import HelperLLM

MAX_EXPLANATION_CHARS = 500
"""Longest explanation a scorer accepts (characters)."""


def check_explanation(text: str) -> str:
    """``text`` stripped; :class:`ConfigError` when it is empty or longer than :data:`MAX_EXPLANATION_CHARS`."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("an explanation to score must be a non-empty text")
    text = text.strip()
    if len(text) > MAX_EXPLANATION_CHARS:
        raise ConfigError(f"an explanation to score must be at most {MAX_EXPLANATION_CHARS} characters, "
                          f"got {len(text)}: {text[:60]!r}...")
    return text


@dataclass(frozen=True)
class ScoringRecord:
    """What a scorer reads: one unit's explanation and its scoring set (texts, true responses)."""

    unit: str
    """The unit's name."""
    explanation: str
    """The explanation scored (checked by :func:`check_explanation`)."""
    texts: tuple[str, ...]
    """The scoring set's texts."""
    responses: tuple[float, ...]
    """The unit's true response to each text."""
    is_top: tuple[bool, ...]
    """Which texts came from the top of the unit's responses (the rest are random draws);
    detection's activating texts, and what the random-only simulation leaves out."""
    marks: tuple[tuple[str, ...], ...] = ()
    """Per text, the n-grams in it the unit responds to most (fuzzing's correct marking); empty
    when no scorer asked for them (:meth:`sasc.scorers.fuzzing.FuzzingScorer.prepare`)."""
    tokens: tuple[tuple[str, ...], ...] = ()
    """Token excerpts only: per text, its tokens (then ``responses`` are each text's highest
    activation and the simulation is per token)."""
    token_values: tuple[tuple[float, ...], ...] = ()
    """Token excerpts only: per text, the unit's activation at each token."""
    held_out: tuple[tuple[tuple[str, ...], tuple[float, ...]], ...] = ()
    """Token excerpts only: ``(tokens, activations)`` apart from the set, the lookup-table baseline's data."""
    token_layout: str = "all_at_once"
    """Token excerpts only: how the simulator asks for per-token values
    (:data:`sasc.scorers.simulation.TOKEN_LAYOUTS`)."""
    extras: Mapping[str, Any] = field(default_factory=dict, compare=False)
    """What scorers' ``prepare`` kept for their calls (:attr:`sasc.scorers.sets.ScoringSet.extras`)."""


@dataclass(frozen=True)
class ScoreResult:
    """One scorer's verdict on one explanation."""

    scorer: str
    """The scorer's registry name."""
    value: float
    """The score (NaN only when ``undefined_reason`` says why)."""
    ci_low: float
    """Lower end of the bootstrap 95% interval over texts (NaN when undefined)."""
    ci_high: float
    """Upper end of that interval."""
    n: int
    """Texts the score is computed over."""
    baseline: float | None = None
    """The same score for a random explanation (None when not computed)."""
    undefined_reason: str | None = None
    """Why ``value`` is undefined (constant or empty scoring set, constant predictions); None when defined."""
    method: str = "logprobs"
    """How predictions were read from the helper: ``logprobs`` (expected value / probability
    over the answers' token probabilities) or ``sampled`` (a sampled answer parsed as is)."""
    details: dict[str, Any] = field(default_factory=dict)
    """Scorer-specific figures, e.g. simulation's random-only correlation, detection's AUROC."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN becomes None; the map ``name -> {value, ci, n, baseline, ...}``."""
        return {"value": _num(self.value), "ci": [_num(self.ci_low), _num(self.ci_high)], "n": self.n,
                "baseline": _num(self.baseline), "undefined_reason": self.undefined_reason,
                "method": self.method, "details": {k: _num(v) for k, v in self.details.items()}}

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> ScoreResult:
        """The inverse of :meth:`to_dict`."""
        nan = float("nan")
        ci = d.get("ci") or [None, None]
        return cls(name, _float(d.get("value")), _float(ci[0]), _float(ci[1]), int(d.get("n", 0)),
                   None if d.get("baseline") is None else float(d["baseline"]), d.get("undefined_reason"),
                   d.get("method", "logprobs"), {k: nan if v is None else v for k, v in (d.get("details") or {}).items()})


def _num(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _float(v: Any) -> float:
    return float("nan") if v is None else float(v)


class Scorer(Protocol):
    """A predictive scorer: reads a record, asks the helper, returns a :class:`ScoreResult`.
    Register one with :data:`sasc.scorers.SCORERS` (one file per scorer)."""

    name: str
    """Its registry name."""

    def __call__(self, record: ScoringRecord, helper: HelperLLM, *, sampled: bool = False, seed: int = 0,
                 n_boot: int = 1000) -> ScoreResult:
        """Score ``record.explanation`` on ``record``'s texts; ``sampled``: read sampled answers
        instead of token probabilities (for backends without logprobs)."""
        ...


class BatchedScorer:
    """A scorer that does its model work for many sets and records at once: a subclass defines
    ``prepare_many(sets, bank, cols)`` and ``score_many(records, helper, ...)``; the one-set and
    one-record forms of the :class:`Scorer` protocol call them with one item."""

    name = ""

    def prepare(self, scoring_set: Any, bank: Any, col: int) -> Any:
        """``prepare_many`` for one set."""
        return self.prepare_many([scoring_set], bank, [col])[0]

    def __call__(self, record: ScoringRecord, helper: HelperLLM, *, sampled: bool = False, seed: int = 0,
                 n_boot: int = 1000) -> ScoreResult:
        return self.score_many([record], helper, sampled=sampled, seed=seed, n_boot=n_boot)[0]


def prepared_state(records: Any, key: str, needs: str) -> dict[str, Any]:
    """The state a scorer's ``prepare`` put under ``extras[key]``, which every record must share;
    :class:`ConfigError` saying what it ``needs`` otherwise."""
    state = records[0].extras.get(key)
    if state is None or any(r.extras.get(key) is not state for r in records):
        raise ConfigError(f"{key} needs its prepared state ({needs}), the same for every record: draw the set with "
                          "sasc.scorers.run (score_explanations / add_scores) or the scorer's prepare")
    return state

