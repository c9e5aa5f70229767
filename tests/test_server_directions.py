"""A direction search as a service job: a real server on port 0, SmolLM2 as the subject model and a
scripted helper with logprobs; the found directions registered back as a module; bad requests refused."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import SMALL_GENERIC, KeywordModule, concept_logprobs, direction_corpus, topical_reply

from sasc.errors import ConfigError, SascError
from sasc.llm import ScriptedLLM
from sasc.llm.factory import HELPER_BACKENDS
from sasc.modules import register_kind

SERVER_SETTINGS = {"allowed_helpers": "fake,dirjudging"}
SETTINGS = {"n_candidates": 2, "n_synthetic": 3, "n_bootstrap": 50, "n_generic": 5, "direct_screen": 0,
            "fluency_model": "", "summary_styles": ["theme"]}
SEARCH = {"count": 2, "rounds": 1, "steps": 3, "n_top": 3, "n_random": 3, "pool_size": 40}


@pytest.fixture(scope="module")
def neurons(client):
    HELPER_BACKENDS.register("dirjudging", lambda arg, **_: ScriptedLLM(topical_reply, logprobs=concept_logprobs,
                                                                        name="dirjudging"), replace=True)
    return client.register_module("llm_neuron", {"site": "mlp", "layer": 2})


def test_direction_search_job_and_its_directions_as_a_module(client, neurons):
    from sasc.directions import direction_vectors
    from sasc.modules.neurons import build_llm_direction_bank

    events = []
    corpus = direction_corpus()
    result = client.find_directions(neurons.id, SEARCH, corpus=corpus, generic=SMALL_GENERIC, helper="dirjudging",
                                    settings=SETTINGS, progress=events.append)
    info = result.config["directions"]
    assert [u.unit for u in result.units] == ["L2.mlp.F0", "L2.mlp.F1"]
    assert info["search"]["steps"] == 3 and info["width"] == 1536
    assert all(len(d["rounds"]) == 1 and d["rounds"][0]["explanation"] for d in info["directions"])
    assert all("simulation" in u.best.scores for u in result.units)
    assert any(e.stage == "directions" for e in events)
    vectors = direction_vectors(result)
    assert vectors.shape == (2, 1536) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # the job's result read back equals the watched one
    assert client.result(client.list_jobs()[0].id) == result
    # the found directions become a module the service evaluates like any other
    module = client.register_directions(result)
    assert module.units == ["L2.mlp.F0", "L2.mlp.F1"]
    texts = ["I ate pizza for dinner.", "The council met on Monday."]
    local = build_llm_direction_bank(None, site="mlp", layer=2, directions=vectors, device="cpu")
    assert np.allclose(client.evaluate(module.id, texts), local.responses(texts), atol=1e-4)


def test_bad_direction_searches_are_refused_before_any_work(client, neurons):
    register_kind("test_keyword_dirs", lambda: KeywordModule(), replace=True)
    keyword = client.register_module("test_keyword_dirs")
    corpus = direction_corpus()
    with pytest.raises(SascError, match="site of a causal LM"):
        client.submit_job(keyword.id, directions=SEARCH, corpus=corpus, helper="dirjudging")
    with pytest.raises(ConfigError, match="count must be in 1..32"):
        client.submit_job(neurons.id, directions={**SEARCH, "count": 0}, corpus=corpus, helper="dirjudging")
    with pytest.raises(ConfigError, match="step_size"):
        client.submit_job(neurons.id, directions={**SEARCH, "step_size": 3.0}, corpus=corpus, helper="dirjudging")
    with pytest.raises(ConfigError, match="leaves unit_names"):
        client.submit_job(neurons.id, directions=SEARCH, units=[0], corpus=corpus, helper="dirjudging")
    with pytest.raises(ConfigError, match="excerpts"):
        client.submit_job(neurons.id, directions={**SEARCH, "excerpts": "words"}, corpus=corpus, helper="dirjudging")
