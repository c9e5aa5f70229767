"""``maia``: MAIA's evaluation protocol (Rott Shaham et al. 2024, "A multimodal automated
interpretability agent", their comparison of descriptions), for text modules and any explanation.

All explanations of a unit under comparison (its scored candidates and the random baseline: the
scorer's ``score_many`` gets them together) are scored jointly:

1. for each explanation, a separate helper call (no shared context: a "fresh instance") writes
   :data:`N_EACH` texts that should make a unit so described respond strongly, and :data:`N_EACH`
   neutral texts that should not;
2. every text of every explanation goes into one pool (shuffled with the seed, duplicates merged);
3. for each explanation, separate calls pick the :data:`N_EACH` pool texts that should make the
   unit respond most and the :data:`N_EACH` least: the helper rates every pool text for the
   explanation (the simulator's question, 0..10, read as the expected value over its answer
   probabilities, or the sampled answer with ``sampled``) and the highest and lowest rated are
   picked. (Asked instead to list the numbers of its picks, the embedded 1.5B helper answered 1-7
   and 8-14 for every explanation and pool of a D3 run, which measures nothing; rating one text at
   a time is a question it answers.)
4. score = the module's mean response on the picked "most" texts minus on the picked "least"
   texts, in standard deviations of the module's responses to a generic-corpus sample (the scale
   σ uses). An explanation that describes the unit picks texts that drive it; a wrong one picks
   texts that do not.

The interval is a bootstrap over the picked texts (each side resampled). ``details`` keep the pool
size and the picked texts with their responses. The scoring set's texts are not used: the texts are
written, as in MAIA.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..corpora import DEFAULT_GENERIC, load_corpus, sample_texts
from ..errors import HelperReplyError
from ..llm.base import HelperLLM, Request, Sampling, complete_many
from ..modules.base import module_name, to_response_array
from ..synthetic import dedupe_texts, reply_object, screen_texts
from .base import BatchedScorer, ScoreResult, ScoringRecord, prepared_state
from .simulation import simulate

N_EACH = 7
"""Activating and neutral texts written per explanation, and texts picked each way (MAIA's 7)."""
N_GENERIC = 300
"""Generic-corpus texts whose responses give the scale."""

WRITE_PROMPT = """A unit of a text model is described by this explanation:
"{explanation}"

Write {k} short texts (at most 25 words each) that should make this unit respond strongly, and {k} neutral texts of similar length that should not make it respond.
Reply with JSON of the form {{"activating": ["...", ...], "neutral": ["...", ...]}} and nothing else."""


def _write_schema(k: int) -> dict[str, Any]:
    items = {"type": "array", "items": {"type": "string"}, "minItems": k, "maxItems": k}
    return {"type": "object", "properties": {"activating": items, "neutral": items}, "required": ["activating", "neutral"]}


def pick(ratings: Sequence[float], k: int) -> tuple[list[int], list[int]]:
    """``(most, least)``: the indices of the ``k`` highest and the ``k`` lowest ``ratings`` (ties: the
    earlier index; the two never overlap, each at most half the texts): ``pick([3, 9, 1, 5], 1)`` ->
    ``([1], [2])``."""
    r = np.asarray(ratings, dtype=np.float64)
    k = min(k, r.size // 2)
    most = [int(i) for i in np.lexsort((np.arange(r.size), -r))[:k]]
    least = [int(i) for i in np.lexsort((np.arange(r.size), r)) if int(i) not in most][:k]
    return most, least


def maia_score(most: Sequence[float], least: Sequence[float], scale: float) -> tuple[float, str | None]:
    """(mean(most) - mean(least)) / scale, or NaN with the reason."""
    if not len(most) or not len(least):
        return float("nan"), "the helper picked no texts on one side"
    if not scale > 0:
        return float("nan"), "the module's responses to the generic corpus are constant"
    return float((np.mean(most) - np.mean(least)) / scale), None


class MaiaScorer(BatchedScorer):
    """MAIA's protocol (see the module docstring)."""

    name = "maia"

    def prepare_many(self, sets: Sequence[Any], bank: Any, cols: Sequence[int]) -> list[Any]:
        """Each set with the module (to run on the written texts) and its unit's scale: the standard
        deviation of its responses to :data:`N_GENERIC` generic-corpus texts (one pass for all units)."""
        texts = sample_texts(load_corpus(DEFAULT_GENERIC).texts, N_GENERIC, 0)
        values = to_response_array(bank.responses(texts), len(texts), module_name(bank), len(bank.units))
        out = []
        for s, col in zip(sets, cols):
            state = {"bank": bank, "col": col, "scale": float(np.std(values[:, col])), "generic": DEFAULT_GENERIC}
            out.append(dataclasses.replace(s, extras={**s.extras, "maia": state}))
        return out

    def score_many(self, records: Sequence[ScoringRecord], helper: HelperLLM, *, sampled: bool = False,
                   seed: int = 0, n_boot: int = 1000) -> list[ScoreResult]:
        if not records:
            return []
        state = prepared_state(records, "maia", "the module and its generic-corpus scale")
        k = N_EACH
        writes = complete_many(helper, [Request(WRITE_PROMPT.format(explanation=r.explanation, k=k),
                                                Sampling(temperature=0.7, max_tokens=900, seed=seed + j), _write_schema(k))
                                        for j, r in enumerate(records)])
        pool: list[str] = []
        for w in writes:
            pool += _written(w.text)
        pool = dedupe_texts(pool)
        random.Random(seed).shuffle(pool)
        if len(pool) < 2 * k:
            raise HelperReplyError(f"the helper wrote {len(pool)} usable texts for the MAIA pool; {2 * k} are needed")
        bank = state["bank"]
        responses = np.asarray(to_response_array(bank.responses(pool), len(pool), module_name(bank),
                                                 len(bank.units))[:, state["col"]], dtype=np.float64)
        out = []
        for r in records:
            ratings = simulate(ScoringRecord(r.unit, r.explanation, tuple(pool), tuple(responses), (False,) * len(pool)),
                               helper, sampled=sampled, seed=seed)
            most, least = pick(ratings, k)
            hi_v, lo_v = responses[most], responses[least]
            value, why = maia_score(hi_v, lo_v, state["scale"])
            ci = ((float("nan"),) * 2 if why is not None or len(most) < 2 or len(least) < 2 else
                  _interval(hi_v, lo_v, state["scale"], n_boot, seed))
            out.append(ScoreResult(self.name, value, ci[0], ci[1], len(most) + len(least), undefined_reason=why,
                                   method="sampled" if sampled else "logprobs",
                                   details={"pool": len(pool), "scale": state["scale"], "generic": state["generic"],
                                            "most": [pool[i] for i in most], "least": [pool[i] for i in least],
                                            "most_responses": hi_v.tolist(), "least_responses": lo_v.tolist()}))
        return out


def _written(reply: str) -> list[str]:
    try:
        obj = reply_object(reply)
    except ValueError:
        return []
    texts = [str(t) for key in ("activating", "neutral") for t in (obj.get(key) or []) if isinstance(t, str)]
    return screen_texts([" ".join(t.split()) for t in texts if t.strip()])


def _interval(most: np.ndarray, least: np.ndarray, scale: float, n_boot: int, seed: int) -> tuple[float, float]:
    """Percentile 95% interval, resampling each side's picked texts independently."""
    rng = np.random.default_rng(seed)
    stats = [(rng.choice(most, most.size).mean() - rng.choice(least, least.size).mean()) / scale for _ in range(n_boot)]
    return float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))
