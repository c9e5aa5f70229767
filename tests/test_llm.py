"""Fast tests of sasc.llm: scripted backend, wrappers, OpenAI-compatible client, assets."""

from __future__ import annotations

import json
import threading
import time

import pytest

from sasc.errors import (
    ConfigError,
    HelperLLMError,
    HelperUnavailableError,
    ModelAssetError,
)
from sasc.llm import (
    CachedLLM,
    HelperLLM,
    LocalLLM,
    OpenAICompatLLM,
    RetryingLLM,
    Sampling,
    ScriptedLLM,
    UsageReport,
    build_helper,
    cache_key,
    is_local_spec,
)

S = Sampling()
SCHEMA = {"type": "object", "properties": {"theme": {"type": "string"}}, "required": ["theme"]}


# --------------------------------------------------------------------------- ScriptedLLM


def test_scripted_replies_in_order_and_records_calls():
    llm = ScriptedLLM(["one two", "three"])
    assert isinstance(llm, HelperLLM)
    first = llm.complete("a b c", sampling=S)
    second = llm.complete("d", sampling=Sampling(seed=3), json_schema=SCHEMA)
    assert (first.text, first.prompt_tokens, first.completion_tokens) == ("one two", 3, 2)
    assert second.text == "three"
    assert llm.prompts == ["a b c", "d"]
    assert llm.calls[1].sampling.seed == 3 and llm.calls[1].json_schema == SCHEMA
    with pytest.raises(HelperLLMError, match="ran out"):
        llm.complete("e", sampling=S)


def test_scripted_callable_and_scheduled_failures():
    llm = ScriptedLLM(lambda p: p.upper(), fail_times=2)
    for _ in range(2):
        with pytest.raises(HelperUnavailableError):
            llm.complete("x", sampling=S)
    assert llm.complete("hi there", sampling=S).text == "HI THERE"
    llm.fail_next(1)
    with pytest.raises(HelperUnavailableError):
        llm.complete("x", sampling=S)
    assert len(llm.calls) == 4


# --------------------------------------------------------------------------- RetryingLLM


def test_retry_recovers_with_exponential_backoff():
    sleeps: list[float] = []
    inner = ScriptedLLM(["ok"], fail_times=3)
    llm = RetryingLLM(inner, max_attempts=4, base_delay_s=0.5, max_delay_s=8, sleep=sleeps.append)
    assert llm.complete("p", sampling=S).text == "ok"
    assert len(inner.calls) == 4 and len(sleeps) == 3
    for k, delay in enumerate(sleeps):
        assert 0.5 * 2**k * 0.75 <= delay < 0.5 * 2**k * 1.25
    assert llm.usage.snapshot().retries == 3


def test_retry_gives_up_naming_attempts_and_cause():
    sleeps: list[float] = []
    llm = RetryingLLM(ScriptedLLM(["never"], fail_times=10), max_attempts=3, sleep=sleeps.append)
    with pytest.raises(HelperUnavailableError, match=r"3 attempt\(s\).*scripted outage"):
        llm.complete("p", sampling=S)
    assert len(sleeps) == 2


def test_retry_delays_are_capped_and_seeded():
    a = RetryingLLM(ScriptedLLM(), base_delay_s=1, max_delay_s=3, seed=7)
    b = RetryingLLM(ScriptedLLM(), base_delay_s=1, max_delay_s=3, seed=7)
    delays = [a.backoff_s(k) for k in range(1, 8)]
    assert delays == [b.backoff_s(k) for k in range(1, 8)]
    assert max(delays) <= 3


def test_retry_does_not_retry_other_errors():
    inner = ScriptedLLM([])  # runs out at once: HelperLLMError, not retryable
    with pytest.raises(HelperLLMError) as info:
        RetryingLLM(inner, sleep=lambda s: None).complete("p", sampling=S)
    assert not isinstance(info.value, HelperUnavailableError)
    assert len(inner.calls) == 1


def test_retry_deadline_abandons_slow_calls():
    llm = RetryingLLM(ScriptedLLM(["late"], delay_s=5), timeout_s=0.3, sleep=lambda s: None)
    start = time.monotonic()
    with pytest.raises(HelperUnavailableError, match="timed out"):
        llm.complete("p", sampling=S)
    assert time.monotonic() - start < 2


# --------------------------------------------------------------------------- CachedLLM


def test_cache_on_disk_hits_and_key_fields(tmp_path):
    inner = ScriptedLLM(lambda p: f"reply to {p}")
    llm = CachedLLM(inner, tmp_path / "cache")
    first = llm.complete("q", sampling=S)
    again = llm.complete("q", sampling=S)
    assert (first.cached, again.cached, again.text) == (False, True, "reply to q")
    assert again.prompt_tokens == first.prompt_tokens
    llm.complete("q", sampling=Sampling(seed=1))
    llm.complete("q", sampling=S, json_schema=SCHEMA)
    assert len(inner.calls) == 3
    files = list((tmp_path / "cache").rglob("*.json"))
    assert len(files) == 3
    key = cache_key("fake", "q", S, None)
    record = json.loads((tmp_path / "cache" / key[:2] / f"{key}.json").read_text())
    assert record["text"] == "reply to q" and record["prompt"] == "q"
    # a fresh wrapper over the same directory reuses the replies
    assert CachedLLM(ScriptedLLM([]), tmp_path / "cache").complete("q", sampling=S).cached


def test_cache_key_depends_on_model_name():
    assert cache_key("a", "q", S, None) != cache_key("b", "q", S, None)
    assert cache_key("a", "q", S, None) == cache_key("a", "q", Sampling(), None)


def test_cache_keys_of_replies_cached_before_reuse_prefix_existed_are_unchanged():
    import dataclasses
    import hashlib

    # the key as it was computed before Sampling had reuse_prefix: that field left out
    from sasc.llm import wrappers

    old = {k: v for k, v in dataclasses.asdict(S).items() if k not in ("reuse_prefix", "top_logprobs")}
    blob = json.dumps({"format": wrappers._CACHE_FORMAT, "model": "a", "prompt": "q", "sampling": old,
                       "json_schema": None}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert cache_key("a", "q", S, None) == hashlib.sha256(blob.encode()).hexdigest()
    hinted = dataclasses.replace(S, reuse_prefix=True)
    assert cache_key("a", "q", hinted, None) != cache_key("a", "q", S, None)


def test_cache_corrupt_file_is_a_miss(tmp_path):
    llm = CachedLLM(ScriptedLLM(["first", "second"]), tmp_path)
    llm.complete("q", sampling=S)
    (path,) = tmp_path.rglob("*.json")
    path.write_text("{not json")
    assert llm.complete("q", sampling=S).text == "second"
    assert llm.complete("q", sampling=S).cached


def test_cache_concurrent_threads_ask_model_once(tmp_path):
    inner = ScriptedLLM(lambda p: "same", delay_s=0.05)
    llm = CachedLLM(inner, tmp_path)
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(llm.complete(f"p{i % 3}", sampling=S).text))
        for i in range(24)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["same"] * 24
    assert len(inner.calls) == 3
    report = llm.usage.snapshot()
    assert (report.calls, report.cached_calls) == (24, 21)
    assert not list(tmp_path.rglob("*.tmp"))


def test_usage_snapshot_is_frozen():
    llm = build_helper("fake")
    llm.complete("a b", sampling=S)
    llm.complete("a b", sampling=S)
    report = llm.usage.snapshot()
    assert isinstance(report, UsageReport)
    assert (report.calls, report.cached_calls, report.prompt_tokens) == (2, 1, 2)
    assert report.completion_tokens == 3 and report.wall_s >= 0
    with pytest.raises(AttributeError):
        report.calls = 5  # type: ignore[misc]


# --------------------------------------------------------------------------- build_helper


def test_build_helper_specs(tmp_path):
    stack = build_helper("fake", tmp_path)
    assert isinstance(stack.inner, RetryingLLM) and isinstance(stack.inner.inner, ScriptedLLM)
    local = build_helper("local", model_cache_dir=tmp_path).inner.inner
    assert isinstance(local, LocalLLM) and not local.loaded
    assert local.name == "llama.cpp:qwen2.5-coder-1.5b-instruct-q4_k_m"
    small = build_helper("local:qwen2.5-coder-0.5b", model_cache_dir=tmp_path)
    assert small.name == "llama.cpp:qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert build_helper(f"local:{tmp_path}/My-Model.Q8_0.gguf").name == "llama.cpp:my-model.q8_0"
    env = {"SASC_LLM_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "k"}
    remote = build_helper("openai:gpt-x", environ=env).inner.inner
    assert isinstance(remote, OpenAICompatLLM) and remote.base_url == "http://127.0.0.1:9/v1"
    assert build_helper("openai:", environ={"SASC_LLM_MODEL": "m2"}).name == "openai:m2"


@pytest.mark.parametrize(("spec", "local"), [("local", True), (" Local:qwen2.5-coder-0.5b", True),
                                             ("local:/m/x.gguf", True), ("localhost:8000", False),
                                             ("openai:gpt-x", False), ("fake", False)])
def test_is_local_spec(spec, local):
    assert is_local_spec(spec) is local


@pytest.mark.parametrize("spec", ["bogus", "local:nope", "fake:x", ""])
def test_build_helper_unknown_spec(spec):
    with pytest.raises(ConfigError, match="accepted: 'local'"):
        build_helper(spec)


def test_openai_spec_needs_a_model():
    with pytest.raises(ConfigError, match="SASC_LLM_MODEL"):
        build_helper("openai", environ={})


def test_local_missing_file_is_asset_error(tmp_path):
    llm = LocalLLM(tmp_path / "absent.gguf")
    with pytest.raises(ModelAssetError, match="not found"):
        llm.complete("hi", sampling=S)


def test_local_engine_keeps_no_host_prompt_cache(tmp_path):
    # llama.cpp's server saves each evicted prompt's KV state in RAM (8 GiB by default); sasc's
    # calls are independent prompts, so the cache is off (it grew D3 workers to ~10 GB)
    xllamacpp = pytest.importorskip("xllamacpp")
    params = LocalLLM(tmp_path / "m.gguf", n_threads=2, slots=1)._params(xllamacpp, tmp_path / "m.gguf")
    assert params.n_ctx == 4096 and params.cpuparams.n_threads == 2 and params.n_parallel == 1
    if hasattr(xllamacpp.CommonParams(), "cache_ram_mib"):
        assert xllamacpp.CommonParams().cache_ram_mib != 0  # the engine's default is on
        assert params.cache_ram_mib == 0 and params.cache_idle_slots is False


def test_local_engine_gives_each_slot_its_own_context(tmp_path):
    # n slots: n sequences decoded at once in one model instance, each with n_ctx tokens of its
    # own KV stream (not unified), so a reply never depends on the other sequences' cells
    xllamacpp = pytest.importorskip("xllamacpp")
    params = LocalLLM(tmp_path / "m.gguf", n_threads=2, slots=4)._params(xllamacpp, tmp_path / "m.gguf")
    assert (params.n_parallel, params.n_ctx, params.kv_unified) == (4, 4 * 4096, False)
    with pytest.raises(ConfigError):
        LocalLLM(tmp_path / "m.gguf", slots=0)
