"""Explainer methods: how a unit's candidates are found besides the single-pass summaries.

``ExplainConfig.method`` names an entry of :data:`EXPLAINERS` (``--method``, the service's
``ExplainSettings.method``). Every method starts from the same single-pass candidates, and whatever
it adds is ranked with them by the same σ (and the predictive scores when asked), so methods are
comparable. An :class:`Explainer` gets the unit's evidence and those candidates and returns its own
candidates (each is scored, whatever the direct pre-screen says) and a JSON-able record of how it
found them (the unit's ``experiment``). Built in: ``single`` (nothing more) and ``iterative``
(:mod:`sasc.iterative`, an experimenter loop in the spirit of MAIA). A plug-in adds one with
``EXPLAINERS.register(name, fn)`` or through the entry-point group ``sasc.explainers``; it never
runs code from a helper reply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .llm.base import HelperLLM
from .modules.base import bank_column
from .ngrams import NgramTable
from .progress import ProgressEvent, ProgressFn
from .registry import Registry
from .summarize import Candidate


@dataclass(frozen=True)
class UnitEvidence:
    """What an explainer method knows about one unit before it starts."""

    bank: Any
    """The module bank; ``bank.responses(texts)[:, col]`` runs the unit on any texts."""
    col: int
    """The unit's column in the bank."""
    table: NgramTable
    """The reference corpus's n-grams."""
    values: np.ndarray
    """The unit's response to each n-gram of ``table``."""
    top: Sequence[int]
    """Indices into ``table`` of the top n-grams, best first."""
    generic_values: np.ndarray
    """The unit's responses to the generic corpus (σ's baseline)."""
    generic_texts: Sequence[str]
    """Those generic texts (may be empty)."""

    def run(self, texts: Sequence[str]) -> np.ndarray:
        """The unit's responses to ``texts``, validated."""
        return bank_column(self.bank, texts, self.col)


class Explainer(Protocol):
    """An explainer method (see the module docstring)."""

    def __call__(self, unit: UnitEvidence, initial: Sequence[str], helper: HelperLLM, config: Any,
                 progress: ProgressFn) -> tuple[list[Candidate], dict[str, Any]]:
        """``(candidates, record)``: ``initial`` are the single-pass candidates' explanations, ``config``
        the run's :class:`~sasc.config.ExplainConfig` (not imported here: the config names this registry)."""
        ...


def single_pass(unit: UnitEvidence, initial: Sequence[str], helper: HelperLLM, config: Any,
                progress: ProgressFn) -> tuple[list[Candidate], dict[str, Any]]:
    """SASC as in the paper: the summaries are the candidates; nothing is added."""
    return [], {}


def iterative(unit: UnitEvidence, initial: Sequence[str], helper: HelperLLM, config: Any,
              progress: ProgressFn) -> tuple[list[Candidate], dict[str, Any]]:
    """The experimenter loop (:mod:`sasc.iterative`): it starts from the top n-grams, the 50 bottom
    ones and the single-pass candidates, within ``config``'s ``iter_*`` budget; progress events
    ``"experiment"`` carry the round and the best hypothesis."""
    from .iterative import Budget, Experimenter, iterative_candidates

    bottom = np.argsort(unit.values, kind="stable")[:50]
    budget = Budget(config.iter_rounds, config.iter_tokens, float(config.iter_seconds), config.iter_stop_sigma)
    x = Experimenter(unit.run, helper, unit.generic_values,
                     [(unit.table.ngrams[i], float(unit.values[i])) for i in unit.top],
                     [(unit.table.ngrams[i], float(unit.values[i])) for i in bottom], unit.generic_texts, budget,
                     config.seed)
    progress(ProgressEvent("experiment", 0, config.iter_rounds, str(unit.bank.units[unit.col])))
    record = x.explore(initial, lambda r, best: progress(ProgressEvent("experiment", r, config.iter_rounds,
                                                                       f"best: {best}")))
    return iterative_candidates(record), record.to_dict()


EXPLAINERS: Registry[Explainer] = Registry("explainer method", group="sasc.explainers",
                                           builtins={"single": single_pass, "iterative": iterative})
"""Explainer methods by name (``ExplainConfig.method``)."""
