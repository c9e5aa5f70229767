"""``OpenAICompatLLM``: any server speaking the OpenAI chat-completions API.

Works with OpenAI itself, vLLM, Ollama (``http://localhost:11434/v1``) and llama.cpp's
``llama-server``. The ``openai`` client's own retries are disabled: retrying is the job of
:class:`~sasc.llm.wrappers.RetryingLLM`, which retries :class:`HelperUnavailableError`
(connection errors, timeouts, HTTP 408/409/429 and 5xx); any other HTTP 4xx becomes a
plain :class:`HelperLLMError` and is not retried.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from sasc.errors import ConfigError, HelperLLMError, HelperReplyError, HelperUnavailableError
from sasc.llm.base import Completion, Sampling, parse_top_logprobs

__all__ = ["OpenAICompatLLM", "DEFAULT_OPENAI_BASE_URL"]

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
"""Base URL used when none is given."""

_RETRYABLE_STATUS = frozenset({408, 409, 429})
_SCHEMA_REJECTED_STATUS = frozenset({400, 404, 415, 422, 501})
_NO_KEY = "sk-no-key"  # local servers (vLLM, Ollama, llama.cpp) accept any key


class OpenAICompatLLM:
    """A helper LLM behind an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    ``model``: model id sent to the server. ``base_url``: e.g. ``"http://localhost:8000/v1"``
    (default :data:`DEFAULT_OPENAI_BASE_URL`). ``api_key``: bearer token (local servers
    usually need none). ``timeout_s``: per-request timeout in seconds. ``slots``: requests
    kept in flight at once by :func:`~sasc.llm.base.complete_many` (threads; the client is
    thread-safe).
    Nothing is read from the environment here; use :meth:`from_env` for that.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60,
        slots: int = 4,
    ) -> None:
        if not model:
            raise ConfigError("OpenAICompatLLM needs a model id, e.g. 'gpt-4o-mini'")
        try:
            import openai
        except ImportError as exc:
            raise ConfigError("OpenAICompatLLM needs openai: python -m pip install openai") from exc
        self.model = model
        self.base_url = (base_url or DEFAULT_OPENAI_BASE_URL).rstrip("/")
        self.timeout_s = float(timeout_s)
        self.slots = max(1, int(slots))
        self._openai = openai
        self._client = openai.OpenAI(
            api_key=api_key or _NO_KEY,
            base_url=self.base_url,
            timeout=self.timeout_s,
            max_retries=0,
        )
        self._schema_supported = True
        self._lock = threading.Lock()

    @classmethod
    def from_env(
        cls,
        model: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        timeout_s: float = 60,
        slots: int = 4,
    ) -> OpenAICompatLLM:
        """Configure from environment variables.

        Base URL: ``SASC_LLM_BASE_URL``, else ``OPENAI_BASE_URL``. API key:
        ``SASC_LLM_API_KEY``, else ``OPENAI_API_KEY``. Model: ``model`` if given, else
        ``SASC_LLM_MODEL``. ``environ`` defaults to :data:`os.environ`.
        """
        env = os.environ if environ is None else environ
        model = model or env.get("SASC_LLM_MODEL")
        if not model:
            raise ConfigError("no helper model: pass 'openai:MODEL' or set SASC_LLM_MODEL")
        return cls(
            model,
            base_url=env.get("SASC_LLM_BASE_URL") or env.get("OPENAI_BASE_URL") or None,
            api_key=env.get("SASC_LLM_API_KEY") or env.get("OPENAI_API_KEY") or None,
            timeout_s=timeout_s,
            slots=slots,
        )

    @property
    def name(self) -> str:
        """``"openai:<model>"`` (the server URL is not part of the identity or cache key)."""
        return f"openai:{self.model}"

    @property
    def schema_supported(self) -> bool:
        """False once the server rejected a ``json_schema`` response format."""
        return self._schema_supported

    def complete(
        self, prompt: str, *, sampling: Sampling, json_schema: dict[str, Any] | None = None
    ) -> Completion:
        """Send ``prompt`` as one user message; see :class:`~sasc.llm.base.HelperLLM`."""
        body = self._body(prompt, sampling)
        if json_schema is not None and self._schema_supported:
            fmt = {"type": "json_schema", "json_schema": {"name": "reply", "schema": json_schema}}
            try:
                return self._send({**body, "response_format": fmt})
            except self._openai.APIStatusError as exc:
                if exc.status_code not in _SCHEMA_REJECTED_STATUS:
                    raise self._map_error(exc) from exc
            except self._openai.OpenAIError as exc:
                raise self._map_error(exc) from exc
            reply = self._send_mapped(body)  # plain worked: the server lacks json_schema
            with self._lock:
                self._schema_supported = False
            return reply
        return self._send_mapped(body)

    def _body(self, prompt: str, sampling: Sampling) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": float(sampling.temperature),
            "top_p": float(sampling.top_p),
            "max_tokens": int(sampling.max_tokens),
            "seed": int(sampling.seed),
            **({"logprobs": True, "top_logprobs": int(sampling.top_logprobs)} if sampling.top_logprobs > 0 else {}),
        }

    def _send_mapped(self, body: dict[str, Any]) -> Completion:
        try:
            return self._send(body)
        except self._openai.OpenAIError as exc:
            raise self._map_error(exc) from exc

    def _send(self, body: dict[str, Any]) -> Completion:
        response = self._client.chat.completions.create(**body)
        choices = getattr(response, "choices", None)
        if not choices or choices[0].message is None:
            raise HelperReplyError(f"{self.name} returned no choices")
        text = choices[0].message.content
        if text is None:
            raise HelperReplyError(f"{self.name} returned a message without text content")
        usage = getattr(response, "usage", None)
        return Completion(
            text=text,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            top_logprobs=parse_top_logprobs(getattr(choices[0], "logprobs", None)),
        )

    def _map_error(self, exc: Exception) -> HelperLLMError:
        openai = self._openai
        if isinstance(exc, openai.APITimeoutError):
            return HelperUnavailableError(f"{self.name}: timed out after {self.timeout_s:g} s")
        if isinstance(exc, openai.APIConnectionError):
            return HelperUnavailableError(f"{self.name}: cannot connect: {exc}")
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = _short(exc)
            if status >= 500 or status in _RETRYABLE_STATUS:
                return HelperUnavailableError(f"{self.name}: HTTP {status}: {detail}")
            return HelperLLMError(f"{self.name}: HTTP {status}: {detail}")
        if isinstance(exc, openai.APIResponseValidationError):
            return HelperReplyError(f"{self.name}: malformed reply: {exc}")
        return HelperLLMError(f"{self.name}: {type(exc).__name__}: {exc}")

    def __repr__(self) -> str:
        return f"OpenAICompatLLM(model={self.model!r}, base_url={self.base_url!r})"


def _short(exc: Exception, limit: int = 300) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[: limit - 3] + "..."
