"""The helper-LLM protocol: a prompt in, a completion out.

Backends (local llama.cpp, OpenAI-compatible, scripted fake) satisfy :class:`HelperLLM`
without inheriting anything; wrappers add caching, retries and usage counting.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters of one helper call; part of the reply-cache key."""

    temperature: float = 0.7
    """Softmax temperature; 0 means greedy."""
    top_p: float = 0.95
    """Nucleus sampling mass."""
    max_tokens: int = 256
    """Upper bound on completion tokens."""
    seed: int = 0
    """Sampling seed; the same seed, prompt and model give the same reply."""

    def seeded(self, offset: int) -> Sampling:
        """The same parameters with ``offset`` added to the seed (a retry, another subset...)."""
        return dataclasses.replace(self, seed=self.seed + offset)


@dataclass(frozen=True)
class Completion:
    """One reply of a helper LLM."""

    text: str
    """The reply text (the assistant message content)."""
    prompt_tokens: int = 0
    """Tokens in the prompt as the backend counted them (0 when unknown)."""
    completion_tokens: int = 0
    """Tokens generated (0 when unknown)."""
    cached: bool = False
    """True when the reply came from the reply cache, not the model."""


@runtime_checkable
class HelperLLM(Protocol):
    """Anything with a model identity and a ``complete`` method is a helper LLM."""

    @property
    def name(self) -> str:
        """Model identity, e.g. ``"llama.cpp:qwen2.5-coder-1.5b-instruct-q4_k_m"``."""
        ...

    def complete(
        self, prompt: str, *, sampling: Sampling, json_schema: dict[str, Any] | None = None
    ) -> Completion:
        """Send ``prompt`` as one user chat message and return the reply.

        ``json_schema``: when given and the backend supports structured output, the reply
        is constrained to JSON matching it; backends without support ignore it (callers
        must still parse defensively).
        """
        ...
