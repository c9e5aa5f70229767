"""Proto messages <-> library values. Every check of a request's shape lives here."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from google.protobuf import json_format, struct_pb2
from google.protobuf.internal.encoder import _VarintBytes

from sasc._grpc import jobs_pb2 as jpb
from sasc._grpc import modules_pb2 as mpb
from sasc.config import ExplainConfig
from sasc.corpora import BUILTIN_CORPORA
from sasc.errors import ConfigError, QuotaExceededError
from sasc.options import job_ranges
from sasc.form import FormCheck
from sasc.results import ExplainResult, UnitExplanation

from .containment import HelperPolicy
from .hosted import HostAnswer
from .jobs import JobSpec, check_ranges, score_config
from .store import JobRecord, ModuleRecord

_PACKED_VALUES = bytes([mpb.EvaluateResponse.DESCRIPTOR.fields_by_name["values"].number << 3 | 2])
"""Tag of EvaluateResponse.values as a length-delimited (packed) field."""
HELPER_KINDS = ("local", "openai", "fake")
JOB_STATES = {"queued": jpb.JOB_STATE_QUEUED, "running": jpb.JOB_STATE_RUNNING,
              "succeeded": jpb.JOB_STATE_SUCCEEDED, "failed": jpb.JOB_STATE_FAILED,
              "cancelled": jpb.JOB_STATE_CANCELLED}
SETTINGS_FIELDS = [f.name for f in jpb.ExplainSettings.DESCRIPTOR.fields]
LIST_SETTINGS = ("summary_styles",)
"""Repeated fields of ExplainSettings: set when non-empty (proto3 has no presence for them)."""
MAX_SCORE_EXPLANATIONS = 50
"""Explanations one Score request may carry (each costs a scoring set's worth of helper calls)."""
SETTING_RANGES = job_ranges(ExplainConfig)
"""What one job may ask for: bounds that keep a request from costing unbounded time or memory
(declared beside each option in :class:`ExplainConfig`)."""


# ---------------------------------------------------------------- params and arrays

def _ints(value: Any) -> Any:
    """Struct numbers are doubles: give integral ones back as int (``n: 3`` stays 3)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [_ints(v) for v in value]
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    return value


def params_from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    try:
        return _ints(json_format.MessageToDict(struct))
    except ValueError as e:  # json_format refuses NaN and inf numbers
        raise ConfigError(f"module parameters hold NaN or inf; numbers must be finite ({str(e)[:80]})") from None


def params_to_struct(params: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(params)
    return s


def register_request(messages: Iterable[mpb.RegisterModuleRequest], max_bytes: int
                     ) -> tuple[str, dict[str, Any], str, dict[str, np.ndarray]]:
    """``(kind, params, display_name, arrays)`` from a RegisterModule stream.

    ``max_bytes``: array bytes the caller may still register (QuotaExceededError beyond).
    """
    it = iter(messages)
    first = next(it, None)
    if first is None or not first.kind:
        raise ConfigError("RegisterModule: the first message must name a kind")
    params = params_from_struct(first.params)
    buffers: dict[str, tuple[tuple[int, ...], bytearray]] = {}
    total = 0
    for msg in _chain(first, it):
        if msg is not first and (msg.kind or msg.display_name or msg.params.fields):
            raise ConfigError("RegisterModule: only the first message may carry kind, params and display_name")
        for chunk in msg.arrays:
            total += len(chunk.data)
            if total > max_bytes:
                raise QuotaExceededError(f"array parameters exceed the {max_bytes:,} bytes this client may still register")
            _add_chunk(buffers, chunk)
    arrays = {}
    for name, (shape, buf) in buffers.items():
        if len(buf) != 4 * math.prod(shape):
            raise ConfigError(f"array {name!r}: got {len(buf)} bytes for shape {list(shape)}; "
                              f"expected {4 * math.prod(shape)} (float32)")
        arrays[name] = np.frombuffer(bytes(buf), dtype="<f4").reshape(shape).astype(np.float32)
    if set(arrays) & set(params):
        raise ConfigError(f"parameters {sorted(set(arrays) & set(params))} are given both as params and arrays")
    return first.kind, params, first.display_name, arrays


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _add_chunk(buffers: dict, chunk: mpb.ArrayChunk) -> None:
    if not chunk.name.isidentifier():
        raise ConfigError(f"array name {chunk.name[:40]!r} is not a parameter name")
    if chunk.name not in buffers:
        shape = tuple(int(d) for d in chunk.shape)
        if not shape or len(shape) > 4 or any(d < 0 for d in shape):
            raise ConfigError(f"array {chunk.name!r}: the first chunk needs a shape of 1 to 4 non-negative "
                              f"dimensions, got {list(shape)}")
        buffers[chunk.name] = (shape, bytearray())
    elif chunk.shape and tuple(chunk.shape) != buffers[chunk.name][0]:
        raise ConfigError(f"array {chunk.name!r}: chunks disagree on the shape")
    buffers[chunk.name][1].extend(chunk.data)


def module_to_proto(rec: ModuleRecord) -> mpb.Module:
    return mpb.Module(id=rec.id, kind=rec.kind, display_name=rec.display_name, units=rec.units,
                      fingerprint=rec.fingerprint, hosted=rec.hosted, array_bytes=rec.array_bytes,
                      created_at=rec.created_at, params=params_to_struct(rec.params))


def unit_selection(names: Iterable[str], indices: Iterable[int]) -> list[str | int] | None:
    """Units by name or index (not both); None for every unit."""
    names, indices = list(names), list(indices)
    if names and indices:
        raise ConfigError("give units by name or by index, not both")
    return (names or indices) or None


def values_to_proto(units: list[str], values: np.ndarray) -> mpb.EvaluateResponse:
    """The reply, with ``values`` merged in as one packed field (no Python float per value:
    4M values take 0.06 s and no extra memory instead of 0.5 s and ~130 MB)."""
    msg = mpb.EvaluateResponse(units=units, n_texts=values.shape[0])
    raw = np.ascontiguousarray(values, dtype="<f4").tobytes()
    if raw:
        msg.MergeFromString(_PACKED_VALUES + _VarintBytes(len(raw)) + raw)
    return msg


def host_values(msg: mpb.HostMessage) -> HostAnswer:
    """One answer of a client-hosted module."""
    which = msg.WhichOneof("message")
    if which == "values":
        v = msg.values
        return HostAnswer(v.batch_id, np.asarray(v.values, dtype=np.float32), tokens=v.tokens,
                          token_counts=v.token_counts)
    if which == "error":
        return HostAnswer(msg.error.batch_id, error=msg.error.message[:500] or "unspecified error")
    raise ConfigError(f"HostModule: expected values or error, got {which or 'an empty message'}")


def host_hello(msg: mpb.HostMessage | None) -> mpb.HostHello:
    if msg is None or msg.WhichOneof("message") != "hello":
        raise ConfigError("HostModule: the first message must be a hello")
    h = msg.hello
    if not h.units or any(not u for u in h.units) or len(set(h.units)) != len(h.units):
        raise ConfigError("HostModule: hello needs distinct, non-empty unit names")
    return h


# ---------------------------------------------------------------- jobs

def _corpus(src: jpb.CorpusSource, what: str, max_texts: int) -> str | list[str] | None:
    which = src.WhichOneof("source")
    if which is None:
        return None
    if which == "builtin":
        if src.builtin not in BUILTIN_CORPORA:
            raise ConfigError(f"unknown built-in {what} corpus {src.builtin[:60]!r}; known: {', '.join(BUILTIN_CORPORA)} "
                              "(or send the texts inline; server paths are not accepted)")
        return src.builtin
    texts = list(src.texts.texts)
    if not any(t.strip() for t in texts):
        raise ConfigError(f"the inline {what} corpus is empty")
    if what == "generic" and sum(1 for t in texts if t.strip()) < 2:  # sigma needs a spread of generic responses
        raise ConfigError("the inline generic corpus needs at least 2 non-empty texts")
    if len(texts) > max_texts:
        raise QuotaExceededError(f"the inline {what} corpus has {len(texts):,} texts; at most {max_texts:,} are accepted")
    return texts


def job_spec(req: jpb.SubmitJobRequest, max_texts: int, helpers: HelperPolicy | None = None) -> JobSpec:
    """The job a request asks for, validated whole (helper against ``helpers``, the allow-list)."""
    if not req.module_id:
        raise ConfigError("SubmitJob needs a module_id")
    helper = _helper(req.helper, helpers)
    settings = {f: getattr(req.settings, f) for f in SETTINGS_FIELDS if f not in LIST_SETTINGS and req.settings.HasField(f)}
    settings |= {f: list(getattr(req.settings, f)) for f in LIST_SETTINGS if getattr(req.settings, f)}
    check_ranges(settings, SETTING_RANGES, "setting")
    spec = JobSpec(module_id=req.module_id, units=unit_selection(req.unit_names, req.unit_indices),
                   corpus=_corpus(req.corpus, "reference", max_texts), generic=_corpus(req.generic, "generic", max_texts),
                   helper=helper, settings=settings, concurrency=req.concurrency or 1,
                   scoring=scoring_settings(req.scoring),
                   directions=direction_settings(req.directions) if req.HasField("directions") else {})
    spec.config()  # validate settings now, not when the job runs
    score_config(spec.scoring)  # unknown scorers too
    if req.HasField("directions"):
        if spec.units is not None or spec.scoring:
            raise ConfigError("a direction search leaves unit_names, unit_indices and scoring unset: its units are the "
                              "directions it finds, scored by simulation on held-out texts")
        spec.direction_config()
    return spec


def direction_settings(msg: jpb.DirectionSettings) -> dict[str, Any]:
    """The fields of ``msg`` that are set, as a dict, each within what one job may ask for."""
    from sasc.directions import DirectionConfig

    out: dict[str, Any] = {f.name: getattr(msg, f.name) for f in msg.DESCRIPTOR.fields if msg.HasField(f.name)}
    check_ranges(out, job_ranges(DirectionConfig), "direction setting")
    return out


def scoring_settings(msg: jpb.ScoringSettings) -> dict[str, Any]:
    """The fields of ``msg`` that are set, as a dict (``scorers`` when non-empty)."""
    out: dict[str, Any] = {f.name: getattr(msg, f.name) for f in msg.DESCRIPTOR.fields
                           if f.name != "scorers" and msg.HasField(f.name)}
    if msg.scorers:
        out["scorers"] = [str(n) for n in msg.scorers]
    return out


def _helper(spec: str, helpers: HelperPolicy | None) -> str:
    spec = spec or "local"
    if helpers is not None:
        return helpers.check(spec)
    if spec.partition(":")[0].lower() not in HELPER_KINDS:
        raise ConfigError(f"unknown helper spec {spec[:60]!r}: use local, local:<model>, openai:MODEL or fake")
    return spec


def score_request(req: jpb.ScoreRequest, max_texts: int, helpers: HelperPolicy | None = None) -> dict[str, Any]:
    """The keyword arguments of :meth:`server.jobs.JobQueue.score` for a Score request, validated
    whole before any helper call (explanations, scorers, set, helper, corpus)."""
    from sasc.scorers import check_explanation

    if not req.module_id:
        raise ConfigError("Score needs a module_id")
    if not req.explanations:
        raise ConfigError("Score needs at least one explanation")
    if len(req.explanations) > MAX_SCORE_EXPLANATIONS:
        raise QuotaExceededError(f"Score takes at most {MAX_SCORE_EXPLANATIONS} explanations a request, "
                                 f"got {len(req.explanations)}")
    config, _ = score_config(scoring_settings(req.scoring))
    if not config.scorers:
        from sasc.scorers import SCORERS

        raise ConfigError(f"Score needs at least one scorer; known scorers: {', '.join(SCORERS.names())}")
    return {"module_id": req.module_id, "unit": req.unit_name or int(req.unit_index),
            "explanations": [check_explanation(e) for e in req.explanations],
            "corpus": _corpus(req.corpus, "reference", max_texts), "helper": _helper(req.helper, helpers),
            "config": config}


def predictive_to_proto(d: dict[str, Any]) -> jpb.PredictiveScore:
    """One ``scores`` entry (:meth:`sasc.scorers.ScoreResult.to_dict`) as a message."""
    ci = d.get("ci") or [None, None]
    return jpb.PredictiveScore(value=d.get("value"), ci_low=ci[0], ci_high=ci[1], n=int(d.get("n", 0)),
                               baseline=d.get("baseline"), undefined_reason=d.get("undefined_reason") or "",
                               method=d.get("method", ""), details_json=json.dumps(d.get("details") or {}, sort_keys=True))


def score_response(report: dict[str, Any]) -> jpb.ScoreResponse:
    """The reply to Score from :func:`sasc.scorers.run.score_explanations`' report."""
    return jpb.ScoreResponse(
        unit=report["unit"], helper=report["helper"], usage_json=json.dumps(report.get("usage") or {}, sort_keys=True),
        scoring_set_json=json.dumps(report["scoring_set"], sort_keys=True, allow_nan=True),
        explanations=[jpb.ScoredExplanation(explanation=e["explanation"],
                                            scores={k: predictive_to_proto(v) for k, v in e["scores"].items()})
                      for e in report["explanations"]])


def job_to_proto(rec: JobRecord, with_result: bool = True) -> jpb.Job:
    p = rec.progress or {}
    progress = jpb.JobProgress(stage=p.get("stage", ""), done=p.get("done", 0), total=p.get("total", 0),
                               fraction=p.get("fraction", 0.0), detail=p.get("detail", ""),
                               ngrams_scored=p.get("ngrams_scored", 0), llm_calls=p.get("llm_calls", 0),
                               units_done=p.get("units_done", 0))
    job = jpb.Job(id=rec.id, module_id=rec.module_id, state=JOB_STATES[rec.state], progress=progress,
                  idempotency_key=rec.idempotency_key or "", created_at=rec.created_at,
                  updated_at=rec.updated_at, resumed=rec.resumed)
    if rec.error_code:
        job.error.CopyFrom(jpb.JobError(code=rec.error_code, message=rec.error_message))
    if with_result and rec.result:
        job.result.CopyFrom(result_to_proto(ExplainResult.from_json(rec.result)))
    return job


def _form_to_proto(form: FormCheck | None) -> jpb.FormCheck | None:
    if form is None:
        return None
    return jpb.FormCheck(flags=list(form.flags), n_words=form.n_words,
                         fluency=None if math.isnan(form.fluency) else form.fluency)


def _unit_to_proto(u: UnitExplanation) -> jpb.UnitExplanation:
    return jpb.UnitExplanation(
        unit=u.unit, top_ngrams=[jpb.TopNgram(ngram=t.ngram, response=t.response, count=t.count) for t in u.top_ngrams],
        candidates=[jpb.ScoredCandidate(explanation=c.explanation, score=jpb.SigmaScore(**dataclasses.asdict(c.score)),
                                        ngrams=c.ngrams, related_texts=c.related_texts,
                                        unrelated_texts=c.unrelated_texts, related_responses=c.related_responses,
                                        direct_response=None if math.isnan(c.direct_response) else c.direct_response,
                                        form=_form_to_proto(c.form), style=c.style,
                                        scores={k: predictive_to_proto(v) for k, v in c.scores.items()})
                    for c in u.candidates],
        repairs=[jpb.Repair(before=r.before, after=r.after, rules=r.rules) for r in u.repairs],
        reranked_from=u.reranked_from,
        scoring_set_json=json.dumps(u.scoring_set, sort_keys=True, allow_nan=True) if u.scoring_set else "",
        output_evidence_json=json.dumps(u.output_evidence, sort_keys=True) if u.output_evidence else "",
        experiment_json=json.dumps(u.experiment, sort_keys=True, allow_nan=True) if u.experiment else "")


def result_to_proto(r: ExplainResult) -> jpb.ExplainResult:
    """The library result as a message (inverse: :func:`sasc.client.result_from_proto`)."""
    dump = lambda d: json.dumps(d, sort_keys=True, allow_nan=True)  # noqa: E731
    return jpb.ExplainResult(units=[_unit_to_proto(u) for u in r.units], helper=r.helper,
                             sasc_version=r.sasc_version, timings=r.timings, module_json=dump(r.module),
                             reference_corpus_json=dump(r.reference_corpus), generic_corpus_json=dump(r.generic_corpus),
                             config_json=dump(r.config), usage_json=dump(r.usage))
