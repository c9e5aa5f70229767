"""One helper question per text, answers read from token probabilities or, as a fallback, from the
sampled reply; the calls of a scorer go out together (:func:`~sasc.llm.base.complete_many`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ..errors import HelperLLMError, HelperReplyError
from ..llm.base import Completion, HelperLLM, Request, Sampling, complete_many
from .stats import answer_probabilities

TOP_LOGPROBS = 20
"""Alternatives asked per token (OpenAI's maximum); the answers are almost always among them."""

SAMPLED_HINT = ("score with sampled answers instead (`sasc score --sampled`, or sampled=True in the library); "
                "those results are marked method='sampled'")


def ask(helper: HelperLLM, prompts: Sequence[str], *, sampled: bool, seed: int,
        max_tokens: int = 3) -> list[Completion]:
    """The replies to ``prompts`` (greedy; with token probabilities unless ``sampled``), one seed each,
    sent with :attr:`Sampling.reuse_prefix`: every scorer's prompts about one explanation share
    everything before the text (the instructions and the explanation come first), so a backend that
    keeps the previous prompt's KV cache evaluates only the text and what follows it (2.3x faster
    with the embedded helper); the answer probabilities then differ slightly from a cold evaluation
    (by ~0.01, up to 0.04 measured; benchmarks/prefix_reuse.py, docs/predictive_scoring.md)."""
    sampling = Sampling(temperature=0.0, top_p=1.0, max_tokens=max_tokens, seed=seed,
                        top_logprobs=0 if sampled else TOP_LOGPROBS, reuse_prefix=True)
    return complete_many(helper, [Request(p, sampling.seeded(i)) for i, p in enumerate(prompts)])


def read_answers(replies: Sequence[Completion], answers: Sequence[str], helper_name: str, *, sampled: bool,
                 parse: Callable[[str], dict[str, float] | None]) -> list[dict[str, float]]:
    """Per reply, the probabilities of ``answers``: from the first answer token's alternatives, or
    (``sampled``, or when no alternative is an answer) ``parse(reply text)``. Raises
    :class:`HelperLLMError` naming the fallback when probabilities were asked for and the backend
    returned none, :class:`HelperReplyError` quoting a reply that is no answer."""
    out = []
    for r in replies:
        probs: dict[str, float] | None = None
        if not sampled:
            require_logprobs(r, helper_name)
            for step in r.top_logprobs:  # the first generated token that can be an answer
                probs = answer_probabilities(step, answers)
                if probs:
                    break
        if not probs:
            probs = parse(r.text)
        if not probs:
            raise HelperReplyError(f"helper {helper_name} replied {r.text[:80]!r}, not one of {', '.join(answers)}")
        out.append(probs)
    return out


def require_logprobs(reply: Completion, helper_name: str) -> None:
    """:class:`HelperLLMError` naming the sampled fallback when a reply asked for token
    probabilities came back without them."""
    if reply.top_logprobs is None:
        raise HelperLLMError(f"helper {helper_name} returned no token log-probabilities; {SAMPLED_HINT}")


def parse_number(text: str, low: int = 0, high: int = 10) -> dict[str, float] | None:
    """``{"k": 1.0}`` for a reply that starts with an integer ``k`` in [low, high]; None otherwise."""
    m = re.match(r"\s*\**\s*(\d+)(?:\.\d+)?\b", text)
    if not m or not low <= int(m.group(1)) <= high:
        return None
    return {str(int(m.group(1))): 1.0}


def parse_yes_no(text: str) -> dict[str, float] | None:
    """``{"yes": 1.0}`` or ``{"no": 1.0}`` for a reply starting with yes/no; None otherwise."""
    m = re.match(r"\W*(yes|no)\b", text, re.IGNORECASE)
    return {m.group(1).lower(): 1.0} if m else None
