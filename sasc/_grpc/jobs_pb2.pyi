from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState

class CorpusSource(_message.Message):
    __slots__ = ("builtin", "texts")
    BUILTIN_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    builtin: str
    texts: TextList
    def __init__(self, builtin: _Optional[str] = ..., texts: _Optional[_Union[TextList, _Mapping]] = ...) -> None: ...

class TextList(_message.Message):
    __slots__ = ("texts",)
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, texts: _Optional[_Iterable[str]] = ...) -> None: ...

class ExplainSettings(_message.Message):
    __slots__ = ("max_n", "min_count", "lowercase", "n_top_reported", "n_top_considered", "n_per_summary", "n_candidates", "n_synthetic", "n_generic", "n_bootstrap", "seed", "shard_size", "n_unrelated", "summary_styles", "n_tiebreak", "synthetic_style", "direct_screen", "form_repair", "readable_ranking", "fluency_model", "evidence", "method", "iter_rounds", "iter_tokens", "iter_seconds", "iter_stop_sigma")
    MAX_N_FIELD_NUMBER: _ClassVar[int]
    MIN_COUNT_FIELD_NUMBER: _ClassVar[int]
    LOWERCASE_FIELD_NUMBER: _ClassVar[int]
    N_TOP_REPORTED_FIELD_NUMBER: _ClassVar[int]
    N_TOP_CONSIDERED_FIELD_NUMBER: _ClassVar[int]
    N_PER_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    N_CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    N_SYNTHETIC_FIELD_NUMBER: _ClassVar[int]
    N_GENERIC_FIELD_NUMBER: _ClassVar[int]
    N_BOOTSTRAP_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SHARD_SIZE_FIELD_NUMBER: _ClassVar[int]
    N_UNRELATED_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_STYLES_FIELD_NUMBER: _ClassVar[int]
    N_TIEBREAK_FIELD_NUMBER: _ClassVar[int]
    SYNTHETIC_STYLE_FIELD_NUMBER: _ClassVar[int]
    DIRECT_SCREEN_FIELD_NUMBER: _ClassVar[int]
    FORM_REPAIR_FIELD_NUMBER: _ClassVar[int]
    READABLE_RANKING_FIELD_NUMBER: _ClassVar[int]
    FLUENCY_MODEL_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ITER_ROUNDS_FIELD_NUMBER: _ClassVar[int]
    ITER_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ITER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ITER_STOP_SIGMA_FIELD_NUMBER: _ClassVar[int]
    max_n: int
    min_count: int
    lowercase: bool
    n_top_reported: int
    n_top_considered: int
    n_per_summary: int
    n_candidates: int
    n_synthetic: int
    n_generic: int
    n_bootstrap: int
    seed: int
    shard_size: int
    n_unrelated: int
    summary_styles: _containers.RepeatedScalarFieldContainer[str]
    n_tiebreak: int
    synthetic_style: str
    direct_screen: int
    form_repair: bool
    readable_ranking: bool
    fluency_model: str
    evidence: str
    method: str
    iter_rounds: int
    iter_tokens: int
    iter_seconds: int
    iter_stop_sigma: float
    def __init__(self, max_n: _Optional[int] = ..., min_count: _Optional[int] = ..., lowercase: _Optional[bool] = ..., n_top_reported: _Optional[int] = ..., n_top_considered: _Optional[int] = ..., n_per_summary: _Optional[int] = ..., n_candidates: _Optional[int] = ..., n_synthetic: _Optional[int] = ..., n_generic: _Optional[int] = ..., n_bootstrap: _Optional[int] = ..., seed: _Optional[int] = ..., shard_size: _Optional[int] = ..., n_unrelated: _Optional[int] = ..., summary_styles: _Optional[_Iterable[str]] = ..., n_tiebreak: _Optional[int] = ..., synthetic_style: _Optional[str] = ..., direct_screen: _Optional[int] = ..., form_repair: _Optional[bool] = ..., readable_ranking: _Optional[bool] = ..., fluency_model: _Optional[str] = ..., evidence: _Optional[str] = ..., method: _Optional[str] = ..., iter_rounds: _Optional[int] = ..., iter_tokens: _Optional[int] = ..., iter_seconds: _Optional[int] = ..., iter_stop_sigma: _Optional[float] = ...) -> None: ...

class SubmitJobRequest(_message.Message):
    __slots__ = ("module_id", "unit_names", "unit_indices", "corpus", "generic", "helper", "settings", "concurrency", "idempotency_key", "scoring", "directions")
    MODULE_ID_FIELD_NUMBER: _ClassVar[int]
    UNIT_NAMES_FIELD_NUMBER: _ClassVar[int]
    UNIT_INDICES_FIELD_NUMBER: _ClassVar[int]
    CORPUS_FIELD_NUMBER: _ClassVar[int]
    GENERIC_FIELD_NUMBER: _ClassVar[int]
    HELPER_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SCORING_FIELD_NUMBER: _ClassVar[int]
    DIRECTIONS_FIELD_NUMBER: _ClassVar[int]
    module_id: str
    unit_names: _containers.RepeatedScalarFieldContainer[str]
    unit_indices: _containers.RepeatedScalarFieldContainer[int]
    corpus: CorpusSource
    generic: CorpusSource
    helper: str
    settings: ExplainSettings
    concurrency: int
    idempotency_key: str
    scoring: ScoringSettings
    directions: DirectionSettings
    def __init__(self, module_id: _Optional[str] = ..., unit_names: _Optional[_Iterable[str]] = ..., unit_indices: _Optional[_Iterable[int]] = ..., corpus: _Optional[_Union[CorpusSource, _Mapping]] = ..., generic: _Optional[_Union[CorpusSource, _Mapping]] = ..., helper: _Optional[str] = ..., settings: _Optional[_Union[ExplainSettings, _Mapping]] = ..., concurrency: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., scoring: _Optional[_Union[ScoringSettings, _Mapping]] = ..., directions: _Optional[_Union[DirectionSettings, _Mapping]] = ...) -> None: ...

class DirectionSettings(_message.Message):
    __slots__ = ("count", "rounds", "steps", "step_size", "n_top", "n_random", "pool_size", "excerpts", "excerpt_tokens", "seed")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    STEP_SIZE_FIELD_NUMBER: _ClassVar[int]
    N_TOP_FIELD_NUMBER: _ClassVar[int]
    N_RANDOM_FIELD_NUMBER: _ClassVar[int]
    POOL_SIZE_FIELD_NUMBER: _ClassVar[int]
    EXCERPTS_FIELD_NUMBER: _ClassVar[int]
    EXCERPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    count: int
    rounds: int
    steps: int
    step_size: float
    n_top: int
    n_random: int
    pool_size: int
    excerpts: str
    excerpt_tokens: int
    seed: int
    def __init__(self, count: _Optional[int] = ..., rounds: _Optional[int] = ..., steps: _Optional[int] = ..., step_size: _Optional[float] = ..., n_top: _Optional[int] = ..., n_random: _Optional[int] = ..., pool_size: _Optional[int] = ..., excerpts: _Optional[str] = ..., excerpt_tokens: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class ScoringSettings(_message.Message):
    __slots__ = ("scorers", "rank_by", "set_kind", "n_top", "n_random", "pool_size", "seed", "sampled", "baseline", "excerpts", "excerpt_tokens", "token_layout")
    SCORERS_FIELD_NUMBER: _ClassVar[int]
    RANK_BY_FIELD_NUMBER: _ClassVar[int]
    SET_KIND_FIELD_NUMBER: _ClassVar[int]
    N_TOP_FIELD_NUMBER: _ClassVar[int]
    N_RANDOM_FIELD_NUMBER: _ClassVar[int]
    POOL_SIZE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    EXCERPTS_FIELD_NUMBER: _ClassVar[int]
    EXCERPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_LAYOUT_FIELD_NUMBER: _ClassVar[int]
    scorers: _containers.RepeatedScalarFieldContainer[str]
    rank_by: str
    set_kind: str
    n_top: int
    n_random: int
    pool_size: int
    seed: int
    sampled: bool
    baseline: bool
    excerpts: str
    excerpt_tokens: int
    token_layout: str
    def __init__(self, scorers: _Optional[_Iterable[str]] = ..., rank_by: _Optional[str] = ..., set_kind: _Optional[str] = ..., n_top: _Optional[int] = ..., n_random: _Optional[int] = ..., pool_size: _Optional[int] = ..., seed: _Optional[int] = ..., sampled: _Optional[bool] = ..., baseline: _Optional[bool] = ..., excerpts: _Optional[str] = ..., excerpt_tokens: _Optional[int] = ..., token_layout: _Optional[str] = ...) -> None: ...

class ScoreRequest(_message.Message):
    __slots__ = ("module_id", "unit_name", "unit_index", "explanations", "corpus", "helper", "scoring")
    MODULE_ID_FIELD_NUMBER: _ClassVar[int]
    UNIT_NAME_FIELD_NUMBER: _ClassVar[int]
    UNIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    EXPLANATIONS_FIELD_NUMBER: _ClassVar[int]
    CORPUS_FIELD_NUMBER: _ClassVar[int]
    HELPER_FIELD_NUMBER: _ClassVar[int]
    SCORING_FIELD_NUMBER: _ClassVar[int]
    module_id: str
    unit_name: str
    unit_index: int
    explanations: _containers.RepeatedScalarFieldContainer[str]
    corpus: CorpusSource
    helper: str
    scoring: ScoringSettings
    def __init__(self, module_id: _Optional[str] = ..., unit_name: _Optional[str] = ..., unit_index: _Optional[int] = ..., explanations: _Optional[_Iterable[str]] = ..., corpus: _Optional[_Union[CorpusSource, _Mapping]] = ..., helper: _Optional[str] = ..., scoring: _Optional[_Union[ScoringSettings, _Mapping]] = ...) -> None: ...

class ScoredExplanation(_message.Message):
    __slots__ = ("explanation", "scores")
    class ScoresEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: PredictiveScore
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[PredictiveScore, _Mapping]] = ...) -> None: ...
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    explanation: str
    scores: _containers.MessageMap[str, PredictiveScore]
    def __init__(self, explanation: _Optional[str] = ..., scores: _Optional[_Mapping[str, PredictiveScore]] = ...) -> None: ...

class ScoreResponse(_message.Message):
    __slots__ = ("unit", "explanations", "scoring_set_json", "helper", "usage_json")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    EXPLANATIONS_FIELD_NUMBER: _ClassVar[int]
    SCORING_SET_JSON_FIELD_NUMBER: _ClassVar[int]
    HELPER_FIELD_NUMBER: _ClassVar[int]
    USAGE_JSON_FIELD_NUMBER: _ClassVar[int]
    unit: str
    explanations: _containers.RepeatedCompositeFieldContainer[ScoredExplanation]
    scoring_set_json: str
    helper: str
    usage_json: str
    def __init__(self, unit: _Optional[str] = ..., explanations: _Optional[_Iterable[_Union[ScoredExplanation, _Mapping]]] = ..., scoring_set_json: _Optional[str] = ..., helper: _Optional[str] = ..., usage_json: _Optional[str] = ...) -> None: ...

class JobProgress(_message.Message):
    __slots__ = ("stage", "done", "total", "fraction", "detail", "ngrams_scored", "llm_calls", "units_done")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    NGRAMS_SCORED_FIELD_NUMBER: _ClassVar[int]
    LLM_CALLS_FIELD_NUMBER: _ClassVar[int]
    UNITS_DONE_FIELD_NUMBER: _ClassVar[int]
    stage: str
    done: int
    total: int
    fraction: float
    detail: str
    ngrams_scored: int
    llm_calls: int
    units_done: int
    def __init__(self, stage: _Optional[str] = ..., done: _Optional[int] = ..., total: _Optional[int] = ..., fraction: _Optional[float] = ..., detail: _Optional[str] = ..., ngrams_scored: _Optional[int] = ..., llm_calls: _Optional[int] = ..., units_done: _Optional[int] = ...) -> None: ...

class JobError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "module_id", "state", "progress", "error", "idempotency_key", "created_at", "updated_at", "result", "resumed")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODULE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FIELD_NUMBER: _ClassVar[int]
    id: str
    module_id: str
    state: JobState
    progress: JobProgress
    error: JobError
    idempotency_key: str
    created_at: float
    updated_at: float
    result: ExplainResult
    resumed: int
    def __init__(self, id: _Optional[str] = ..., module_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., progress: _Optional[_Union[JobProgress, _Mapping]] = ..., error: _Optional[_Union[JobError, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., created_at: _Optional[float] = ..., updated_at: _Optional[float] = ..., result: _Optional[_Union[ExplainResult, _Mapping]] = ..., resumed: _Optional[int] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id", "omit_result")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OMIT_RESULT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    omit_result: bool
    def __init__(self, job_id: _Optional[str] = ..., omit_result: _Optional[bool] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class DeleteJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class DeleteJobResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SigmaScore(_message.Message):
    __slots__ = ("sigma", "ci_low", "ci_high", "sigma_paper", "raw_diff", "n_related", "n_unrelated", "n_generic")
    SIGMA_FIELD_NUMBER: _ClassVar[int]
    CI_LOW_FIELD_NUMBER: _ClassVar[int]
    CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    SIGMA_PAPER_FIELD_NUMBER: _ClassVar[int]
    RAW_DIFF_FIELD_NUMBER: _ClassVar[int]
    N_RELATED_FIELD_NUMBER: _ClassVar[int]
    N_UNRELATED_FIELD_NUMBER: _ClassVar[int]
    N_GENERIC_FIELD_NUMBER: _ClassVar[int]
    sigma: float
    ci_low: float
    ci_high: float
    sigma_paper: float
    raw_diff: float
    n_related: int
    n_unrelated: int
    n_generic: int
    def __init__(self, sigma: _Optional[float] = ..., ci_low: _Optional[float] = ..., ci_high: _Optional[float] = ..., sigma_paper: _Optional[float] = ..., raw_diff: _Optional[float] = ..., n_related: _Optional[int] = ..., n_unrelated: _Optional[int] = ..., n_generic: _Optional[int] = ...) -> None: ...

class TopNgram(_message.Message):
    __slots__ = ("ngram", "response", "count")
    NGRAM_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ngram: str
    response: float
    count: int
    def __init__(self, ngram: _Optional[str] = ..., response: _Optional[float] = ..., count: _Optional[int] = ...) -> None: ...

class ScoredCandidate(_message.Message):
    __slots__ = ("explanation", "score", "ngrams", "related_texts", "unrelated_texts", "related_responses", "direct_response", "form", "scores", "style")
    class ScoresEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: PredictiveScore
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[PredictiveScore, _Mapping]] = ...) -> None: ...
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    NGRAMS_FIELD_NUMBER: _ClassVar[int]
    RELATED_TEXTS_FIELD_NUMBER: _ClassVar[int]
    UNRELATED_TEXTS_FIELD_NUMBER: _ClassVar[int]
    RELATED_RESPONSES_FIELD_NUMBER: _ClassVar[int]
    DIRECT_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    FORM_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    explanation: str
    score: SigmaScore
    ngrams: _containers.RepeatedScalarFieldContainer[str]
    related_texts: _containers.RepeatedScalarFieldContainer[str]
    unrelated_texts: _containers.RepeatedScalarFieldContainer[str]
    related_responses: _containers.RepeatedScalarFieldContainer[float]
    direct_response: float
    form: FormCheck
    scores: _containers.MessageMap[str, PredictiveScore]
    style: str
    def __init__(self, explanation: _Optional[str] = ..., score: _Optional[_Union[SigmaScore, _Mapping]] = ..., ngrams: _Optional[_Iterable[str]] = ..., related_texts: _Optional[_Iterable[str]] = ..., unrelated_texts: _Optional[_Iterable[str]] = ..., related_responses: _Optional[_Iterable[float]] = ..., direct_response: _Optional[float] = ..., form: _Optional[_Union[FormCheck, _Mapping]] = ..., scores: _Optional[_Mapping[str, PredictiveScore]] = ..., style: _Optional[str] = ...) -> None: ...

class PredictiveScore(_message.Message):
    __slots__ = ("value", "ci_low", "ci_high", "n", "baseline", "undefined_reason", "method", "details_json")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CI_LOW_FIELD_NUMBER: _ClassVar[int]
    CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    UNDEFINED_REASON_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    value: float
    ci_low: float
    ci_high: float
    n: int
    baseline: float
    undefined_reason: str
    method: str
    details_json: str
    def __init__(self, value: _Optional[float] = ..., ci_low: _Optional[float] = ..., ci_high: _Optional[float] = ..., n: _Optional[int] = ..., baseline: _Optional[float] = ..., undefined_reason: _Optional[str] = ..., method: _Optional[str] = ..., details_json: _Optional[str] = ...) -> None: ...

class FormCheck(_message.Message):
    __slots__ = ("flags", "n_words", "fluency")
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    N_WORDS_FIELD_NUMBER: _ClassVar[int]
    FLUENCY_FIELD_NUMBER: _ClassVar[int]
    flags: _containers.RepeatedScalarFieldContainer[str]
    n_words: int
    fluency: float
    def __init__(self, flags: _Optional[_Iterable[str]] = ..., n_words: _Optional[int] = ..., fluency: _Optional[float] = ...) -> None: ...

class Repair(_message.Message):
    __slots__ = ("before", "after", "rules")
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    before: str
    after: str
    rules: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, before: _Optional[str] = ..., after: _Optional[str] = ..., rules: _Optional[_Iterable[str]] = ...) -> None: ...

class UnitExplanation(_message.Message):
    __slots__ = ("unit", "top_ngrams", "candidates", "repairs", "reranked_from", "scoring_set_json", "output_evidence_json", "experiment_json")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    TOP_NGRAMS_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    REPAIRS_FIELD_NUMBER: _ClassVar[int]
    RERANKED_FROM_FIELD_NUMBER: _ClassVar[int]
    SCORING_SET_JSON_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_EVIDENCE_JSON_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    unit: str
    top_ngrams: _containers.RepeatedCompositeFieldContainer[TopNgram]
    candidates: _containers.RepeatedCompositeFieldContainer[ScoredCandidate]
    repairs: _containers.RepeatedCompositeFieldContainer[Repair]
    reranked_from: str
    scoring_set_json: str
    output_evidence_json: str
    experiment_json: str
    def __init__(self, unit: _Optional[str] = ..., top_ngrams: _Optional[_Iterable[_Union[TopNgram, _Mapping]]] = ..., candidates: _Optional[_Iterable[_Union[ScoredCandidate, _Mapping]]] = ..., repairs: _Optional[_Iterable[_Union[Repair, _Mapping]]] = ..., reranked_from: _Optional[str] = ..., scoring_set_json: _Optional[str] = ..., output_evidence_json: _Optional[str] = ..., experiment_json: _Optional[str] = ...) -> None: ...

class ExplainResult(_message.Message):
    __slots__ = ("units", "helper", "sasc_version", "timings", "module_json", "reference_corpus_json", "generic_corpus_json", "config_json", "usage_json")
    class TimingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    UNITS_FIELD_NUMBER: _ClassVar[int]
    HELPER_FIELD_NUMBER: _ClassVar[int]
    SASC_VERSION_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    MODULE_JSON_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_CORPUS_JSON_FIELD_NUMBER: _ClassVar[int]
    GENERIC_CORPUS_JSON_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    USAGE_JSON_FIELD_NUMBER: _ClassVar[int]
    units: _containers.RepeatedCompositeFieldContainer[UnitExplanation]
    helper: str
    sasc_version: str
    timings: _containers.ScalarMap[str, float]
    module_json: str
    reference_corpus_json: str
    generic_corpus_json: str
    config_json: str
    usage_json: str
    def __init__(self, units: _Optional[_Iterable[_Union[UnitExplanation, _Mapping]]] = ..., helper: _Optional[str] = ..., sasc_version: _Optional[str] = ..., timings: _Optional[_Mapping[str, float]] = ..., module_json: _Optional[str] = ..., reference_corpus_json: _Optional[str] = ..., generic_corpus_json: _Optional[str] = ..., config_json: _Optional[str] = ..., usage_json: _Optional[str] = ...) -> None: ...
