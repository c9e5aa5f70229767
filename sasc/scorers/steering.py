"""``steering``: does turning the unit up make the subject model say what the explanation says?

For units that are sites of a causal LM (LLM neurons and directions). The unit is steered by adding
``alpha`` to its value at every text position (the site's vector moves by ``alpha w / |w|²`` along
its readout ``w``; for an MLP neuron that adds ``alpha`` times its down-projection column to the
residual stream), at the scales ``alpha = k a`` for ``k`` in :data:`STEER_MULTIPLES`, where ``a`` is
the unit's largest activation on its scoring set. Per scale:

* cost: the mean over the set's random (corpus) texts and their positions of
  ``KL(m(x, u + alpha) || m(x))``, how far steering moves the model's next-token distributions;
* gain: the mean over texts the helper writes for the explanation (the prompt of σ's synthetic
  texts) and their positions of ``log m(y_t+1 | y_<=t, u + alpha) - log m(y_t+1 | y_<=t)``, how much
  more likely text that fits the explanation becomes.

The score is the mean over the scales of gain / cost: nats of log-probability gained on text that
fits the explanation per nat of divergence spent. An explanation of what the unit makes the model
say scores above 0 and above a random explanation (the ``baseline``); one unrelated to it scores
near or below 0 (steering makes arbitrary text less likely). The interval is a bootstrap over the
written texts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, HelperReplyError
from ..llm.base import HelperLLM, Sampling, map_slots
from ..modules.base import module_name
from ..synthetic import synthetic_texts
from .base import BatchedScorer, ScoreResult, ScoringRecord, prepared_state
from .stats import bootstrap_ci

STEER_MULTIPLES = (1.0, 2.0, 4.0)
"""Steering scales as multiples of the unit's largest activation on its scoring set."""

N_TEXTS = 10
"""Texts the helper writes per explanation."""


def steering_ratio(gains: np.ndarray, costs: Sequence[float]) -> tuple[float, str | None]:
    """Mean over scales of (mean gain over texts) / cost: ``gains`` is ``[texts, scales]``."""
    g = np.asarray(gains, float)
    c = np.asarray(costs, float)
    if g.size == 0:
        return float("nan"), "the helper wrote no text for the explanation"
    if not (c > 0).all():
        return float("nan"), "steering the unit does not change the model's predictions"
    return float(np.mean(g.mean(axis=0) / c)), None


class SteeringScorer(BatchedScorer):
    """The steering score (see the module docstring)."""

    name = "steering"

    def prepare_many(self, sets: Sequence[Any], bank: Any, cols: Sequence[int]) -> list[Any]:
        """Each set with the steering scales of its unit, the KL cost of each scale on the set's random
        texts (all its texts when it has none), and the edit that measures a gain; all the sets'
        costs run in shared forward passes."""
        if not callable(getattr(bank, "edit_effects", None)):
            raise ConfigError(f"the steering score needs a unit inside a causal LM (llm_neuron, llm_direction); "
                              f"module {module_name(bank)!r} has none")
        plans = []
        for s in sets:
            peak = max((abs(v) for vs in s.token_values for v in vs), default=0.0) if s.tokens else \
                max((abs(v) for v in s.responses), default=0.0)
            corpus = [t for t, top in zip(s.texts, s.is_top) if not top] or list(s.texts)
            plans.append(([k * peak for k in STEER_MULTIPLES], corpus))
        requests = [(t, col, a) for (scales, corpus), col in zip(plans, cols) for a in scales for t in corpus]
        flat = iter(bank.edit_effects(requests, add=True))
        out = []
        for s, col, (scales, corpus) in zip(sets, cols, plans):
            costs = [float(np.mean([next(flat).kl for _ in corpus])) for _ in scales]
            state = {"scales": scales, "costs": costs, "n_cost_texts": len(corpus), "bank": bank, "col": col}
            out.append(dataclasses.replace(s, extras={**s.extras, "steering": state}))
        return out

    def score_many(self, records: Sequence[ScoringRecord], helper: HelperLLM, *, sampled: bool = False,
                   seed: int = 0, n_boot: int = 1000) -> list[ScoreResult]:
        """Every record's texts are written first, then all their steered passes run together."""
        if not records:
            return []
        state = prepared_state(records, "steering", "a causal-LM unit")
        scales, costs = state["scales"], state["costs"]
        details = {"scales": list(scales), "kl_cost": list(costs), "multiples_of_peak": list(STEER_MULTIPLES),
                   "cost_texts": state["n_cost_texts"]}
        def write(r: ScoringRecord) -> list[str]:
            try:
                return synthetic_texts(helper, r.explanation, N_TEXTS,
                                       sampling=Sampling(temperature=0.7, max_tokens=600, seed=seed))
            except HelperReplyError:
                return []

        written = map_slots(helper, write, records)  # as many explanations at once as the helper has slots
        requests = [(t, state["col"], a) for texts in written for t in texts for a in scales]
        flat = iter(state["bank"].edit_effects(requests, add=True))
        out = []
        for r, texts in zip(records, written):
            gains = np.array([[next(flat).logp_gain for _ in scales] for _ in texts]).reshape(len(texts), len(scales))
            gains = gains[np.isfinite(gains).all(axis=1)]  # a text of one token has no next token
            value, why = steering_ratio(gains, costs)
            lo, hi = (bootstrap_ci(lambda *cols: steering_ratio(np.column_stack(cols), costs),
                                   [gains[:, k] for k in range(len(scales))], n_boot, seed)
                      if why is None else (float("nan"),) * 2)
            out.append(ScoreResult(self.name, value, lo, hi, len(gains), undefined_reason=why, method="generated",
                                   details={**details, "gain": [float(x) for x in gains.mean(axis=0)]
                                            if len(gains) else [], "texts": list(texts)}))
        return out
