"""The helper-LLM protocol: a prompt in, a completion out.

Backends (local llama.cpp, OpenAI-compatible, scripted fake) satisfy :class:`HelperLLM`
without inheriting anything; wrappers add caching, retries and usage counting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..cancel import carry


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
    top_logprobs: int = 0
    """Alternatives per generated token to return with their log-probabilities
    (:attr:`Completion.top_logprobs`); 0: none. A backend that cannot return them leaves
    ``Completion.top_logprobs`` None."""
    reuse_prefix: bool = False
    """A hint that this prompt shares a long prefix with the calls before it (a scorer's questions
    about one explanation; one question per word of the same text): a backend that can reuse the
    KV cache of that prefix does, at the cost of logits that may differ slightly from a cold
    evaluation (the prompt is evaluated in other batches). Backends that cannot ignore it."""

    def seeded(self, offset: int) -> Sampling:
        """The same parameters with ``offset`` added to the seed (a retry, another subset...)."""
        return dataclasses.replace(self, seed=self.seed + offset)


_ADDED_SAMPLING_FIELDS = ("top_logprobs", "reuse_prefix")
"""Fields :class:`Sampling` gained after replies and runs were first keyed by it."""


def sampling_key(fields: dict[str, Any]) -> dict[str, Any]:
    """A :class:`Sampling` as a dict (``dataclasses.asdict``) for a cache or run key: the fields added
    later are left out while off, so keys made before they existed stay valid."""
    return {k: v for k, v in fields.items() if k not in _ADDED_SAMPLING_FIELDS or v}


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
    top_logprobs: tuple[tuple[tuple[str, float], ...], ...] | None = None
    """Asked for with ``Sampling.top_logprobs``: per generated token, its most likely
    alternatives as ``(token text, natural-log probability)``, most likely first. None when
    not asked for or when the backend does not return them."""


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


@dataclass(frozen=True)
class Request:
    """One helper call of a batch (see :func:`complete_many`)."""

    prompt: str
    """The user message."""
    sampling: Sampling
    """Sampling parameters, the seed included: each request carries its own seed, so its reply
    does not depend on which other requests run beside it."""
    json_schema: dict[str, Any] | None = None
    """Optional JSON schema of the reply (see :meth:`HelperLLM.complete`)."""


def _backend_attr(helper: Any, attr: str, kind: type) -> Any:
    """The ``attr`` of the first object in ``helper``'s ``.inner`` chain that has one of type
    ``kind`` (wrappers delegate to their backend), else None."""
    seen = 0
    while helper is not None and seen < 16:
        value = getattr(helper, attr, None)
        if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
            return value
        helper = getattr(helper, "inner", None)
        seen += 1
    return None


def helper_slots(helper: Any) -> int:
    """How many calls ``helper`` serves at once: the ``slots`` of the first object in its
    ``.inner`` chain that has one (wrappers delegate to their backend), else 1.

    :class:`~sasc.llm.local.LocalLLM` has one llama.cpp slot per concurrent sequence (one
    copy of the weights); an OpenAI-compatible backend a number of HTTP requests in flight.
    """
    slots = _backend_attr(helper, "slots", int)
    return 1 if slots is None else max(1, slots)


def helper_reuses_prefix(helper: Any) -> bool:
    """Whether ``helper``'s backend honours :attr:`Sampling.reuse_prefix` (keeps the previous
    prompt's evaluated prefix, so many calls that share a long prefix cost a few tokens each):
    the ``reuses_prefix`` of the first object in its ``.inner`` chain that has one, else False.
    :class:`~sasc.llm.local.LocalLLM` does (llama.cpp's ``cache_prompt``)."""
    return bool(_backend_attr(helper, "reuses_prefix", bool))


def complete_many(helper: HelperLLM, requests: Sequence[Request], *, workers: int | None = None) -> list[Completion]:
    """The replies to independent ``requests``, in their order.

    With ``workers`` (default :func:`helper_slots`) above 1 the calls run at once from a
    thread pool, so a backend with several slots decodes them together (continuous
    batching); with 1 they run one after the other, exactly as a loop over
    :meth:`HelperLLM.complete` would. Every request carries its own seed, and replies are
    returned in request order whichever finishes first, so the result does not depend on
    the number of workers when the backend's reply depends only on the request. The first
    error (in request order) is raised once every call has finished.
    """
    requests = list(requests)
    n = min(len(requests), workers if workers is not None else helper_slots(helper))

    def one(r: Request) -> Completion:
        return helper.complete(r.prompt, sampling=r.sampling, json_schema=r.json_schema)

    return _run_all(one, requests, n)


def map_slots(helper: Any, fn: Any, items: Sequence[Any]) -> list[Any]:
    """``[fn(x) for x in items]`` with up to :func:`helper_slots` items in flight at once, for
    work that makes helper calls of its own (scoring several candidates, explaining several
    units); results in item order, the first error raised after all have finished."""
    items = list(items)
    return _run_all(fn, items, min(len(items), helper_slots(helper)))


def _run_all(fn: Any, items: list[Any], n: int) -> list[Any]:
    if n <= 1:
        return [fn(x) for x in items]
    fn = carry(fn)  # the caller's stop check (sasc.cancel) goes with every call
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="sasc-helper") as pool:
        futures = [pool.submit(fn, x) for x in items]
    return [f.result() for f in futures]  # the pool has joined: every call has finished


def parse_top_logprobs(logprobs: Any) -> tuple[tuple[tuple[str, float], ...], ...] | None:
    """``Completion.top_logprobs`` from the ``logprobs`` of an OpenAI-style chat choice
    (``{"content": [{"token", "logprob", "top_logprobs": [{"token", "logprob"}, ...]}, ...]}``,
    as llama.cpp's server and OpenAI return it, dicts or objects); None when absent."""
    content = _get(logprobs, "content")
    if not content:
        return None
    steps = []
    for item in content:
        alts = _get(item, "top_logprobs") or [item]
        steps.append(tuple((str(_get(a, "token")), float(_get(a, "logprob"))) for a in alts))
    return tuple(steps)


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
