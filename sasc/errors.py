"""The one exception tree of sasc.

::

    SascError (Exception)
    ├── ConfigError (SascError, ValueError)        bad settings or specs from the caller
    │   ├── UnknownKindError (ConfigError, KeyError) a registry name nobody registered
    │   ├── CorpusError (ConfigError)               empty corpus, wrong column, undecodable file
    │   │   └── DatasetError (CorpusError)          a labelled set that cannot be classified
    │   └── ResultFormatError (ConfigError)         a file that is not a result sasc reads
    ├── ModuleError (SascError, RuntimeError)       a text module misbehaved
    │   ├── NonFiniteResponseError (ModuleError)    NaN/inf from a module, names the texts
    │   └── ModuleUnavailableError (ModuleError)    a remote (client-hosted) module is gone or late
    ├── HelperLLMError (SascError, RuntimeError)    the helper LLM failed
    │   ├── HelperUnavailableError (HelperLLMError) outage / timeout after bounded retries
    │   └── HelperReplyError (HelperLLMError)       a reply that could not be parsed
    ├── ModelAssetError (SascError, OSError)        packaged weights missing or failing their hash
    ├── DependencyError (SascError, ImportError)    an installed package is older than sasc needs
    ├── CancelledError (SascError)                  the caller cancelled a long job
    └── ServiceError (SascError)                    the sasc service refused a request
        ├── NotFoundError (ServiceError, LookupError)        no such module or job for this caller
        ├── AuthenticationError (ServiceError, PermissionError) missing or unknown bearer token
        ├── PermissionDeniedError (ServiceError, PermissionError) the token may not do this
        └── QuotaExceededError (ServiceError)        a per-client limit or size limit was hit

Each inherits from the builtin a caller would already catch.
"""

from __future__ import annotations

from collections.abc import Sequence


class SascError(Exception):
    """Base of every error raised by sasc on purpose."""


class ConfigError(SascError, ValueError):
    """Bad settings or specs from the caller; the message says what is accepted."""


class UnknownKindError(ConfigError, KeyError):
    """A registry was asked for a name nobody registered; the message lists known names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class CorpusError(ConfigError):
    """A corpus that cannot be used: empty, missing column, undecodable file."""


class DatasetError(CorpusError):
    """A labelled dataset that cannot be used: missing text/label column, one class only, fewer
    texts per class than cross-validation folds."""


class ResultFormatError(ConfigError):
    """A file given as a result (of `sasc explain`, `units-summary`, `benchmark d3`) that is none of them."""


class ModuleError(SascError, RuntimeError):
    """A text module returned something it should not have."""


class NonFiniteResponseError(ModuleError):
    """A module returned NaN or inf; ``texts`` holds the offending inputs."""

    def __init__(self, module: str, texts: Sequence[str]):
        self.module = module
        self.texts = list(texts)
        shown = ", ".join(repr(t) for t in self.texts[:5])
        more = f" (+{len(self.texts) - 5} more)" if len(self.texts) > 5 else ""
        super().__init__(
            f"module {module!r} returned NaN/inf for {len(self.texts)} text(s): {shown}{more}"
        )

    def __reduce__(self):  # picklable (process pools, Ray workers): rebuild from the fields
        return type(self), (self.module, self.texts)


class HelperLLMError(SascError, RuntimeError):
    """The helper LLM failed."""


class HelperUnavailableError(HelperLLMError):
    """The helper LLM could not be reached or timed out after bounded retries."""


class HelperReplyError(HelperLLMError):
    """The helper LLM replied with something that could not be used."""


class ModuleUnavailableError(ModuleError):
    """A remote module (e.g. client-hosted over gRPC) disconnected or did not answer in time."""


class ModelAssetError(SascError, OSError):
    """Packaged model weights are missing or fail their checksum."""


class DependencyError(SascError, ImportError):
    """An installed package is older than sasc needs; the message names the package, the
    installed version, the version needed and the pip command that fixes it."""


class CancelledError(SascError):
    """A long job was cancelled by its caller."""


class ServiceError(SascError):
    """The sasc service (or its client) refused a request."""


class NotFoundError(ServiceError, LookupError):
    """No module or job with that id is visible to the caller."""


class AuthenticationError(ServiceError, PermissionError):
    """The request carried no bearer token, or one the server does not know."""


class PermissionDeniedError(ServiceError, PermissionError):
    """The caller's token is valid but may not do this (e.g. a read-only token)."""


class QuotaExceededError(ServiceError):
    """A per-client limit (jobs, array bytes, texts per call) or a size limit was hit."""
