"""``ScriptedLLM``: a deterministic stand-in helper for tests and dry runs."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sasc.errors import HelperLLMError, HelperUnavailableError
from sasc.llm.base import Completion, Sampling

__all__ = ["ScriptedCall", "ScriptedLLM", "echo_reply"]


@dataclass(frozen=True)
class ScriptedCall:
    """One recorded call to a :class:`ScriptedLLM`."""

    prompt: str
    """The prompt as sent."""
    sampling: Sampling
    """The sampling parameters as sent."""
    json_schema: dict[str, Any] | None
    """The JSON schema as sent (None when absent)."""


def echo_reply(prompt: str) -> str:
    """Default reply of the ``"fake"`` helper: a stable tag derived from the prompt."""
    return f"fake reply {hashlib.sha256(prompt.encode()).hexdigest()[:8]}"


class ScriptedLLM:
    """A helper LLM that replies from a script.

    ``replies``: a sequence returned in order (running out raises :class:`HelperLLMError`)
    or a function ``prompt -> reply``. ``fail_times``: the first N calls raise
    :class:`HelperUnavailableError` (see also :meth:`fail_next`). ``delay_s``: seconds each
    call sleeps before answering, to exercise timeouts. ``slots``: calls served at once, as
    :func:`~sasc.llm.base.complete_many` reads it (1: one after the other, like a one-slot
    model; with a sequence of replies, keep 1, since concurrent calls take them in any order).
    ``logprobs``: a function ``prompt -> {token: probability}`` giving the first generated
    token's alternatives, or ``prompt -> [{token: probability}, ...]``, one per generated token
    (the most likely one is the token generated); returned as ``Completion.top_logprobs`` (natural logs, most likely
    first, at most ``Sampling.top_logprobs`` of them) when the call asks for them; None
    (the default): like a backend without log-probabilities. Token counts are whitespace words. Every call, failed ones included, is appended to
    :attr:`calls`. Thread-safe.
    """

    def __init__(
        self,
        replies: Sequence[str] | Callable[[str], str] = echo_reply,
        *,
        name: str = "fake",
        fail_times: int = 0,
        delay_s: float = 0.0,
        slots: int = 1,
        logprobs: Callable[[str], dict[str, float] | list[dict[str, float]]] | None = None,
    ) -> None:
        if isinstance(replies, str):
            replies = [replies]
        self._replies = replies if callable(replies) else list(replies)
        self._name = name
        self._next = 0
        self._fail = int(fail_times)
        self.delay_s = float(delay_s)
        self.slots = max(1, int(slots))
        self._logprobs = logprobs
        self.calls: list[ScriptedCall] = []
        """Every call received, in order."""
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The name given at construction (default ``"fake"``)."""
        return self._name

    @property
    def prompts(self) -> list[str]:
        """The prompts of :attr:`calls`, in order."""
        return [c.prompt for c in self.calls]

    def fail_next(self, n: int) -> None:
        """Make the next ``n`` calls raise :class:`HelperUnavailableError`."""
        with self._lock:
            self._fail = int(n)

    def complete(
        self, prompt: str, *, sampling: Sampling, json_schema: dict[str, Any] | None = None
    ) -> Completion:
        """Record the call, then fail (if scheduled) or return the next scripted reply."""
        with self._lock:
            self.calls.append(ScriptedCall(prompt, sampling, json_schema))
            failing = self._fail > 0
            if failing:
                self._fail -= 1
            elif not callable(self._replies):
                if self._next >= len(self._replies):
                    raise HelperLLMError(
                        f"ScriptedLLM ran out of replies after {len(self._replies)} call(s)"
                    )
                text = self._replies[self._next]
                self._next += 1
        if self.delay_s > 0:
            time.sleep(self.delay_s)
        if failing:
            raise HelperUnavailableError(f"{self._name}: scripted outage")
        if callable(self._replies):
            text = self._replies(prompt)
        top = None
        if self._logprobs is not None and sampling.top_logprobs > 0:
            given = self._logprobs(prompt)
            steps = [given] if isinstance(given, dict) else list(given)
            top = tuple(tuple((tok, math.log(p)) for tok, p in sorted(step.items(), key=lambda kv: -kv[1])
                              [: sampling.top_logprobs] if p > 0) for step in steps)
        return Completion(
            text=text, prompt_tokens=len(prompt.split()), completion_tokens=len(text.split()),
            top_logprobs=top,
        )

    def __repr__(self) -> str:
        return f"ScriptedLLM(name={self._name!r}, calls={len(self.calls)})"
