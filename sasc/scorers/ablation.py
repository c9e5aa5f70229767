"""``ablation`` (Bills et al. 2023's ablation score) for units that are sites of a causal LM (LLM
neurons and directions), on token excerpts:

    1 - E_x[AvgJSD(m(x, n=s(x)) || m(x))] / E_x[AvgJSD(m(x, n=mu) || m(x))]

``m(x)``: the subject model's next-token distributions at every text position of excerpt ``x``;
``m(x, n=s(x))``: the same with the unit set, at every position, to the simulator's prediction mapped
onto the unit's scale; ``m(x, n=mu)``: with the unit set to its mean activation over the set's and the
held-out excerpts' tokens; AvgJSD: the Jensen-Shannon divergence averaged over positions.

The mapping from the simulator's 0..10 to activations is linear, fitted as Bills et al. fitted it on
data apart from what it is applied to: for each excerpt, least squares of true on simulated
activations over the tokens of the *other* excerpts of the set (leave one excerpt out; no extra
helper call). A unit set to a constant predicts as well as its mean, so an explanation that predicts
nothing scores about 0, and one that predicts the activations exactly scores 1. The predictions come
from the same all-at-once calls as ``simulation`` (:func:`~sasc.scorers.simulation.simulate_tokens`),
so with the reply cache scoring both costs the helper once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..llm.base import HelperLLM
from ..modules.base import module_name
from .base import ScoreResult, ScoringRecord
from .simulation import simulate_tokens
from .stats import bootstrap_ci


def calibrate_leave_one_out(pred: Sequence[np.ndarray], true: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per excerpt, its predictions mapped linearly onto the true scale with the least-squares line
    of true on predicted activations over the tokens of the other excerpts; where those
    predictions are constant (no slope to fit), the other excerpts' mean activation."""
    out = []
    for i in range(len(pred)):
        x = np.concatenate([np.asarray(p, float) for j, p in enumerate(pred) if j != i] or [np.zeros(0)])
        y = np.concatenate([np.asarray(t, float) for j, t in enumerate(true) if j != i] or [np.zeros(0)])
        if x.size < 2 or np.ptp(x) == 0:
            out.append(np.full(len(pred[i]), y.mean() if y.size else 0.0))
            continue
        slope, intercept = np.polyfit(x, y, 1)
        out.append(intercept + slope * np.asarray(pred[i], float))
    return out


def ablation_ratio(jsd_sim: Sequence[float], jsd_mean: Sequence[float]) -> tuple[float, str | None]:
    """``1 - mean(jsd_sim) / mean(jsd_mean)`` over texts; undefined when the mean ablation changes
    nothing (the unit does not matter to the model on these texts)."""
    a, b = np.asarray(jsd_sim, float), np.asarray(jsd_mean, float)
    if a.size == 0:
        return float("nan"), "the scoring set is empty"
    if not b.mean() > 0:
        return float("nan"), "setting the unit to its mean changes nothing in the model's predictions"
    return float(1.0 - a.mean() / b.mean()), None


class AblationScorer:
    """Bills et al.'s ablation score (see the module docstring)."""

    name = "ablation"

    def prepare(self, scoring_set: Any, bank: Any, col: int) -> Any:
        """``scoring_set`` with what the score needs of the subject model: the unit's mean activation
        and each excerpt's JSD under mean ablation (one pair of forward passes per excerpt), and the
        edit itself for :meth:`__call__`. Token excerpts of a causal-LM site only."""
        if not scoring_set.tokens:
            raise ConfigError("the ablation score needs token excerpts: draw the set with excerpts='token' "
                              "(--excerpts token)")
        if not callable(getattr(bank, "ablation_jsd", None)):
            raise ConfigError(f"the ablation score needs a unit inside a causal LM (llm_neuron, llm_direction); "
                              f"module {module_name(bank)!r} has none")
        values = [v for _, vs in scoring_set.held_out for v in vs] + [v for vs in scoring_set.token_values for v in vs]
        mu = float(np.mean(values))
        texts = list(scoring_set.texts)
        mean_jsd = bank.ablation_jsd(texts, col, [mu] * len(texts))
        # the excerpt re-tokenized: almost always its own tokens; where not, cut or fill with mu
        need = [len(s) - bank.n_skip for s in bank.token_ids(texts)]

        def edit(targets: Sequence[np.ndarray]) -> list[float]:
            fitted = [np.concatenate([t[:n], np.full(max(0, n - len(t)), mu)]) for t, n in zip(targets, need)]
            return bank.ablation_jsd(texts, col, fitted)

        extras = {**scoring_set.extras, "ablation": {"mu": mu, "mean_jsd": tuple(mean_jsd), "edit": edit}}
        return dataclasses.replace(scoring_set, extras=extras)

    def __call__(self, record: ScoringRecord, helper: HelperLLM, *, sampled: bool = False, seed: int = 0,
                 n_boot: int = 1000) -> ScoreResult:
        method = "sampled" if sampled else "logprobs"
        state = record.extras.get("ablation")
        if state is None or not record.tokens:
            raise ConfigError("ablation needs its prepared state (token excerpts of a causal-LM unit): draw the "
                              "set with sasc.scorers.run (score_explanations / add_scores) or AblationScorer.prepare")
        mean_jsd = np.asarray(state["mean_jsd"], float)
        details: dict[str, Any] = {"mean_ablation_jsd": float(np.nanmean(mean_jsd)) if mean_jsd.size else float("nan"),
                                   "mu": state["mu"], "calibration": "linear, leave one excerpt out"}
        _, reason = ablation_ratio(mean_jsd, mean_jsd)
        if reason is not None:
            return ScoreResult(self.name, float("nan"), float("nan"), float("nan"), len(record.tokens),
                               undefined_reason=reason, method=method, details=details)
        preds, missing = simulate_tokens(record, helper, sampled=sampled, seed=seed)
        true = [np.asarray(v, float) for v in record.token_values]
        targets = calibrate_leave_one_out(preds, true)
        sim_jsd = np.asarray(state["edit"](targets), float)
        value, reason = ablation_ratio(sim_jsd, mean_jsd)
        lo, hi = bootstrap_ci(ablation_ratio, [sim_jsd, mean_jsd], n_boot, seed) if reason is None else (float("nan"),) * 2
        details |= {"simulated_ablation_jsd": float(sim_jsd.mean()), "unaligned_tokens": missing}
        return ScoreResult(self.name, value, lo, hi, len(record.tokens), undefined_reason=reason, method=method,
                           details=details)
