"""Hostile input: property-based malformed requests against a real `sasc serve`.

Usage::

    python benchmarks/grpc_fuzz.py               # 1,200 generated requests, then the phases below
    python benchmarks/grpc_fuzz.py --examples 300

Hypothesis generates requests over the raw stubs (unknown kinds, random params, wrong matrix
shapes, NaN weights, bad chunks, out-of-range units, empty and huge strings, unknown and
other clients' ids, bad tokens, bad job settings, malformed HostModule streams). Each case
knows which statuses are right for it; any other status (INTERNAL above all) is a failure.
At the end the server must still be healthy and serving.

Generated cases also cover paths (every module parameter that names a file, in generated forms:
relative, absolute, ``..`` anywhere, symlinks out of the root, URL schemes in any case, ``~``, NUL):
each must be refused with the one "not allowed or not there" message. Then measured phases (issue
33): deadlines (Evaluate on a slow client-hosted module with a random client deadline; how long work
went on after it), streams (one client opens more streams than allowed while another tenant keeps
calling: refusals, the other tenant's latencies and errors), unary calls (one client floods slow
Evaluates from 8 threads while another tenant and health checks keep calling), cancellation (a job
cancelled mid-shard, on a client-hosted module and on the packaged MiniLM: seconds from CancelJob to
the job's end), and memory (the server's peak RSS under the largest Evaluate the budgets allow and
under the issue's 15,000 texts x 10,000 units request, which must be refused before it allocates).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grpc_load import start_server_process  # noqa: E402

from google.protobuf import struct_pb2  # noqa: E402

from sasc._grpc import jobs_pb2 as jpb  # noqa: E402
from sasc._grpc import jobs_pb2_grpc, modules_pb2_grpc  # noqa: E402
from sasc._grpc import modules_pb2 as mpb  # noqa: E402

OK, BAD, NF, AUTH, QUOTA = "OK", "INVALID_ARGUMENT", "NOT_FOUND", "UNAUTHENTICATED", "RESOURCE_EXHAUSTED"
NOT_ALLOWED = "not allowed or not there"
SECRET = "SECRET-CONTENT-fuzz"
PATH_PARAMS = [("dictionary_factor", "dictionary"), ("dictionary_factor", "encoder"), ("llm_direction", "directions"),
               ("llm_direction", "model"), ("llm_neuron", "model"), ("embedding_distance", "model"),
               ("fmri_voxels", "model")]
PATHS: dict[str, str] = {}
"""Filled in main(): 'root' (the --data-root) and 'outside' (a folder beside it holding SECRET)."""
KNOWN = {"embedding_distance", "linear_readout", "llm_neuron", "llm_direction", "dictionary_factor", "fmri_voxels"}
text = st.text(max_size=40)
ident = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)


def struct(d: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(d)
    return s


json_value = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | text,
                          lambda c: st.lists(c, max_size=3) | st.dictionaries(ident, c, max_size=3), max_leaves=6)


def chunk(name, shape, data):
    return mpb.ArrayChunk(name=name, shape=shape, data=data)


# Each strategy yields (category, rpc name, request or request list, token, allowed statuses).
@st.composite
def unknown_kind(draw):
    kind = draw(text.filter(lambda k: k and k not in KNOWN))
    return "unknown kind", "RegisterModule", [mpb.RegisterModuleRequest(kind=kind)], "ta", {BAD}


@st.composite
def bad_readout(draw):
    rows = draw(st.integers(0, 4))
    cols = draw(st.sampled_from([0, 1, 7, 255, 257, 384]))
    data = np.zeros((rows, cols), "<f4")
    if draw(st.booleans()) and data.size:
        data.flat[draw(st.integers(0, data.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    params = struct({"feature_model": draw(st.sampled_from(["word_hash", "nope", ""]))})
    return ("wrong matrix shape / NaN weights", "RegisterModule",
            [mpb.RegisterModuleRequest(kind="linear_readout", params=params,
                                       arrays=[chunk("weights", [rows, cols], data.tobytes())])], "ta", {BAD})


@st.composite
def nan_weights(draw):
    data = np.ones((2, 256), "<f4")
    data[draw(st.integers(0, 1)), draw(st.integers(0, 255))] = np.nan
    return ("NaN weights", "RegisterModule", [mpb.RegisterModuleRequest(
        kind="linear_readout", params=struct({"feature_model": "word_hash"}),
        arrays=[chunk("weights", [2, 256], data.tobytes())])], "ta", {BAD})


@st.composite
def bad_chunks(draw):
    name = draw(st.sampled_from(["weights", "we ights", "", "1x", "feature_model"]))
    shape = draw(st.lists(st.integers(-3, 300), max_size=6))
    data = draw(st.binary(max_size=64))
    params = struct({"feature_model": "word_hash"})
    msgs = [mpb.RegisterModuleRequest(kind="linear_readout", params=params, arrays=[chunk(name, shape, data)])]
    if draw(st.booleans()):  # a later message that tries to change the header
        msgs.append(mpb.RegisterModuleRequest(kind=draw(text), display_name="x"))
    return "bad array chunks", "RegisterModule", msgs, "ta", {BAD}


@st.composite
def too_many_bytes(draw):
    rows = draw(st.integers(5000, 8000))  # > 4 MiB of weights for a 4 MiB quota
    data = np.zeros((rows, 256), "<f4").tobytes()
    msgs = [mpb.RegisterModuleRequest(kind="linear_readout", params=struct({"feature_model": "word_hash"}))]
    msgs += [mpb.RegisterModuleRequest(arrays=[chunk("weights", [rows, 256] if i == 0 else [], data[i:i + (1 << 20)])])
             for i in range(0, len(data), 1 << 20)]
    return "array quota", "RegisterModule", msgs, "ta", {QUOTA}


@st.composite
def random_params(draw):
    kind = draw(st.sampled_from(["embedding_distance", "linear_readout"]))
    params = draw(st.dictionaries(ident.map(lambda k: "x_" + k), json_value, min_size=1, max_size=4))
    return "unknown params", "RegisterModule", [mpb.RegisterModuleRequest(kind=kind, params=struct(params))], "ta", {BAD}


@st.composite
def evaluate_bad_units(draw, ids):
    names = draw(st.lists(text.filter(lambda u: u not in ("a", "b")), max_size=3))
    indices = draw(st.lists(st.integers(-2**31, 2**31 - 1).filter(lambda i: i not in (0, 1)), max_size=3))
    if not names and not indices:
        indices = [2]
    req = mpb.EvaluateRequest(module_id=ids["module"], texts=draw(st.lists(text, max_size=3)), unit_names=names,
                              unit_indices=indices)
    return "wrong units", "Evaluate", req, "ta", {BAD}


@st.composite
def evaluate_texts(draw, ids):
    texts = draw(st.lists(st.text(max_size=300), max_size=20))
    return "odd texts (ok)", "Evaluate", mpb.EvaluateRequest(module_id=ids["module"], texts=texts), "ta", {OK}


@st.composite
def evaluate_huge(draw, ids):
    if draw(st.booleans()):
        req = mpb.EvaluateRequest(module_id=ids["module"], texts=["x"] * draw(st.integers(3001, 6000)))
        return "too many texts", "Evaluate", req, "ta", {QUOTA}
    req = mpb.EvaluateRequest(module_id=ids["module"], texts=["y" * draw(st.integers(5 << 20, 6 << 20))])
    return "huge string", "Evaluate", req, "ta", {QUOTA}


@st.composite
def other_clients_ids(draw, ids):
    rpc = draw(st.sampled_from(["GetModule", "DeleteModule", "Evaluate", "GetJob", "CancelJob", "WatchJob", "SubmitJob"]))
    m, j = ids["module"], ids["job"]
    req = {"GetModule": mpb.GetModuleRequest(module_id=m), "DeleteModule": mpb.DeleteModuleRequest(module_id=m),
           "Evaluate": mpb.EvaluateRequest(module_id=m, texts=["x"]), "GetJob": jpb.GetJobRequest(job_id=j),
           "CancelJob": jpb.CancelJobRequest(job_id=j), "WatchJob": jpb.WatchJobRequest(job_id=j),
           "SubmitJob": jpb.SubmitJobRequest(module_id=m, helper="fake")}[rpc]
    return "other client's ids", rpc, req, "tb", {NF}


@st.composite
def unknown_ids(draw):
    rpc = draw(st.sampled_from(["GetModule", "DeleteModule", "GetJob", "CancelJob", "WatchJob"]))
    i = draw(text)
    req = {"GetModule": mpb.GetModuleRequest(module_id=i), "DeleteModule": mpb.DeleteModuleRequest(module_id=i),
           "GetJob": jpb.GetJobRequest(job_id=i), "CancelJob": jpb.CancelJobRequest(job_id=i),
           "WatchJob": jpb.WatchJobRequest(job_id=i)}[rpc]
    return "unknown ids", rpc, req, "ta", {NF}


@st.composite
def bad_tokens(draw, ids):
    token = draw(st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9._-]{1,40}", fullmatch=True).filter(
        lambda t: t not in ("ta", "tb"))))
    rpc = draw(st.sampled_from(["ListModules", "Evaluate", "GetJob", "SubmitJob"]))
    req = {"ListModules": mpb.ListModulesRequest(), "Evaluate": mpb.EvaluateRequest(module_id=ids["module"]),
           "GetJob": jpb.GetJobRequest(job_id=ids["job"]), "SubmitJob": jpb.SubmitJobRequest(module_id=ids["module"])}[rpc]
    return "bad token", rpc, req, token, {AUTH}


@st.composite
def bad_jobs(draw, ids):
    req = jpb.SubmitJobRequest(module_id=ids["module"], helper="fake",
                               corpus=jpb.CorpusSource(texts=jpb.TextList(texts=["I ate pizza.", "Stocks fell."])))
    what = draw(st.sampled_from(["helper", "builtin", "setting", "concurrency", "units", "empty corpus", "both units"]))
    if what == "helper":
        req.helper = draw(text.filter(lambda h: h.partition(":")[0].lower() not in ("local", "openai", "fake", "")))
    elif what == "builtin":
        req.corpus.builtin = draw(text.filter(lambda c: c not in ("news100", "news", "movies", "headlines")))
    elif what == "setting":
        name = draw(st.sampled_from(["max_n", "n_candidates", "n_synthetic", "n_generic", "n_bootstrap", "shard_size"]))
        setattr(req.settings, name, draw(st.one_of(st.integers(-2**31, 0), st.integers(1_000_001, 2**31 - 1))))
    elif what == "concurrency":
        req.concurrency = draw(st.one_of(st.integers(-2**31, -1), st.integers(9, 2**31 - 1)))
    elif what == "units":
        req.unit_indices.extend(draw(st.lists(st.integers(2, 2**31 - 1), min_size=1, max_size=3)))
    elif what == "empty corpus":
        req.corpus.texts.texts[:] = draw(st.lists(st.sampled_from(["", " ", "\n"]), min_size=1, max_size=3))
    else:
        req.unit_indices.append(0)
        req.unit_names.append("a")
    return f"bad job ({what})", "SubmitJob", req, "ta", {BAD}


@st.composite
def hostile_path(draw):
    kind, key = draw(st.sampled_from(PATH_PARAMS))
    prefix = draw(st.sampled_from(["", "/", "./", "../", "~/", "~root/", "file:", "FILE://", "File:/", "Hf://",
                                   "s3://", "C:\\", "\\\\server\\", PATHS["root"] + "/", PATHS["outside"] + "/",
                                   PATHS["root"] + "/../outside/", "escape/", "outdir/"]))
    parts = draw(st.lists(st.sampled_from(["..", ".", "etc", "passwd", "secret.npy", "real.npy", "outside",
                                           "proc", "self", "environ", "escape.npy", "outdir", "x.gguf", "model",
                                           "gpt2", "bert-base-uncased", "\x00", "%2e%2e", "..\\.."]),
                          min_size=0, max_size=5))
    value = prefix + "/".join(parts)
    params = {key: value}
    if _lands_inside(value):  # the root itself or a file in it: reachable, so its own error is fine
        return "path inside the root", "RegisterModule", [mpb.RegisterModuleRequest(
            kind=kind, params=struct({**params, "keyphrases": ["x"]} if kind == "embedding_distance" else params))], \
            "ta", {BAD, "FAILED_PRECONDITION"}
    if kind == "embedding_distance":
        params["keyphrases"] = ["x"]
    return "path outside the roots", "RegisterModule", [mpb.RegisterModuleRequest(kind=kind, params=struct(params))], \
        "ta", {BAD}


def _lands_inside(value: str) -> bool:
    import os

    if "\x00" in value or not value or value.startswith("~") or ":" in value.split("/")[0]:
        return False
    p = value if os.path.isabs(value) else os.path.join(PATHS["root"], value)
    real = os.path.realpath(p)
    return os.path.exists(real) and (real + "/").startswith(PATHS["root"] + "/")


@st.composite
def bad_host(draw):
    first = draw(st.sampled_from(["values", "error", "empty", "no units", "duplicate units", "empty unit"]))
    msg = {"values": mpb.HostMessage(values=mpb.HostValues(batch_id=1, values=[1.0])),
           "error": mpb.HostMessage(error=mpb.HostError(batch_id=1, message="x")),
           "empty": mpb.HostMessage(),
           "no units": mpb.HostMessage(hello=mpb.HostHello()),
           "duplicate units": mpb.HostMessage(hello=mpb.HostHello(units=["u", "u"])),
           "empty unit": mpb.HostMessage(hello=mpb.HostHello(units=["u", ""]))}[first]
    return "malformed HostModule stream", "HostModule", [msg], "ta", {BAD}


def call(stubs, rpc: str, req, token) -> str:
    return call_details(stubs, rpc, req, token)[0]


def call_details(stubs, rpc: str, req, token) -> tuple[str, str]:
    md = [("authorization", f"Bearer {token}")] if token else []
    ms, js = stubs
    try:
        if rpc == "RegisterModule":
            ms.RegisterModule(iter(req), metadata=md, timeout=60)
        elif rpc == "HostModule":
            for _ in ms.HostModule(iter(req), metadata=md, timeout=60):
                break
        elif rpc == "WatchJob":
            for _ in js.WatchJob(req, metadata=md, timeout=60):
                break
        else:
            stub = js if hasattr(js, rpc) else ms
            getattr(stub, rpc)(req, metadata=md, timeout=60)
        return OK, ""
    except grpc.RpcError as e:
        return e.code().name, e.details() or ""


def make_roots(tmp: Path) -> None:
    """A data root and, beside it, a folder the server must never reveal (symlinks lead there)."""
    root, outside = tmp / "root", tmp / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.npy").write_text(SECRET)
    np.save(outside / "real.npy", np.ones((384, 4), np.float32))
    (root / "escape.npy").symlink_to(outside / "real.npy")
    (root / "outdir").symlink_to(outside, target_is_directory=True)
    (root / "escape").symlink_to(outside, target_is_directory=True)
    PATHS.update(root=str(root.resolve()), outside=str(outside.resolve()))


def fuzz(stubs, ids, examples: int, tally: collections.Counter, wrong: list[str]) -> None:
    cases = st.one_of(unknown_kind(), bad_readout(), nan_weights(), bad_chunks(), too_many_bytes(),
                      random_params(), evaluate_bad_units(ids), evaluate_texts(ids), evaluate_huge(ids),
                      other_clients_ids(ids), unknown_ids(), bad_tokens(ids), bad_jobs(ids), bad_host(),
                      hostile_path(), hostile_path())

    @settings(max_examples=examples, database=None, deadline=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @given(cases)
    def run(case):
        category, rpc, req, token, allowed = case
        got, details = call_details(stubs, rpc, req, token)
        tally[(category, got)] += 1
        if got not in allowed:
            wrong.append(f"{category} via {rpc}: got {got}, expected {sorted(allowed)}: {details[:120]}")
        if SECRET in details or PATHS["outside"] in details:
            wrong.append(f"{category}: the reply revealed an outside file: {details[:120]}")
        if category == "path outside the roots" and NOT_ALLOWED not in details and "without NUL" not in details:
            wrong.append(f"{category}: not the one message: {details[:160]}")

    run()


def deadline_phase(target: str, rounds: int) -> dict:
    """Evaluate on a slow client-hosted module with short client deadlines: work after the deadline."""
    from sasc.client import Client

    calls: list[float] = []

    def slow(texts):
        calls.append(time.monotonic())
        time.sleep(0.01 * len(texts))
        return [1.0] * len(texts)

    overruns, codes = [], collections.Counter()
    with Client(target, token="ta") as c, c.host_module(slow, units=["x"], batch_size=16) as hosted:
        for i in range(rounds):
            timeout = 0.2 + 0.4 * (i % 5)
            calls.clear()
            t0 = time.monotonic()
            try:
                c.modules.Evaluate(mpb.EvaluateRequest(module_id=hosted.id, texts=["t"] * 3000),
                                   metadata=c.metadata, timeout=timeout)
                codes[OK] += 1
            except grpc.RpcError as e:
                codes[e.code().name] += 1
            gave_up = t0 + timeout
            time.sleep(1.5)
            overruns.append(max(0.0, (calls[-1] if calls else gave_up) - gave_up))
    return {"rounds": rounds, "codes": dict(codes), "max_overrun_s": max(overruns),
            "median_overrun_s": statistics.median(overruns)}


def stream_phase(target: str, per_client: int, tries: int) -> dict:
    """alice opens ``tries`` HostModule streams and WatchJobs; bob keeps calling Evaluate meanwhile."""
    from sasc.client import Client

    codes, lat, errors = collections.Counter(), [], []
    stop = threading.Event()
    with Client(target, token="tb") as bob:
        m = bob.register_linear_readout(np.ones((2, 256), np.float32), feature_model="word_hash")

        def other_tenant():
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    bob.evaluate(m.id, ["pizza", "pasta"])
                    lat.append(time.perf_counter() - t0)
                except Exception as e:  # noqa: BLE001 - counted
                    errors.append(type(e).__name__)

        t = threading.Thread(target=other_tenant)
        t.start()
        with Client(target, token="ta") as alice, contextlib.ExitStack() as stack:
            for _ in range(tries):
                try:
                    stack.enter_context(alice.host_module(lambda texts: [1.0] * len(texts), units=["x"]))
                    codes[OK] += 1
                except Exception as e:  # noqa: BLE001
                    codes[getattr(e, "code", type(e).__name__)] += 1
            for _ in range(tries):
                try:
                    next(iter(alice.jobs.WatchJob(jpb.WatchJobRequest(job_id="job_none"), metadata=alice.metadata,
                                                  timeout=5)), None)
                    codes["watch " + OK] += 1
                except grpc.RpcError as e:
                    codes["watch " + e.code().name] += 1
            time.sleep(2.0)
        stop.set()
        t.join()
    return {"streams_tried": tries, "per_client_limit": per_client, "codes": dict(codes),
            "other_tenant_calls": len(lat), "other_tenant_errors": len(errors),
            "other_tenant_p50_ms": 1000 * statistics.median(lat) if lat else None,
            "other_tenant_max_ms": 1000 * max(lat) if lat else None}


def unary_phase(target: str, per_client: int, seconds: float = 6.0, flooders: int = 8) -> dict:
    """alice floods Evaluate (slow: a client-hosted module answering 10 ms a text) from ``flooders``
    threads; bob keeps calling Evaluate and ListModules and a third caller health Check meanwhile."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from sasc.client import Client

    def slow(texts):
        time.sleep(0.01 * len(texts))
        return [1.0] * len(texts)

    codes, bob_lat, health_lat, errors = collections.Counter(), [], [], []
    stop = threading.Event()
    lock = threading.Lock()
    with Client(target, token="ta") as alice, Client(target, token="tb") as bob, \
            alice.host_module(slow, units=["x"], batch_size=16) as hosted:
        m = bob.register_linear_readout(np.ones((2, 256), np.float32), feature_model="word_hash")
        req = mpb.EvaluateRequest(module_id=hosted.id, texts=["t"] * 100)  # ~1 s a call

        def flood():
            while not stop.is_set():
                try:
                    alice.modules.Evaluate(req, metadata=alice.metadata, timeout=30)
                    code = OK
                except grpc.RpcError as e:
                    code = e.code().name + (" (names --max-unary-per-client)"
                                            if "--max-unary-per-client" in (e.details() or "") else "")
                with lock:
                    codes[code] += 1

        def other_tenant():
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    bob.evaluate(m.id, ["pizza", "pasta"])
                    bob.list_modules()
                    bob_lat.append(time.perf_counter() - t0)
                except Exception as e:  # noqa: BLE001 - counted
                    errors.append(type(e).__name__)

        def health():
            with grpc.insecure_channel(target) as ch:
                stub = health_pb2_grpc.HealthStub(ch)
                while not stop.is_set():
                    t0 = time.perf_counter()
                    try:
                        stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
                        health_lat.append(time.perf_counter() - t0)
                    except grpc.RpcError as e:
                        errors.append("health " + e.code().name)
                    time.sleep(0.05)

        threads = [threading.Thread(target=flood) for _ in range(flooders)]
        threads += [threading.Thread(target=other_tenant), threading.Thread(target=health)]
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join()
    return {"seconds": seconds, "flooding_threads": flooders, "per_client_limit": per_client,
            "alice_codes": dict(codes), "bob_calls": len(bob_lat), "health_checks": len(health_lat),
            "errors_of_others": len(errors),
            "bob_p50_ms": round(1000 * statistics.median(bob_lat), 2) if bob_lat else None,
            "bob_max_ms": round(1000 * max(bob_lat), 1) if bob_lat else None,
            "health_p50_ms": round(1000 * statistics.median(health_lat), 2) if health_lat else None,
            "health_max_ms": round(1000 * max(health_lat), 1) if health_lat else None}


def cancel_phase(target: str, kind: str) -> dict:
    """A job over 28,817 n-grams (shards of 4,096) is cancelled 30% into its second shard: seconds from
    CancelJob to the job's end, against the shard's own duration (the stop granularity before)."""
    from sasc.client import Client

    words = ["pizza", "river", "market", "crime", "train", "film", "paper", "stock", "garden", "storm"]
    corpus = [" ".join(words[(i * 7 + j * 3) % 10] + str((i * 13 + j * 7) % 997) for j in range(8))
              for i in range(3000)]
    generic = ["The weather was mild today.", "A film about two friends.", "He read the paper slowly.",
               "They walked along the river.", "The train was late again."]
    batches: list[float] = []

    def slow(texts):  # a client-hosted module: 16-text batches of 2 ms a text
        batches.append(time.monotonic())
        time.sleep(0.002 * len(texts))
        return [1.0] * len(texts)

    with Client(target, token="ta", timeout_s=120) as c, contextlib.ExitStack() as stack:
        if kind == "hosted":
            module_id = stack.enter_context(c.host_module(slow, units=["x"], batch_size=16)).id
        else:  # the packaged MiniLM, run by the server between its own internal batches
            module_id = c.register_module("embedding_distance", {"keyphrases": ["food"]}).id
        job = c.submit_job(module_id, corpus=corpus, generic=generic, helper="fake",
                           settings={"n_candidates": 2, "n_synthetic": 3, "n_bootstrap": 50, "n_generic": 5})
        marks = []  # (monotonic, n-grams scored)
        for ev in c.job_events(job.id):
            if ev.stage == "responses":
                marks.append((time.monotonic(), ev.ngrams_scored, ev.total))
                if len(marks) >= 2 and marks[-1][1] > marks[0][1]:
                    break  # the first shard is done
        shard_s = marks[-1][0] - marks[0][0]
        time.sleep(0.3 * shard_s)
        c.cancel_job(job.id)
        t0 = time.monotonic()
        while (state := c.get_job(job.id).state) not in ("cancelled", "succeeded", "failed") and \
                time.monotonic() - t0 < 120:
            time.sleep(0.02)
        stopped_s = time.monotonic() - t0
        last_batch_after_s = (batches[-1] - t0) if batches else None
    return {"module": kind, "state": state, "n_ngrams": marks[-1][2], "first_shard_s": round(shard_s, 2),
            "cancel_to_cancelled_s": round(stopped_s, 3),
            "last_module_batch_after_cancel_s": None if last_batch_after_s is None else round(last_batch_after_s, 3)}


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_phase(tmp: Path) -> dict:
    """Peak server RSS: the issue's 15,000 texts x 10,000 units (refused) and the largest allowed Evaluate."""
    from sasc.client import Client

    proc, target = start_server_process(tmp / "mem" / "s.db", "--log-level", "ERROR", log=tmp / "mem.log")
    out = {}
    try:
        with Client(target, timeout_s=600) as c:
            w = np.random.default_rng(0).normal(size=(10_000, 256)).astype(np.float32)
            m = c.register_linear_readout(w, feature_model="word_hash")
            texts = [f"short text {i}" for i in range(15_000)]
            out["rss_after_register_mb"] = peak_rss_mb(proc.pid)
            t0 = time.perf_counter()
            try:
                c.evaluate(m.id, texts)
                out["issue_request"] = OK
            except Exception as e:  # noqa: BLE001
                out["issue_request"] = f"{getattr(e, 'code', '')}: {str(e)[:160]}"
            out["issue_request_s"] = time.perf_counter() - t0
            out["rss_after_issue_request_mb"] = peak_rss_mb(proc.pid)
            n = 512 * 2**20 // (10_000 * 4)  # the most texts --max-eval-mb 512 allows on 10,000 units
            t0 = time.perf_counter()
            vals = c.evaluate(m.id, texts[:n], units=list(range(10)))
            out["largest_allowed"] = f"{n} texts x 10,000 units computed, 10 units returned {vals.shape}"
            out["largest_allowed_s"] = time.perf_counter() - t0
            out["rss_after_largest_allowed_mb"] = peak_rss_mb(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=1200)
    ap.add_argument("--deadline-rounds", type=int, default=10)
    ap.add_argument("--skip-memory", action="store_true", help="skip the peak-memory phase (~1 min)")
    args = ap.parse_args()
    tally: collections.Counter = collections.Counter()
    wrong: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        make_roots(Path(tmp))
        proc, target = start_server_process(
            Path(tmp) / "s.db", "--tokens", "alice=ta,bob=tb", "--max-texts-per-call", "3000",
            "--max-array-mb-per-client", "4", "--max-message-mb", "4", "--max-jobs-per-client", "10000",
            "--data-root", PATHS["root"], "--max-streams-per-client", "4", "--max-streams", "8",
            "--rpc-threads", "12", "--max-unary-per-client", "3", log=Path(tmp) / "server.log")
        try:
            channel = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20)])
            stubs = (modules_pb2_grpc.ModuleServiceStub(channel), jobs_pb2_grpc.JobServiceStub(channel))
            ids = setup(stubs)
            fuzz(stubs, ids, args.examples, tally, wrong)
            deadlines = deadline_phase(target, args.deadline_rounds)
            streams = stream_phase(target, 4, 10)
            unary = unary_phase(target, 3)
            cancels = [cancel_phase(target, kind) for kind in ("hosted", "embedding_distance")]
            alive = proc.poll() is None and healthy(channel) and serving(stubs, ids)
            log_text = (Path(tmp) / "server.log").read_text()
            fuzz_peak = peak_rss_mb(proc.pid)
        finally:
            proc.kill()
            proc.wait()
        memory = {} if args.skip_memory else memory_phase(Path(tmp))
    print(f"{sum(tally.values())} generated requests:")
    for (category, code), n in sorted(tally.items()):
        print(f"  {category:34s} {code:20s} {n:5d}")
    print(f"wrong statuses or replies: {len(wrong)}")
    for w in wrong[:20]:
        print("  " + w)
    lines = log_text.splitlines()
    internal = [i for i, ln in enumerate(lines) if "internal error" in ln]
    print(f"internal errors logged by the server: {len(internal)}")
    if internal:
        print("\n".join("  | " + ln for ln in lines[internal[0]:internal[0] + 25]))
    print(f"deadlines: {deadlines}")
    print(f"streams: {streams}")
    print(f"unary: {unary}")
    for c in cancels:
        print(f"cancel: {c}")
    print(f"fuzz server peak RSS: {fuzz_peak:.0f} MB")
    print(f"memory: {memory}")
    print(f"server alive, healthy and serving after: {alive}")
    ok_deadlines = deadlines["max_overrun_s"] < 1.0
    ok_streams = streams["other_tenant_errors"] == 0 and streams["codes"].get(OK, 0) == 4
    ok_unary = unary["errors_of_others"] == 0 and unary["alice_codes"].get(QUOTA + " (names --max-unary-per-client)")
    ok_cancel = all(c["state"] == "cancelled" and c["cancel_to_cancelled_s"] < 1.5 for c in cancels)
    return 0 if alive and not wrong and not internal and ok_deadlines and ok_streams and ok_unary and ok_cancel and \
        sum(tally.values()) >= min(1000, args.examples) else 1


def setup(stubs) -> dict[str, str]:
    ms, js = stubs
    md = [("authorization", "Bearer ta")]
    w = np.ones((2, 256), "<f4")
    m = ms.RegisterModule(iter([mpb.RegisterModuleRequest(
        kind="linear_readout", params=struct({"feature_model": "word_hash", "units": ["a", "b"]}),
        arrays=[chunk("weights", [2, 256], w.tobytes())])]), metadata=md)
    j = js.SubmitJob(jpb.SubmitJobRequest(module_id=m.id, helper="fake", corpus=jpb.CorpusSource(
        texts=jpb.TextList(texts=["I ate pizza.", "Stocks fell."]))), metadata=md)
    return {"module": m.id, "job": j.id}


def healthy(channel) -> bool:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    resp = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    return resp.status == health_pb2.HealthCheckResponse.SERVING


def serving(stubs, ids) -> bool:
    resp = stubs[0].Evaluate(mpb.EvaluateRequest(module_id=ids["module"], texts=["pizza"]),
                             metadata=[("authorization", "Bearer ta")], timeout=30)
    return resp.n_texts == 1 and len(resp.values) == 2


if __name__ == "__main__":
    sys.exit(main())
