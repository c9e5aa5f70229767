"""sasc: explain text modules in natural language (SASC, Singh et al. 2023).

Typical use::

    import sasc
    result = sasc.explain("embedding_distance:keyphrase=food")
    print(result.units[0].best.explanation, result.units[0].best.score.sigma)
"""

from ._version import __version__

from .cache import ResponseCache
from .config import ExplainConfig
from .corpora import Corpus, load_corpus
from .errors import (
    CancelledError, ConfigError, CorpusError, HelperLLMError, HelperReplyError, HelperUnavailableError,
    ModelAssetError, ModuleError, NonFiniteResponseError, SascError, UnknownKindError,
)
from .errors import (  # raised by the gRPC service and its client (sasc.client)
    AuthenticationError, ModuleUnavailableError, NotFoundError, PermissionDeniedError, QuotaExceededError,
    ServiceError,
)
from .explain import explain, explain_unit
from .form import FormCheck, check_form
from .llm.base import Completion, HelperLLM, Sampling
from .modules import ModuleBank, TextModule, build_module, check_module, module_from_spec, register_kind
from .ngrams import NgramSettings, NgramTable, count_ngrams
from .progress import ProgressEvent
from .responses import ResponseTable, ngram_responses
from .results import ExplainResult, ScoredCandidate, TopNgram, UnitExplanation
from .scoring import SigmaScore, score_sigma
from .summarize import summarize
from .synthetic import synthetic_texts

__all__ = [
    "CancelledError", "Completion", "ConfigError", "Corpus", "CorpusError", "ExplainConfig", "ExplainResult",
    "HelperLLM", "HelperLLMError", "HelperReplyError", "HelperUnavailableError", "ModelAssetError",
    "ModuleBank", "ModuleError", "NgramSettings", "NgramTable", "NonFiniteResponseError", "ProgressEvent",
    "ResponseCache", "ResponseTable", "Sampling", "SascError", "ScoredCandidate", "SigmaScore", "TextModule",
    "TopNgram", "UnitExplanation", "UnknownKindError", "build_module", "check_module", "count_ngrams",
    "explain", "explain_unit", "load_corpus", "module_from_spec", "ngram_responses", "register_kind",
    "score_sigma", "summarize", "synthetic_texts", "__version__",
    "AuthenticationError", "ModuleUnavailableError", "NotFoundError", "PermissionDeniedError",
    "QuotaExceededError", "ServiceError", "FormCheck", "check_form",
]
