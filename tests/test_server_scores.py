"""Predictive scores over gRPC: a real server on port 0 and a fake helper with logprobs; scorers in
job settings (scores per candidate in the result) and the Score RPC; bad scorer lists refused at request time."""

from __future__ import annotations

import pytest
from fakes import (
    FOOD_CORPUS, SMALL_GENERIC, KeywordModule, WordTokenBank, all_at_once_logprobs, all_at_once_reply, judging_logprobs,
    judging_reply, topical_reply,
)

from sasc.errors import ConfigError
from sasc.llm import ScriptedLLM
from sasc.llm.factory import HELPER_BACKENDS
from sasc.modules import register_kind

CORPUS = list(dict.fromkeys(FOOD_CORPUS)) + SMALL_GENERIC + [
    "Fresh bread and cheese for the evening meal.", "The council voted on the new road plan."]
GOOD = "food, cooking, pizza, pasta, bread, soup, cheese, meal, dinner"
WRONG = "stock markets, investors, police, shooting"
SETTINGS = {"n_candidates": 3, "n_synthetic": 4, "n_bootstrap": 50, "n_generic": 5, "direct_screen": 0}
SERVER_SETTINGS = {"allowed_helpers": "fake,judging,slowjudging,tokjudging"}
SET = {"n_top": 4, "n_random": 6}


def _reply(prompt: str) -> str:
    return judging_reply(prompt) if "A unit of a language-processing model" in prompt else topical_reply(prompt)


@pytest.fixture(scope="module")
def module(client):
    register_kind("test_keyword", lambda: KeywordModule(), replace=True)
    HELPER_BACKENDS.register("judging", lambda arg, **_: ScriptedLLM(_reply, logprobs=judging_logprobs, name="judging"),
                            replace=True)
    return client.register_module("test_keyword")


def test_job_with_scorers_returns_scores_per_candidate(client, module):
    result = client.explain(module.id, corpus=CORPUS, generic=SMALL_GENERIC, helper="judging", settings=SETTINGS,
                            scoring={"scorers": ["simulation", "fuzzing"], "rank_by": "simulation", **SET},
                            progress=False)
    u = result.units[0]
    scored = [c for c in u.candidates if c.score.n_related]
    assert scored and all(set(c.scores) == {"simulation", "fuzzing"} for c in scored)
    for c in scored:
        for d in c.scores.values():
            assert set(d) >= {"value", "ci", "n", "baseline"} and d["n"] > 0
    values = [c.scores["simulation"]["value"] for c in scored]
    assert values == sorted(values, key=lambda v: -v if v is not None else float("inf"))  # ranked by simulation
    assert len(u.scoring_set["texts"]) == 10 and len(u.scoring_set["marks"]) == 10
    assert result.config["predictive"]["scorers"] == ["simulation", "fuzzing"]
    # the same job's result read back through GetJob equals the watched one (the proto round trip is exact)
    job = client.list_jobs()[0]
    assert client.result(job.id) == result


def test_job_without_scorers_has_no_scores(client, module):
    result = client.explain(module.id, corpus=CORPUS, generic=SMALL_GENERIC, helper="judging", settings=SETTINGS,
                            progress=False)
    assert all(not c.scores for c in result.units[0].candidates) and not result.units[0].scoring_set


def test_score_rpc_round_trip(client, module):
    report = client.score(module.id, [GOOD, WRONG], scorers=["simulation", "detection", "fuzzing"], corpus=CORPUS,
                          helper="judging", scoring={**SET, "seed": 3})
    good, wrong = report["explanations"]
    assert good["explanation"] == GOOD and report["unit"] == module.units[0]
    for name in ("simulation", "detection", "fuzzing"):
        g, w = good["scores"][name], wrong["scores"][name]
        assert g["value"] > w["value"], name
        assert g["ci"][0] <= g["value"] <= g["ci"][1] and g["n"] > 0 and g["baseline"] is not None
        assert g["method"] == "logprobs"
    assert "auroc" in good["scores"]["detection"]["details"]
    assert report["scoring_set"]["seed"] == 3 and len(report["scoring_set"]["texts"]) == 10
    assert report["usage"]["calls"] > 0


def test_score_rpc_equals_the_library(client, module, tmp_path):
    from sasc.scorers import ScoreConfig, SetConfig
    from sasc.scorers.run import score_explanations

    report = client.score(module.id, [GOOD], scorers=["simulation"], corpus=CORPUS, helper="judging",
                          scoring={**SET, "baseline": False})
    local = score_explanations(KeywordModule(), [GOOD], corpus=CORPUS, cache_dir=tmp_path,
                               helper=ScriptedLLM(_reply, logprobs=judging_logprobs),
                               config=ScoreConfig(set=SetConfig(n_top=4, n_random=6), baseline=False))
    assert report["explanations"][0]["scores"] == local["explanations"][0]["scores"]
    assert report["scoring_set"] == local["scoring_set"]


def test_bad_scorer_lists_are_refused_at_request_time(client, module):
    kw = dict(corpus=CORPUS, generic=SMALL_GENERIC, helper="judging", settings=SETTINGS)
    n_jobs = len(client.list_jobs())
    with pytest.raises(ConfigError, match="unknown scorer 'simulaton'; known scorers: ablation, detection, fuzzing, maia, simulation, steering"):
        client.submit_job(module.id, scoring={"scorers": ["simulaton"]}, **kw)
    with pytest.raises(ConfigError, match="rank_by 'detection' is not among the scorers"):
        client.submit_job(module.id, scoring={"scorers": ["simulation"], "rank_by": "detection"}, **kw)
    with pytest.raises(ConfigError, match="n_top must be in 0..500"):
        client.submit_job(module.id, scoring={"scorers": ["simulation"], "n_top": 10_000}, **kw)
    with pytest.raises(ConfigError, match="unknown scoring set 'best'"):
        client.submit_job(module.id, scoring={"scorers": ["simulation"], "set_kind": "best"}, **kw)
    assert len(client.list_jobs()) == n_jobs  # nothing was queued
    with pytest.raises(ConfigError, match="known scorers: ablation, detection, fuzzing, maia, simulation, steering"):
        client.score(module.id, [GOOD], scorers=["fuzz"], corpus=CORPUS, helper="judging")
    with pytest.raises(ConfigError, match="at least one scorer"):
        client.score(module.id, [GOOD], scorers=["sigma"], corpus=CORPUS, helper="judging")
    with pytest.raises(ConfigError, match="non-empty"):
        client.score(module.id, ["  "], corpus=CORPUS, helper="judging")
    with pytest.raises(ConfigError, match="at most 500 characters"):
        client.score(module.id, ["x" * 501], corpus=CORPUS, helper="judging")
    with pytest.raises(ConfigError, match="at least one explanation"):
        client.score(module.id, [], corpus=CORPUS, helper="judging")
    from sasc.errors import QuotaExceededError

    with pytest.raises(QuotaExceededError, match="at most 50 explanations"):
        client.score(module.id, [f"topic {i}" for i in range(51)], corpus=CORPUS, helper="judging")


def test_score_rpc_helper_errors_are_clear(client, module):
    from sasc.errors import SascError

    # the plain fake helper returns no logprobs: the error names the fallback
    with pytest.raises(SascError, match="no token log-probabilities.*sampled"):
        client.score(module.id, [GOOD], corpus=CORPUS, helper="fake", scoring={**SET, "baseline": False})
    # with sampled answers, its replies are no number: quoted
    with pytest.raises(SascError, match="not one of 0, 1"):
        client.score(module.id, [GOOD], corpus=CORPUS, helper="fake", scoring={**SET, "baseline": False,
                                                                                "sampled": True})


def test_score_rpc_reports_an_undefined_score_with_its_reason(client, module):
    # no food word in these texts: the keyword module is 0 on all of them
    report = client.score(module.id, [GOOD], scorers=["simulation", "detection", "fuzzing"], corpus=SMALL_GENERIC,
                          helper="judging", scoring={"n_top": 2, "n_random": 2})
    for name, d in report["explanations"][0]["scores"].items():
        assert d["value"] is None and d["ci"] == [None, None] and d["baseline"] is None, name
        assert d["undefined_reason"] == "the module's responses are constant over the scoring set", name
    assert report["usage"]["calls"] == 0  # the helper was not asked


def test_score_rpc_stops_soon_after_its_deadline(client, module):
    """A Score whose client gives up stops on the server: no helper call starts more than a
    moment after the deadline (it would run ~40 calls × 0.25 s otherwise)."""
    import threading
    import time

    from sasc.errors import ServiceError

    started: list[float] = []
    lock = threading.Lock()

    def slow(prompt: str) -> str:
        with lock:
            started.append(time.monotonic())
        time.sleep(0.25)
        return _reply(prompt)

    HELPER_BACKENDS.register("slowjudging", lambda arg, **_: ScriptedLLM(slow, logprobs=judging_logprobs,
                                                                          name="slowjudging"), replace=True)
    with pytest.raises(ServiceError, match="DEADLINE_EXCEEDED"):
        client.score(module.id, [GOOD, WRONG], scorers=["simulation"], corpus=CORPUS, helper="slowjudging",
                     scoring={**SET, "seed": 11}, timeout_s=1.5)
    gave_up = time.monotonic()
    time.sleep(2.0)
    assert started and max(started) < gave_up + 1.0, "helper calls went on after the deadline"
    assert len(started) < 20


def test_score_rpc_with_token_excerpts(client, module):
    register_kind("test_word_tokens", lambda: WordTokenBank(), replace=True)
    HELPER_BACKENDS.register("tokjudging", lambda arg, **_: ScriptedLLM(all_at_once_reply, logprobs=all_at_once_logprobs,
                                                                        name="tokjudging"), replace=True)
    tokens = client.register_module("test_word_tokens")
    scoring = {**SET, "excerpts": "token", "excerpt_tokens": 8}
    report = client.score(tokens.id, [GOOD], scorers=["simulation"], corpus=CORPUS, helper="tokjudging",
                          scoring=scoring)
    sim = report["explanations"][0]["scores"]["simulation"]
    assert sim["value"] > 0.9 and sim["details"]["layout"] == "all_at_once" and sim["details"]["unaligned_tokens"] == 0
    assert report["scoring_set"]["excerpts"] == "token" and all(len(t) <= 8 for t in report["scoring_set"]["tokens"])
    # a module without token activations, and an excerpt length out of range: clear errors
    with pytest.raises(ConfigError, match="no token activations"):
        client.score(module.id, [GOOD], scorers=["simulation"], corpus=CORPUS, helper="tokjudging", scoring=scoring)
    with pytest.raises(ConfigError, match="inside a causal LM \\(llm_neuron, llm_direction\\)"):
        client.score(tokens.id, [GOOD], scorers=["ablation"], corpus=CORPUS, helper="tokjudging", scoring=scoring)
    with pytest.raises(ConfigError, match="ablation score needs token excerpts"):
        client.score(tokens.id, [GOOD], scorers=["ablation"], corpus=CORPUS, helper="tokjudging", scoring=SET)
    with pytest.raises(ConfigError, match="steering score needs a unit inside a causal LM"):
        client.score(module.id, [GOOD], scorers=["steering"], corpus=CORPUS, helper="judging", scoring=SET)
    with pytest.raises(ConfigError, match="excerpt_tokens must be in 1..256"):
        client.score(tokens.id, [GOOD], scorers=["simulation"], corpus=CORPUS, helper="tokjudging",
                     scoring={**scoring, "excerpt_tokens": 10_000})
