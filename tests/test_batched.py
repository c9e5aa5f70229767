"""Independent helper calls go out together (llama.cpp slots) and the results do not depend on it."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from typing import Any

import numpy as np
import pytest

import sasc
from sasc.config import ExplainConfig
from sasc.errors import HelperLLMError
from sasc.llm import (
    Completion,
    Request,
    Sampling,
    ScriptedLLM,
    build_helper,
    complete_many,
    helper_slots,
    map_slots,
    wrap_helper,
)
from sasc.results import ExplainResult
from sasc.summarize import summarize

from fakes import FOOD_CORPUS, KeywordModule, topical_reply

GENERIC = ["The committee met on Tuesday to discuss the budget.", "Rain is expected later this week.",
           "He drove to the office early.", "The film was long but moving.",
           "Pizza night at the office."] * 6


class SeededLLM:
    """A fake whose reply depends on the prompt *and* the seed, like a sampling model, and whose
    calls take a time drawn from the same hash, so concurrent calls finish out of order.
    Counts the most calls in flight at once."""

    name = "seeded-fake"

    def __init__(self, slots: int = 1, delay_s: float = 0.004):
        self.slots = slots
        self.delay_s = delay_s
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()

    def complete(self, prompt: str, *, sampling: Sampling, json_schema: dict[str, Any] | None = None) -> Completion:
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            digest = hashlib.sha256(f"{prompt}|{sampling.seed}".encode()).digest()
            time.sleep(self.delay_s * (digest[0] % 5))
            text = topical_reply(prompt)
            if prompt.startswith("Here is a list of phrases"):  # a seed-dependent theme, now and then a messy one
                first = prompt.split("\n")[1 + digest[1] % 3].removeprefix("- ")
                text = ["The common theme is {}.", "Here are the themes: {}", "{} and餐饮", "{}!"][digest[2] % 4]
                text = text.format(first)
            return Completion(text=text, prompt_tokens=len(prompt.split()), completion_tokens=len(text.split()))
        finally:
            with self._lock:
                self.in_flight -= 1


class GatedLLM(SeededLLM):
    """SeededLLM whose first ``gate`` calls (default: ``slots``) wait for each other at a barrier:
    they only return once that many are in flight together, so the peak is exact however slow the
    machine is (a caller that ran fewer at once breaks the barrier after its timeout)."""

    def __init__(self, slots: int, gate: int | None = None):
        super().__init__(slots)
        self.gate = gate or slots
        self._gate = threading.Barrier(self.gate, timeout=60)
        self._gated = 0

    def complete(self, prompt: str, *, sampling: Sampling, json_schema: dict[str, Any] | None = None) -> Completion:
        with self._lock:
            self._gated += 1
            wait = self._gated <= self.gate
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            if wait:
                self._gate.wait()
        finally:
            with self._lock:
                self.in_flight -= 1
        return super().complete(prompt, sampling=sampling, json_schema=json_schema)


def test_complete_many_returns_replies_in_request_order_whatever_the_slots():
    requests = [Request(f"Here is a list of phrases:\n- w{i}\n- x{i}\n- y{i}\nQ", Sampling(seed=i)) for i in range(12)]
    one = SeededLLM(slots=1)
    four = GatedLLM(slots=4)
    assert [c.text for c in complete_many(one, requests)] == [c.text for c in complete_many(four, requests)]
    assert one.peak == 1 and four.peak == 4  # the calls really ran together, never more than the slots


def test_helper_slots_reads_through_the_wrappers():
    assert helper_slots(build_helper("fake", slots=3)) == 3
    assert helper_slots(build_helper("fake")) == 1
    assert helper_slots(wrap_helper(SeededLLM(slots=6), None)) == 6
    assert helper_slots(object()) == 1


def test_complete_many_raises_the_first_error_after_every_call_finished():
    class Failing(SeededLLM):
        def complete(self, prompt, *, sampling, json_schema=None):
            if sampling.seed in (2, 5):
                raise HelperLLMError(f"no reply {sampling.seed}")
            return super().complete(prompt, sampling=sampling, json_schema=json_schema)

    helper = Failing(slots=3)
    with pytest.raises(HelperLLMError, match="no reply 2"):
        complete_many(helper, [Request(f"p{i}", Sampling(seed=i)) for i in range(8)])
    assert helper.in_flight == 0


def test_map_slots_keeps_item_order():
    assert map_slots(SeededLLM(slots=4), lambda x: x * x, range(10)) == [x * x for x in range(10)]


def test_summaries_are_the_same_with_one_slot_or_many():
    ranked = [f"phrase {i}" for i in range(50)]
    counts_one, counts_many = Counter(), Counter()
    one = summarize(SeededLLM(slots=1), ranked, n_candidates=10, counts=counts_one)
    many_helper = GatedLLM(slots=4, gate=2)
    many = summarize(many_helper, ranked, n_candidates=10, counts=counts_many)
    assert one == many and counts_one == counts_many and many_helper.peak > 1
    assert len(one) >= 2


def _comparable(res: ExplainResult) -> dict:
    d = res.to_dict()
    d.pop("timings")
    d["usage"].pop("wall_s")
    return json.loads(json.dumps(d, default=str))


def test_cold_cache_runs_give_the_same_candidates_and_sigma_twice_and_for_any_slots(tmp_path):
    # the fake's replies depend on prompt and seed only: a second cold-cache run, and a run
    # with the calls decoded four at a time, must give the very same result
    config = ExplainConfig(n_candidates=6, n_synthetic=5, n_generic=20, n_bootstrap=200, direct_screen=3)
    runs = {}
    for name, slots in (("first", 4), ("second", 4), ("one_slot", 1)):
        helper = wrap_helper(SeededLLM(slots=slots), tmp_path / name / "llm")  # a cold reply cache each time
        runs[name] = sasc.explain(KeywordModule(), corpus=FOOD_CORPUS, generic=GENERIC, helper=helper,
                                  config=config, cache_dir=tmp_path / name)
    first = _comparable(runs["first"])
    assert first == _comparable(runs["second"]) == _comparable(runs["one_slot"])
    unit = runs["first"].units[0]
    assert len(unit.candidates) >= 2 and any(c.related_texts for c in unit.candidates)
    assert sum(unit.cleaning.values()) > 0  # the fake's messy replies were counted


def test_units_are_explained_concurrently_with_the_same_result(tmp_path):
    class TwoUnits:
        units = ["food", "money"]
        fingerprint = "two-units-v1"

        def responses(self, texts):
            f, m = KeywordModule(), KeywordModule({"money", "stock", "investors", "rates"})
            return np.stack([f(texts), m(texts)], axis=1)

    config = ExplainConfig(n_candidates=4, n_synthetic=5, n_generic=20, n_bootstrap=200)
    one = sasc.explain(TwoUnits(), corpus=FOOD_CORPUS, generic=GENERIC, helper=SeededLLM(slots=1), config=config,
                       cache_dir=tmp_path / "a", concurrency=1)
    helper = GatedLLM(slots=4, gate=2)
    many = sasc.explain(TwoUnits(), corpus=FOOD_CORPUS, generic=GENERIC, helper=helper, config=config,
                        cache_dir=tmp_path / "b", concurrency=0)  # 0: as many units at once as slots
    assert many.units == one.units and [u.unit for u in many.units] == ["food", "money"]
    assert helper.peak > 1


def test_a_scripted_helper_with_several_slots_gives_what_one_slot_gives(tmp_path):
    config = ExplainConfig(n_candidates=5, n_synthetic=5, n_generic=20, n_bootstrap=200, direct_screen=0)
    results = [sasc.explain(KeywordModule(), corpus=FOOD_CORPUS, generic=GENERIC,
                            helper=ScriptedLLM(topical_reply, slots=slots), config=config,
                            cache_dir=tmp_path / str(slots)).units
               for slots in (1, 4)]
    assert results[0] == results[1]


def test_slots_come_from_the_environment_when_not_given():
    from sasc.errors import ConfigError
    from sasc.llm import build_backend

    assert build_backend("fake", environ={"SASC_HELPER_SLOTS": "3"}).slots == 3
    assert build_backend("local", environ={"SASC_HELPER_SLOTS": "2"}).slots == 2
    assert build_backend("local", environ={"SASC_HELPER_SLOTS": "2"}, slots=5).slots == 5
    with pytest.raises(ConfigError, match="SASC_HELPER_SLOTS"):
        build_backend("local", environ={"SASC_HELPER_SLOTS": "many"})


def test_local_threads_come_from_the_environment():
    from sasc.errors import ConfigError
    from sasc.llm import build_backend

    assert build_backend("local", environ={"SASC_HELPER_THREADS": "1"}).n_threads == 1
    with pytest.raises(ConfigError, match="SASC_HELPER_THREADS"):
        build_backend("local", environ={"SASC_HELPER_THREADS": "two"})


def test_batch_invariant_turns_off_the_repacked_weights(tmp_path):
    # llama.cpp's repacked CPU weights add up one sequence and a batch in a different order, so
    # a reply decoded beside others differs from the same reply decoded alone; without them it
    # does not (measured in docs/helper_throughput.md)
    xllamacpp = pytest.importorskip("xllamacpp")
    from sasc.llm import LocalLLM, build_backend

    path = tmp_path / "m.gguf"
    assert LocalLLM(path, batch_invariant=True)._params(xllamacpp, path).no_extra_bufts is True
    assert LocalLLM(path)._params(xllamacpp, path).no_extra_bufts is False
    assert build_backend("local", environ={"SASC_HELPER_BATCH_INVARIANT": "1"}).batch_invariant
    assert not build_backend("local", environ={"SASC_HELPER_BATCH_INVARIANT": "0"}).batch_invariant


def test_the_table_says_what_cleaning_repaired_or_dropped(tmp_path):
    from sasc.cli import format_result

    config = ExplainConfig(n_candidates=6, n_synthetic=5, n_generic=20, n_bootstrap=200)
    res = sasc.explain(KeywordModule(), corpus=FOOD_CORPUS, generic=GENERIC, helper=SeededLLM(slots=2),
                       config=config, cache_dir=tmp_path)
    cleaning = res.units[0].cleaning
    assert cleaning and "  cleaned: " + ", ".join(f"{k} {v}" for k, v in cleaning.items()) in format_result(res)
    assert ExplainResult.from_json(res.to_json()).units[0].cleaning == cleaning
