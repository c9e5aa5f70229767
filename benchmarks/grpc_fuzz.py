"""Hostile input: property-based malformed requests against a real `sasc serve`.

Usage::

    python benchmarks/grpc_fuzz.py               # 1,200 generated requests
    python benchmarks/grpc_fuzz.py --examples 300

Hypothesis generates requests over the raw stubs (unknown kinds, random params, wrong matrix
shapes, NaN weights, bad chunks, out-of-range units, empty and huge strings, unknown and
other clients' ids, bad tokens, bad job settings, malformed HostModule streams). Each case
knows which statuses are right for it; any other status (INTERNAL above all) is a failure.
At the end the server must still be healthy and serving.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
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
        req = mpb.EvaluateRequest(module_id=ids["module"], texts=["x"] * draw(st.integers(1001, 3000)))
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
        return OK
    except grpc.RpcError as e:
        return e.code().name


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=1200)
    args = ap.parse_args()
    tally: collections.Counter = collections.Counter()
    wrong: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, target = start_server_process(
            Path(tmp) / "s.db", "--tokens", "alice=ta,bob=tb", "--max-texts-per-call", "1000",
            "--max-array-mb-per-client", "4", "--max-message-mb", "4", "--max-jobs-per-client", "10000",
            log=Path(tmp) / "server.log")
        try:
            channel = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20)])
            stubs = (modules_pb2_grpc.ModuleServiceStub(channel), jobs_pb2_grpc.JobServiceStub(channel))
            ids = setup(stubs)
            cases = st.one_of(unknown_kind(), bad_readout(), nan_weights(), bad_chunks(), too_many_bytes(),
                              random_params(), evaluate_bad_units(ids), evaluate_texts(ids), evaluate_huge(ids),
                              other_clients_ids(ids), unknown_ids(), bad_tokens(ids), bad_jobs(ids), bad_host())

            @settings(max_examples=args.examples, database=None, deadline=None, phases=(Phase.generate,),
                      suppress_health_check=list(HealthCheck))
            @given(cases)
            def run(case):
                category, rpc, req, token, allowed = case
                got = call(stubs, rpc, req, token)
                tally[(category, got)] += 1
                if got not in allowed:
                    wrong.append(f"{category} via {rpc}: got {got}, expected {sorted(allowed)}")

            run()
            alive = proc.poll() is None and healthy(channel) and serving(stubs, ids)
            log_text = (Path(tmp) / "server.log").read_text()
        finally:
            proc.kill()
            proc.wait()
    print(f"{sum(tally.values())} generated requests:")
    for (category, code), n in sorted(tally.items()):
        print(f"  {category:34s} {code:20s} {n:5d}")
    print(f"wrong statuses: {len(wrong)}")
    for w in wrong[:20]:
        print("  " + w)
    lines = log_text.splitlines()
    internal = [i for i, ln in enumerate(lines) if "internal error" in ln]
    print(f"internal errors logged by the server: {len(internal)}")
    if internal:
        print("\n".join("  | " + ln for ln in lines[internal[0]:internal[0] + 25]))
    print(f"server alive, healthy and serving after: {alive}")
    return 0 if alive and not wrong and not internal and sum(tally.values()) >= 1000 else 1


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
