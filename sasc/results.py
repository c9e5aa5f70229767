"""Results of an explanation, as frozen dataclasses that round-trip through JSON."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import jsonio
from .form import FormCheck, Repair
from .scoring import SigmaScore


@dataclass(frozen=True)
class TopNgram:
    """One of a unit's highest-response n-grams."""

    ngram: str
    """The n-gram text."""
    response: float
    """The unit's response to it, in the module's units."""
    count: int
    """Occurrences in the reference corpus."""


@dataclass(frozen=True)
class ScoredCandidate:
    """A candidate explanation with its synthetic evidence and score."""

    explanation: str
    """The explanation text."""
    score: SigmaScore
    """σ, its 95% interval, the paper's variant, raw difference and sample sizes."""
    ngrams: list[str]
    """N-grams the candidate was summarized from."""
    related_texts: list[str]
    """Synthetic texts about the explanation that were scored."""
    unrelated_texts: list[str]
    """Synthetic texts unrelated to it (the paper's baseline)."""
    related_responses: list[float] = field(default_factory=list)
    """Module responses to ``related_texts``."""
    direct_response: float = float("nan")
    """The module's response to the explanation text itself (NaN: not measured)."""
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Predictive scores (``--scorers``, :mod:`sasc.scorers`): name -> ``{value, ci, n, baseline,
    undefined_reason, method, details}`` on the unit's ``scoring_set``; empty when none were asked."""
    form: FormCheck | None = None
    """Its form check (:mod:`sasc.form`): flags and fluency; None in results made before it existed."""
    style: str = ""
    """How it was written: the summary prompt style (:data:`sasc.summarize.SUMMARY_STYLES`),
    ``output`` for the summary of output-side evidence (``--evidence output``), or the explainer
    method that proposed it (e.g. ``iterative``); "" in results made before it was kept."""


@dataclass(frozen=True)
class UnitExplanation:
    """Everything learned about one unit."""

    unit: str
    """Unit name."""
    top_ngrams: list[TopNgram]
    """Highest-response n-grams, best first."""
    candidates: list[ScoredCandidate]
    """Candidates ranked by σ, best first (with the readable ranking, a candidate σ cannot tell
    apart from the best may come first; see ``reranked_from``)."""
    cleaning: dict[str, int] = field(default_factory=dict)
    """Helper output repaired or dropped before scoring, by reason (sorted): ``summary.duplicate``,
    ``summary.empty``, ``summary.meta``, ``summary.script`` (summaries dropped),
    ``summary.meta_repaired``, ``summary.script_repaired``, ``summary.evidence_repaired`` (summaries cut
    and kept; the last: an echo of the ``--evidence output`` line),
    ``synthetic.duplicate``, ``synthetic.meta``, ``synthetic.script`` (synthetic texts dropped).
    Empty when nothing was. ``summary.form_repaired``: candidates repaired by the form check
    (listed in ``repairs``)."""
    scoring_set: dict[str, Any] = field(default_factory=dict)
    """The texts and true responses the candidates' predictive ``scores`` were computed on, and how
    they were drawn (:meth:`sasc.scorers.ScoringSet.to_dict`); empty without predictive scorers."""
    repairs: list[Repair] = field(default_factory=list)
    """Candidates repaired before scoring (:func:`sasc.form.repair`), with their text before and after."""
    reranked_from: str = ""
    """The best candidate by σ when the readable ranking put another first ("" when σ's order stands)."""
    output_evidence: dict[str, Any] = field(default_factory=dict)
    """With ``--evidence output``: what the unit makes the model say (``promoted``/``suppressed``:
    ``[token, logit per unit of activation]`` through the unembedding; ``raised``/``lowered``:
    ``[token, mean change of log-probability]`` when the unit is turned up by ``amplified_by`` on
    its top n-grams); empty otherwise."""
    experiment: dict[str, Any] = field(default_factory=dict)
    """With ``--method iterative``: the experimenter's record (:meth:`sasc.iterative.Experiment.to_dict`:
    status, rounds, tokens, seconds, the log it read, every step with its texts and responses in σ,
    the evidence per hypothesis, the action counts); empty otherwise."""

    @property
    def best(self) -> ScoredCandidate | None:
        """The top-ranked candidate (None when the helper produced none)."""
        return self.candidates[0] if self.candidates else None

    @classmethod
    def from_dict(cls, u: dict[str, Any]) -> "UnitExplanation":
        """Inverse of ``dataclasses.asdict`` (NaN may be written as null)."""
        return cls(
            u["unit"], [TopNgram(**t) for t in u["top_ngrams"]],
            [ScoredCandidate(**{**c, "score": _score(c["score"]),
                                "direct_response": jsonio.nan_if_none(c.get("direct_response")),
                                "form": FormCheck.from_dict(c["form"]) if c.get("form") else None})
             for c in u["candidates"]],
            cleaning=dict(u.get("cleaning") or {}), scoring_set=dict(u.get("scoring_set") or {}),
            repairs=[Repair(**r) for r in u.get("repairs") or []], reranked_from=u.get("reranked_from", ""),
            output_evidence=dict(u.get("output_evidence") or {}), experiment=dict(u.get("experiment") or {}),
        )


@dataclass(frozen=True)
class ExplainResult:
    """The result of :func:`sasc.explain`: per-unit explanations plus provenance."""

    units: list[UnitExplanation]
    """One entry per explained unit."""
    module: dict[str, Any]
    """Module identity: name, kind, fingerprint."""
    helper: str
    """Helper LLM identity (backend and model)."""
    reference_corpus: dict[str, Any]
    """Name, source, fingerprint, words and unique n-grams of the reference corpus."""
    generic_corpus: dict[str, Any]
    """Name, source and texts used of the generic corpus."""
    config: dict[str, Any]
    """The :class:`~sasc.config.ExplainConfig` used, as a dict."""
    usage: dict[str, Any]
    """Helper calls, cached calls and tokens."""
    timings: dict[str, float]
    """Seconds per stage."""
    sasc_version: str = ""
    """Library version that produced the result."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable dict."""
        return dataclasses.asdict(self)

    def to_json(self, path: str | Path | None = None) -> str:
        """JSON text; also written to ``path`` when given."""
        text = jsonio.dumps(self.to_dict(), indent=1, ensure_ascii=False)  # NaN (no σ(paper)) as null
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ExplainResult":
        """Inverse of :meth:`to_dict`."""
        return cls(**{**d, "units": [UnitExplanation.from_dict(u) for u in d["units"]]})

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> "ExplainResult":
        """Load from JSON text or a file path."""
        p = Path(text_or_path) if not str(text_or_path).lstrip().startswith("{") else None
        text = p.read_text(encoding="utf-8") if p is not None else str(text_or_path)
        return cls.from_dict(json.loads(text))


def _score(d: dict[str, Any]) -> SigmaScore:
    """A score from JSON, where NaN was written as null."""
    return SigmaScore(**{k: jsonio.nan_if_none(v) for k, v in d.items()})
