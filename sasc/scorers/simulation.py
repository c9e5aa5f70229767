"""``simulation`` (Bills et al. 2023): the helper reads the explanation and one text and predicts the
unit's response on 0..10; the prediction is the expected value over its probabilities of "0".."10";
the score is the Pearson correlation of predictions and true responses over the scoring set (and,
in ``details``, over its random texts only)."""

from __future__ import annotations

import numpy as np

from ..llm.base import HelperLLM
from .ask import ask, parse_number, read_answers
from .base import ScoreResult, ScoringRecord
from .stats import NUMBER_ANSWERS, bootstrap_ci, pearson

PROMPT = """A unit of a language-processing model is described by this explanation:
"{explanation}"

How strongly does the unit respond to the text below, on a scale from 0 (not at all) to 10 (as strongly as it ever does)?

Text: "{text}"

Answer with one number from 0 to 10 and nothing else."""


def simulate(record: ScoringRecord, helper: HelperLLM, *, sampled: bool = False, seed: int = 0) -> np.ndarray:
    """The simulated response (0..10) to each text of ``record``."""
    prompts = [PROMPT.format(explanation=record.explanation, text=t) for t in record.texts]
    replies = ask(helper, prompts, sampled=sampled, seed=seed)
    probs = read_answers(replies, NUMBER_ANSWERS, helper.name, sampled=sampled, parse=parse_number)
    return np.array([sum(float(a) * p for a, p in pr.items()) for pr in probs], dtype=np.float64)


class SimulationScorer:
    """Correlation of simulated and true responses (see the module docstring)."""

    name = "simulation"

    def __call__(self, record: ScoringRecord, helper: HelperLLM, *, sampled: bool = False, seed: int = 0,
                 n_boot: int = 1000) -> ScoreResult:
        true = np.asarray(record.responses, dtype=np.float64)
        _, reason = pearson(np.arange(true.size), true)  # an empty or constant set: no helper call
        if reason is not None:
            return ScoreResult(self.name, float("nan"), float("nan"), float("nan"), int(true.size),
                               undefined_reason=reason, method="sampled" if sampled else "logprobs")
        pred = simulate(record, helper, sampled=sampled, seed=seed)
        value, reason = pearson(pred, true)
        lo, hi = bootstrap_ci(pearson, [pred, true], n_boot, seed) if reason is None else (float("nan"),) * 2
        rand = ~np.asarray(record.is_top, dtype=bool)
        random_only, _ = pearson(pred[rand], true[rand])
        return ScoreResult(self.name, value, lo, hi, int(true.size), undefined_reason=reason,
                           method="sampled" if sampled else "logprobs",
                           details={"random_only": random_only, "n_random": int(rand.sum())})
