"""Python client of the sasc gRPC service (``sasc serve``).

::

    from sasc.client import Client

    with Client("127.0.0.1:50051", token="...") as c:
        voxels = c.register_linear_readout(weights, feature_model="minilm", units=names)
        result = c.explain(voxels.id, units=names[:10], helper="local")   # progress bar on stderr

    with c.host_module(lambda texts: [len(t) for t in texts], units=["length"]) as m:
        c.evaluate(m.id, ["a", "bb"])                                      # the server calls the lambda

Errors come back as the sasc exception of their status (INVALID_ARGUMENT -> ConfigError,
NOT_FOUND -> NotFoundError, ...) with ``.code`` set to the status name.
"""

from __future__ import annotations

import json
import math
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

import grpc
import numpy as np

from ._grpc import jobs_pb2 as jpb
from ._grpc import jobs_pb2_grpc, modules_pb2_grpc
from ._grpc import modules_pb2 as mpb
from .config import ExplainConfig
from .errors import (
    AuthenticationError, CancelledError, ConfigError, ModuleError, NotFoundError, PermissionDeniedError,
    QuotaExceededError, SascError, ServiceError,
)
from .form import FormCheck, Repair
from .progress import ProgressEvent
from .results import ExplainResult, ScoredCandidate, SigmaScore, TopNgram, UnitExplanation

STATUS_ERRORS: dict[str, type[SascError]] = {
    "INVALID_ARGUMENT": ConfigError, "NOT_FOUND": NotFoundError, "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError, "RESOURCE_EXHAUSTED": QuotaExceededError,
    "CANCELLED": CancelledError, "FAILED_PRECONDITION": ModuleError,
}
"""Status name -> the exception the client raises (others: ServiceError with the code in the message)."""

STATES = {v: k for k, v in jpb.JobState.items()}
FINAL = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")


def remote_error(code: str, message: str) -> SascError:
    """The sasc exception for a status ``code`` name and its details."""
    cls = STATUS_ERRORS.get(code)
    err = cls(message) if cls is not None else ServiceError(f"{code}: {message}")
    err.code = code
    return err


@dataclass(frozen=True)
class ModuleInfo:
    """A module registered on the server."""

    id: str
    """Module id to evaluate or explain."""
    kind: str
    """Kind name (``client_hosted`` for hosted modules)."""
    display_name: str
    """Readable name."""
    units: list[str]
    """Unit names, one per output column."""
    fingerprint: str
    """Content identity ('' when responses are not cached)."""
    hosted: bool
    """True for a client-hosted module."""
    array_bytes: int
    """Bytes of array parameters counted against the owner's quota."""
    created_at: float
    """Seconds since the epoch."""
    params: dict[str, Any]
    """Keyword parameters (arrays excluded)."""


@dataclass(frozen=True)
class JobInfo:
    """A job's state and progress (without its result)."""

    id: str
    """Job id."""
    module_id: str
    """Module being explained."""
    state: str
    """queued, running, succeeded, failed or cancelled."""
    stage: str
    """ngrams, responses, explain or done."""
    done: int
    """Work items done in the stage."""
    total: int
    """Work items in the stage (0: unknown)."""
    fraction: float
    """done / total."""
    detail: str
    """Free text, e.g. the unit just explained."""
    ngrams_scored: int
    """N-grams with known responses."""
    llm_calls: int
    """Helper LLM calls so far."""
    units_done: int
    """Units explained so far."""
    error_code: str
    """Status name when failed or cancelled."""
    error_message: str
    """Why."""
    resumed: int
    """Server restarts the job survived."""
    idempotency_key: str
    """The key it was submitted with."""


def _module_info(m: mpb.Module) -> ModuleInfo:
    from google.protobuf import json_format

    return ModuleInfo(m.id, m.kind, m.display_name, list(m.units), m.fingerprint, m.hosted, m.array_bytes,
                      m.created_at, json_format.MessageToDict(m.params))


def _job_info(j: jpb.Job) -> JobInfo:
    p = j.progress
    return JobInfo(j.id, j.module_id, STATES[j.state].removeprefix("JOB_STATE_").lower(), p.stage, p.done, p.total,
                   p.fraction, p.detail, p.ngrams_scored, p.llm_calls, p.units_done, j.error.code, j.error.message,
                   j.resumed, j.idempotency_key)


def predictive_from_proto(p: jpb.PredictiveScore) -> dict[str, Any]:
    """One predictive score as the ``scores`` map entry of a result (``ScoreResult.to_dict``)."""
    opt = lambda name: getattr(p, name) if p.HasField(name) else None  # noqa: E731
    return {"value": opt("value"), "ci": [opt("ci_low"), opt("ci_high")], "n": p.n, "baseline": opt("baseline"),
            "undefined_reason": p.undefined_reason or None, "method": p.method,
            "details": json.loads(p.details_json) if p.details_json else {}}


def _form_from_proto(f: jpb.FormCheck) -> FormCheck:
    return FormCheck(tuple(f.flags), f.n_words, f.fluency if f.HasField("fluency") else math.nan)


def result_from_proto(r: jpb.ExplainResult) -> ExplainResult:
    """The library's result from its message (inverse of the server's ``result_to_proto``)."""
    units = [UnitExplanation(
        u.unit, [TopNgram(t.ngram, t.response, t.count) for t in u.top_ngrams],
        [ScoredCandidate(c.explanation, SigmaScore(**{f.name: getattr(c.score, f.name) for f in fields(SigmaScore)}),
                         list(c.ngrams), list(c.related_texts), list(c.unrelated_texts), list(c.related_responses),
                         c.direct_response if c.HasField("direct_response") else math.nan,
                         form=_form_from_proto(c.form) if c.HasField("form") else None, style=c.style,
                         scores={k: predictive_from_proto(v) for k, v in c.scores.items()})
         for c in u.candidates],
        repairs=[Repair(r.before, r.after, list(r.rules)) for r in u.repairs], reranked_from=u.reranked_from,
        scoring_set=json.loads(u.scoring_set_json) if u.scoring_set_json else {},
        output_evidence=json.loads(u.output_evidence_json) if u.output_evidence_json else {},
        experiment=json.loads(u.experiment_json) if u.experiment_json else {})
        for u in r.units]
    load = lambda s: json.loads(s) if s else {}  # noqa: E731
    return ExplainResult(units=units, module=load(r.module_json), helper=r.helper,
                         reference_corpus=load(r.reference_corpus_json), generic_corpus=load(r.generic_corpus_json),
                         config=load(r.config_json), usage=load(r.usage_json), timings=dict(r.timings),
                         sasc_version=r.sasc_version)


def _corpus(value: str | Sequence[str] | None) -> jpb.CorpusSource | None:
    if value is None:
        return None
    if isinstance(value, str):
        return jpb.CorpusSource(builtin=value)
    return jpb.CorpusSource(texts=jpb.TextList(texts=list(value)))


def _settings(settings: ExplainConfig | dict[str, Any] | None) -> jpb.ExplainSettings:
    if settings is None:
        return jpb.ExplainSettings()
    if isinstance(settings, ExplainConfig):
        flat = {f.name: getattr(settings, f.name) for f in fields(settings)}
        flat.update({f.name: getattr(settings.ngrams, f.name) for f in fields(settings.ngrams)})
        settings = {k: v for k, v in flat.items() if k in jpb.ExplainSettings.DESCRIPTOR.fields_by_name}
    return jpb.ExplainSettings(**settings)


def _units(units: Sequence[str | int] | None) -> dict[str, list]:
    units = list(units or [])
    if all(isinstance(u, (int, np.integer)) for u in units):
        return {"unit_indices": [int(u) for u in units]}
    return {"unit_names": [str(u) for u in units]}


def _array_chunks(arrays: dict[str, Any], chunk_bytes: int) -> Iterator[mpb.ArrayChunk]:
    for name, value in arrays.items():
        a = np.ascontiguousarray(value, dtype="<f4")
        data = a.tobytes()
        for start in range(0, max(len(data), 1), chunk_bytes):
            yield mpb.ArrayChunk(name=name, shape=list(a.shape) if start == 0 else [],
                                 data=data[start:start + chunk_bytes])


class HostedModule:
    """A Python callable served as a module over one HostModule stream (see :meth:`Client.host_module`).

    ``fn(texts) -> values``: ``[len(texts)]`` for one unit or ``[len(texts), n_units]``.
    ``token_fn(texts)``, optional: one ``(tokens, values)`` pair (or a
    :class:`sasc.modules.base.TokenResponses`) per text, ``values`` ``[len(tokens)]`` or
    ``[len(tokens), n_units]``; with it the module has token activations on the server (per-token
    scoring sets). The module exists on the server while this object is open; :meth:`close` ends it.
    """

    def __init__(self, stub: modules_pb2_grpc.ModuleServiceStub, metadata: list[tuple[str, str]],
                 fn: Callable[[list[str]], Any], units: Sequence[str], name: str, batch_size: int, fingerprint: str,
                 token_fn: Callable[[list[str]], Sequence[Any]] | None = None):
        self.fn = fn
        self.token_fn = token_fn
        self.n_units = len(units)
        self._outbox: queue.Queue[Any] = queue.Queue()
        self._outbox.put(mpb.HostMessage(hello=mpb.HostHello(
            display_name=name, units=list(units), max_batch_size=batch_size, fingerprint=fingerprint,
            token_responses=token_fn is not None)))
        self._call = stub.HostModule(iter(self._outbox.get, None), metadata=metadata)
        try:
            ready = next(self._call).ready
        except grpc.RpcError as e:
            raise remote_error(e.code().name, e.details() or "") from None
        self.module = _module_info(ready.module)
        self.batch_size = ready.batch_size
        """Texts per batch, as negotiated."""
        self.deadline_s = ready.batch_deadline_s
        """Seconds the server waits for each answer."""
        self.error: BaseException | None = None
        """Why the stream ended, if it ended badly."""
        self.batches = 0
        """Batches answered."""
        self._thread = threading.Thread(target=self._serve, name=f"sasc-host-{self.module.id}", daemon=True)
        self._thread.start()

    @property
    def id(self) -> str:
        return self.module.id

    def _answer(self, batch: mpb.HostBatch) -> mpb.HostMessage:
        try:
            if batch.per_token and self.token_fn is not None:
                return mpb.HostMessage(values=self._token_values(batch))
            values = np.asarray(self.fn(list(batch.texts)), dtype=np.float32)
            return mpb.HostMessage(values=mpb.HostValues(batch_id=batch.batch_id, values=values.ravel()))
        except Exception as e:  # noqa: BLE001 - reported to the server, which fails the jobs using us
            return mpb.HostMessage(error=mpb.HostError(batch_id=batch.batch_id, message=f"{type(e).__name__}: {e}"))

    def _token_values(self, batch: mpb.HostBatch) -> mpb.HostValues:
        tokens: list[str] = []
        counts: list[int] = []
        rows: list[np.ndarray] = []
        for r in self.token_fn(list(batch.texts)):
            toks, vals = (r.tokens, r.values) if hasattr(r, "tokens") else r
            tokens += [str(t) for t in toks]
            counts.append(len(toks))
            rows.append(np.asarray(vals, dtype=np.float32).reshape(len(toks), -1))
        values = np.concatenate(rows) if rows else np.zeros((0, self.n_units), np.float32)
        return mpb.HostValues(batch_id=batch.batch_id, values=values.ravel(), tokens=tokens, token_counts=counts)

    def _serve(self) -> None:
        try:
            for req in self._call:
                if req.WhichOneof("message") == "batch":
                    self._outbox.put(self._answer(req.batch))
                    self.batches += 1
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                self.error = remote_error(e.code().name, e.details() or "")

    def close(self) -> None:
        """End the stream; the server forgets the module and fails jobs still using it."""
        self._outbox.put(None)
        self._thread.join(timeout=5)
        self._call.cancel()

    def __enter__(self) -> "HostedModule":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_event(p: Any, shown: ProgressEvent | None) -> ProgressEvent | None:
    """The event to show for a job's progress snapshot ``p`` (a ``JobProgress``), or None.

    ``shown``: the event shown last. Snapshots coalesce, so a job can reach ``"done"`` before
    its last explain step was seen; the explain bar then still ends at the units it finished.
    """
    if p.stage not in ("", "queued", "done"):
        return ProgressEvent(p.stage, p.done, p.total, p.detail or f"{p.llm_calls} LLM calls")
    if p.stage == "done" and shown is not None and shown.stage == "explain" and shown.done < p.units_done:
        return ProgressEvent("explain", p.units_done, shown.total, p.detail or shown.detail)
    return None


class Client:
    """A connection to ``sasc serve``.

    Args:
        target: ``host:port``.
        token: bearer token (sent as ``authorization: Bearer <token>`` metadata).
        root_certificates: PEM bytes of the CA that signed the server's certificate; enables TLS.
        private_key, certificate_chain: PEM bytes of a client certificate (mutual TLS).
        timeout_s: deadline of each unary call, seconds.
        max_message_mb: largest message sent or received, MiB.
    """

    def __init__(self, target: str = "127.0.0.1:50051", *, token: str | None = None,
                 root_certificates: bytes | None = None, private_key: bytes | None = None,
                 certificate_chain: bytes | None = None, timeout_s: float = 120.0, max_message_mb: int = 64):
        opts = [("grpc.max_send_message_length", max_message_mb << 20),
                ("grpc.max_receive_message_length", max_message_mb << 20)]
        if root_certificates is not None:
            creds = grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
            self.channel = grpc.secure_channel(target, creds, options=opts)
        else:
            self.channel = grpc.insecure_channel(target, options=opts)
        self.metadata = [("authorization", f"Bearer {token}")] if token else []
        self.timeout_s = timeout_s
        self.modules = modules_pb2_grpc.ModuleServiceStub(self.channel)
        self.jobs = jobs_pb2_grpc.JobServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _call(self, method: Callable[..., Any], request: Any, timeout_s: float | None = -1) -> Any:
        try:
            return method(request, metadata=self.metadata, timeout=self.timeout_s if timeout_s == -1 else timeout_s)
        except grpc.RpcError as e:
            raise remote_error(e.code().name, e.details() or "") from None

    # ------------------------------------------------------------------ modules

    def register_module(self, kind: str, params: dict[str, Any] | None = None, *, arrays: dict[str, Any] | None = None,
                        name: str = "", chunk_bytes: int = 1 << 20) -> ModuleInfo:
        """Register a module of a built-in kind; ``arrays`` (float32) are streamed in chunks."""
        from google.protobuf import struct_pb2

        struct = struct_pb2.Struct()
        struct.update(params or {})
        head = mpb.RegisterModuleRequest(kind=kind, params=struct, display_name=name)

        def messages() -> Iterator[mpb.RegisterModuleRequest]:
            yield head
            for chunk in _array_chunks(arrays or {}, chunk_bytes):
                yield mpb.RegisterModuleRequest(arrays=[chunk])

        return _module_info(self._call(self.modules.RegisterModule, messages()))

    def register_linear_readout(self, weights: Any, *, feature_model: str = "minilm",
                                units: Sequence[str] | None = None, bias: Any = None, name: str = "",
                                chunk_bytes: int = 1 << 20) -> ModuleInfo:
        """Register ``weights`` ``[n_units, n_features]`` over a built-in feature model (e.g. voxels)."""
        params: dict[str, Any] = {"feature_model": feature_model}
        if units is not None:
            params["units"] = list(units)
        arrays = {"weights": weights} if bias is None else {"weights": weights, "bias": bias}
        return self.register_module("linear_readout", params, arrays=arrays, name=name, chunk_bytes=chunk_bytes)

    def host_module(self, fn: Callable[[list[str]], Any], units: Sequence[str] | None = None, *, name: str = "",
                    batch_size: int = 1024, fingerprint: str = "",
                    token_fn: Callable[[list[str]], Sequence[Any]] | None = None) -> HostedModule:
        """Serve ``fn`` as a module; returns once the server has registered it (use ``with``).
        ``token_fn``: per-token activations too (see :class:`HostedModule`)."""
        units = list(units) if units else [name or getattr(fn, "__name__", "unit")]
        return HostedModule(self.modules, self.metadata, fn, units, name or getattr(fn, "__name__", ""),
                            batch_size, fingerprint, token_fn)

    def list_modules(self) -> list[ModuleInfo]:
        return [_module_info(m) for m in self._call(self.modules.ListModules, mpb.ListModulesRequest()).modules]

    def get_module(self, module_id: str) -> ModuleInfo:
        return _module_info(self._call(self.modules.GetModule, mpb.GetModuleRequest(module_id=module_id)))

    def delete_module(self, module_id: str) -> None:
        self._call(self.modules.DeleteModule, mpb.DeleteModuleRequest(module_id=module_id))

    def kinds(self) -> list[str]:
        return list(self._call(self.modules.ListKinds, mpb.ListKindsRequest()).kinds)

    def evaluate(self, module_id: str, texts: Sequence[str], units: Sequence[str | int] | None = None) -> np.ndarray:
        """float32 ``[len(texts), n_units]`` responses (all units, or ``units`` by name or index)."""
        req = mpb.EvaluateRequest(module_id=module_id, texts=list(texts), **_units(units))
        resp = self._call(self.modules.Evaluate, req)
        return np.asarray(resp.values, dtype=np.float32).reshape(resp.n_texts, len(resp.units))

    # ------------------------------------------------------------------ jobs

    def submit_job(self, module_id: str, *, units: Sequence[str | int] | None = None,
                   corpus: str | Sequence[str] | None = None, generic: str | Sequence[str] | None = None,
                   helper: str = "local", settings: ExplainConfig | dict[str, Any] | None = None,
                   concurrency: int = 1, idempotency_key: str = "", scoring: dict[str, Any] | None = None,
                   directions: dict[str, Any] | None = None) -> JobInfo:
        """Queue an explanation job. Corpora: a built-in name or a list of texts (None: server default).
        ``scoring``: ScoringSettings fields, e.g. ``{"scorers": ["simulation", "fuzzing"], "n_top": 10}``;
        every scored candidate then carries a ``scores`` map. ``directions``: DirectionSettings fields
        (``{}`` for the defaults): a direction search at the module's site instead (see :meth:`find_directions`)."""
        req = jpb.SubmitJobRequest(module_id=module_id, helper=helper, settings=_settings(settings),
                                   concurrency=concurrency, idempotency_key=idempotency_key,
                                   scoring=jpb.ScoringSettings(**(scoring or {})), **_units(units))
        if directions is not None:
            req.directions.CopyFrom(jpb.DirectionSettings(**directions))
        for field_name, value in (("corpus", corpus), ("generic", generic)):
            src = _corpus(value)
            if src is not None:
                getattr(req, field_name).CopyFrom(src)
        return _job_info(self._call(self.jobs.SubmitJob, req))

    def watch_job(self, job_id: str, progress: bool | Callable[[ProgressEvent], None] = True) -> ExplainResult:
        """Follow a job to its end (tqdm bars when ``progress`` is True); its result, or its error raised."""
        bar = None
        if progress is True:
            from .cli_common import TqdmProgress

            bar = progress = TqdmProgress()
        last = None
        shown = None  # the last ProgressEvent handed to ``progress``
        try:
            for event in self._watch(job_id):
                last = event.job
                if callable(progress):
                    ev = progress_event(last.progress, shown)
                    if ev is not None:
                        shown = ev
                        progress(ev)
        finally:
            if bar is not None:
                bar.close()
        if last is None or STATES[last.state] not in FINAL:
            raise ServiceError(f"the watch of job {job_id!r} ended before the job did")
        return self._outcome(last)

    def job_events(self, job_id: str) -> Iterator[JobInfo]:
        """The job's state each time it changes, until it ends (stop iterating to stop watching)."""
        for event in self._watch(job_id):
            yield _job_info(event.job)

    def _watch(self, job_id: str) -> Iterator[jpb.JobEvent]:
        try:
            yield from self.jobs.WatchJob(jpb.WatchJobRequest(job_id=job_id), metadata=self.metadata)
        except grpc.RpcError as e:
            raise remote_error(e.code().name, e.details() or "") from None

    @staticmethod
    def _outcome(job: jpb.Job) -> ExplainResult:
        if STATES[job.state] == "JOB_STATE_SUCCEEDED":
            return result_from_proto(job.result)
        raise remote_error(job.error.code or "UNKNOWN", f"job {job.id} {STATES[job.state][10:].lower()}: "
                                                       f"{job.error.message}")

    def get_job(self, job_id: str) -> JobInfo:
        return _job_info(self._call(self.jobs.GetJob, jpb.GetJobRequest(job_id=job_id, omit_result=True)))

    def result(self, job_id: str) -> ExplainResult:
        """The result of a finished job (raises its error if it failed; ServiceError if it is not done)."""
        job = self._call(self.jobs.GetJob, jpb.GetJobRequest(job_id=job_id))
        if STATES[job.state] not in FINAL:
            raise ServiceError(f"job {job_id} is still {STATES[job.state][10:].lower()}")
        return self._outcome(job)

    def list_jobs(self) -> list[JobInfo]:
        return [_job_info(j) for j in self._call(self.jobs.ListJobs, jpb.ListJobsRequest()).jobs]

    def cancel_job(self, job_id: str) -> JobInfo:
        return _job_info(self._call(self.jobs.CancelJob, jpb.CancelJobRequest(job_id=job_id)))

    def delete_job(self, job_id: str) -> None:
        """Delete a job with its inline corpora and result (an active one is cancelled first)."""
        self._call(self.jobs.DeleteJob, jpb.DeleteJobRequest(job_id=job_id))

    def score(self, module_id: str, explanations: Sequence[str], *, unit: str | int = 0,
              scorers: Sequence[str] = ("simulation",), corpus: str | Sequence[str] | None = None, helper: str = "local",
              scoring: dict[str, Any] | None = None, timeout_s: float | None = None) -> dict[str, Any]:
        """Score ``explanations`` of one unit with predictive ``scorers`` on the server (no summarizing).
        Returns ``{"unit", "helper", "explanations": [{"explanation", "scores": {name: {value, ci, n,
        baseline, ...}}}], "scoring_set", "usage"}``; ``scoring``: more ScoringSettings fields.
        ``timeout_s``: deadline (None: none; each explanation costs helper calls)."""
        req = jpb.ScoreRequest(module_id=module_id, explanations=list(explanations), helper=helper,
                               scoring=jpb.ScoringSettings(scorers=list(scorers), **(scoring or {})),
                               **({"unit_name": unit} if isinstance(unit, str) else {"unit_index": int(unit)}))
        src = _corpus(corpus)
        if src is not None:
            req.corpus.CopyFrom(src)
        resp = self._call(self.jobs.Score, req, timeout_s)
        return {"unit": resp.unit, "helper": resp.helper,
                "explanations": [{"explanation": e.explanation,
                                  "scores": {k: predictive_from_proto(v) for k, v in e.scores.items()}}
                                 for e in resp.explanations],
                "scoring_set": json.loads(resp.scoring_set_json), "usage": json.loads(resp.usage_json or "{}")}

    def explain(self, module_id: str, *, progress: bool | Callable[[ProgressEvent], None] = True,
                **submit: Any) -> ExplainResult:
        """:meth:`submit_job` then :meth:`watch_job`; the result as :class:`sasc.ExplainResult`."""
        return self.watch_job(self.submit_job(module_id, **submit).id, progress=progress)

    def find_directions(self, module_id: str, directions: dict[str, Any] | None = None, *,
                        progress: bool | Callable[[ProgressEvent], None] = True, **submit: Any) -> ExplainResult:
        """A direction search job at the site of ``module_id`` (an ``llm_neuron`` / ``llm_direction``
        module of one layer), followed to its end: the final explanations of the directions found,
        the search in ``result.config["directions"]`` (:func:`sasc.directions.direction_vectors`
        reads the vectors; :meth:`register_directions` makes them a module)."""
        return self.watch_job(self.submit_job(module_id, directions=dict(directions or {}), **submit).id,
                              progress=progress)

    def register_directions(self, result: ExplainResult, *, name: str = "") -> ModuleInfo:
        """Register the directions a search found as an ``llm_direction`` module (vectors streamed as an array)."""
        from .directions import direction_vectors

        spec = {k: v for k, v in result.config["directions"]["spec"].items() if k not in ("kind", "directions")}
        names = [d["name"] for d in result.config["directions"]["directions"]]
        return self.register_module("llm_direction", {**spec, "names": names},
                                    arrays={"directions": direction_vectors(result)}, name=name)
