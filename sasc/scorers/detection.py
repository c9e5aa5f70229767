"""``detection`` (EleutherAI delphi): the helper says whether each text activates the unit described
by the explanation; activating texts are the scoring set's top texts, non-activating ones its random
texts. Score: balanced accuracy of "yes" (P(yes) > 0.5); ``details`` has the AUROC of P(yes)."""

from __future__ import annotations

import numpy as np

from ..llm.base import HelperLLM
from .ask import ask, parse_yes_no, read_answers
from .base import ScoreResult, ScoringRecord
from .stats import auroc, balanced_accuracy, bootstrap_ci, constant_reason

PROMPT = """A unit of a language-processing model is described by this explanation:
"{explanation}"

Does the text below strongly activate this unit, i.e. does it match the explanation?

Text: "{text}"

Answer yes or no."""


def p_yes(record: ScoringRecord, helper: HelperLLM, *, sampled: bool = False, seed: int = 0) -> np.ndarray:
    """The helper's probability of "yes" for each text of ``record`` (0 or 1 when ``sampled``)."""
    prompts = [PROMPT.format(explanation=record.explanation, text=t) for t in record.texts]
    replies = ask(helper, prompts, sampled=sampled, seed=seed, max_tokens=2)
    probs = read_answers(replies, ("yes", "no"), helper.name, sampled=sampled, parse=parse_yes_no)
    return np.array([pr.get("yes", 0.0) for pr in probs], dtype=np.float64)


class DetectionScorer:
    """Balanced accuracy of yes/no detection on top vs random texts (see the module docstring)."""

    name = "detection"

    def __call__(self, record: ScoringRecord, helper: HelperLLM, *, sampled: bool = False, seed: int = 0,
                 n_boot: int = 1000) -> ScoreResult:
        truth = np.asarray(record.is_top, dtype=bool)
        # an empty or constant set (its top texts are no more activating than the rest), or one
        # without both kinds of text: undefined, no helper call
        reason = constant_reason(record.responses) or balanced_accuracy(truth, truth)[1]
        if reason is not None:
            return ScoreResult(self.name, float("nan"), float("nan"), float("nan"), int(truth.size),
                               undefined_reason=reason, method="sampled" if sampled else "logprobs")
        p = p_yes(record, helper, sampled=sampled, seed=seed)
        value, reason = balanced_accuracy(p > 0.5, truth)
        lo, hi = (bootstrap_ci(lambda s, t: balanced_accuracy(s > 0.5, t), [p, truth], n_boot, seed)
                  if reason is None else (float("nan"),) * 2)
        area, _ = auroc(p, truth)
        return ScoreResult(self.name, value, lo, hi, int(truth.size), undefined_reason=reason,
                           method="sampled" if sampled else "logprobs", details={"auroc": area})
