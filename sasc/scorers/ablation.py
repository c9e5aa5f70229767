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
from .base import BatchedScorer, ScoreResult, ScoringRecord, prepared_state
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


class AblationScorer(BatchedScorer):
    """Bills et al.'s ablation score (see the module docstring)."""

    name = "ablation"

    def prepare_many(self, sets: Sequence[Any], bank: Any, cols: Sequence[int]) -> list[Any]:
        """Each of ``sets`` (of unit ``cols[i]``) with what the score needs of the subject model: the
        unit's mean activation over the set's and held-out tokens, each excerpt's JSD under mean
        ablation, and the edit itself for :meth:`score_many`. The mean ablations of all the sets run
        in shared forward passes. Token excerpts of a causal-LM site only."""
        if any(not s.tokens for s in sets):
            raise ConfigError("the ablation score needs token excerpts: draw the set with excerpts='token' "
                              "(--excerpts token)")
        if not callable(getattr(bank, "ablation_jsd_many", None)):
            raise ConfigError(f"the ablation score needs a unit inside a causal LM (llm_neuron, llm_direction); "
                              f"module {module_name(bank)!r} has none")
        mus = [float(np.mean([v for _, vs in s.held_out for v in vs] + [v for vs in s.token_values for v in vs]))
               for s in sets]
        requests = [(t, col, mu) for s, col, mu in zip(sets, cols, mus) for t in s.texts]
        flat = iter(bank.ablation_jsd_many(requests))
        out = []
        for s, col, mu in zip(sets, cols, mus):
            mean_jsd = tuple(next(flat) for _ in s.texts)
            state = {"mu": mu, "mean_jsd": mean_jsd, "edit": _editor(bank, col, list(s.texts), mu)}
            out.append(dataclasses.replace(s, extras={**s.extras, "ablation": state}))
        return out

    def score_many(self, records: Sequence[ScoringRecord], helper: HelperLLM, *, sampled: bool = False,
                   seed: int = 0, n_boot: int = 1000) -> list[ScoreResult]:
        """The score of each of ``records`` (explanations of one unit on one prepared set): every
        explanation is simulated, then all their edits run in shared forward passes."""
        method = "sampled" if sampled else "logprobs"
        if not records:
            return []
        state = prepared_state(records, "ablation", "token excerpts of a causal-LM unit")
        mean_jsd = np.asarray(state["mean_jsd"], float)
        details: dict[str, Any] = {"mean_ablation_jsd": float(np.nanmean(mean_jsd)) if mean_jsd.size else float("nan"),
                                   "mu": state["mu"], "calibration": "linear, leave one excerpt out"}
        _, reason = ablation_ratio(mean_jsd, mean_jsd)
        if reason is not None:
            return [ScoreResult(self.name, float("nan"), float("nan"), float("nan"), len(r.tokens),
                                undefined_reason=reason, method=method, details=details) for r in records]
        true = [np.asarray(v, float) for v in records[0].token_values]
        simulated = [simulate_tokens(r, helper, sampled=sampled, seed=seed) for r in records]
        sim_jsds = state["edit"]([calibrate_leave_one_out(preds, true) for preds, _ in simulated])
        out = []
        for r, (_, missing), sim in zip(records, simulated, sim_jsds):
            sim_jsd = np.asarray(sim, float)
            value, why = ablation_ratio(sim_jsd, mean_jsd)
            lo, hi = bootstrap_ci(ablation_ratio, [sim_jsd, mean_jsd], n_boot, seed) if why is None else (float("nan"),) * 2
            out.append(ScoreResult(self.name, value, lo, hi, len(r.tokens), undefined_reason=why, method=method,
                                   details={**details, "simulated_ablation_jsd": float(sim_jsd.mean()),
                                            "unaligned_tokens": missing}))
        return out


def _editor(bank: Any, col: int, texts: list[str], mu: float) -> Any:
    """``edit(per explanation, per excerpt, target activations) -> per explanation, per excerpt, JSD``:
    every explanation's edits of unit ``col`` on ``texts`` in one batched call (an excerpt
    re-tokenized is almost always its own tokens; where not, the targets are cut or filled with ``mu``)."""
    need = [len(s) - bank.n_skip for s in bank.token_ids(texts)]

    def edit(targets: Sequence[Sequence[np.ndarray]]) -> list[list[float]]:
        requests = [(text, col, np.concatenate([t[:n], np.full(max(0, n - len(t)), mu)]))
                    for per in targets for text, t, n in zip(texts, per, need)]
        flat = iter(bank.ablation_jsd_many(requests))
        return [[next(flat) for _ in texts] for _ in targets]
    return edit
