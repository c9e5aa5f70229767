"""The direction search (Bills et al.'s explainable directions): its math on fixed inputs, the
search loop on a fake site with a scripted helper, the real causal-LM site, and the export."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sasc.config import ExplainConfig
from sasc.directions import (
    DirectionConfig, angle_degrees, ascend, direction_vectors, find_directions, pearson_gradient, percentile_among,
    random_directions, readout_rows, save_directions, score_by_round, split_halves,
)
from sasc.errors import ConfigError, ModuleError
from sasc.llm import ScriptedLLM

from fakes import FOOD_WORDS, WordVectorSite, concept_logprobs, direction_corpus, topical_reply


# ------------------------------------------------------------------ math on fixed inputs

def test_pearson_gradient_known_values_and_finite_differences():
    r, g = pearson_gradient(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    assert r == pytest.approx(1.0) and np.allclose(g, 0.0)  # the maximum: no direction raises it
    r, _ = pearson_gradient(np.array([3.0, 2.0, 1.0]), np.array([1.0, 2.0, 3.0]))
    assert r == pytest.approx(-1.0)
    a, p = np.array([0.5, -1.0, 2.0, 0.3]), np.array([1.0, 0.0, 3.0, 2.0])
    r, g = pearson_gradient(a, p)
    assert r == pytest.approx(np.corrcoef(a, p)[0, 1])
    eps = 1e-6
    numeric = [(pearson_gradient(a + eps * e, p)[0] - pearson_gradient(a - eps * e, p)[0]) / (2 * eps) for e in np.eye(4)]
    assert np.allclose(g, numeric, atol=1e-6)
    r, g = pearson_gradient(np.ones(4), p)  # a constant activation: undefined, no gradient
    assert np.isnan(r) and not g.any()


def test_readout_rows_are_every_token_or_each_texts_most_active_token():
    states = [np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([[3.0, 1.0]])]
    d = np.array([1.0, 0.0])
    assert np.array_equal(readout_rows(states, d, per_token=True), [[1, 0], [0, 2], [3, 1]])
    assert np.array_equal(readout_rows(states, d, per_token=False), [[1, 0], [3, 1]])
    assert np.array_equal(readout_rows(states, np.array([0.0, 1.0]), per_token=False), [[0, 2], [3, 1]])


def test_ascent_turns_a_direction_toward_the_one_the_targets_follow():
    rng = np.random.default_rng(0)
    states = [rng.standard_normal((6, 5)) for _ in range(30)]
    target_dir = np.eye(5)[0]
    targets = np.concatenate([s @ target_dir for s in states])  # per token: exactly linear in e0
    start = np.array([0.5, 1.0, 0.0, 0.0, 0.0])
    d, before, after = ascend(states, targets, start, steps=200, step_size=0.02, per_token=True)
    assert np.linalg.norm(d) == pytest.approx(1.0)
    assert after > before and after > 0.99
    assert angle_degrees(d, target_dir) < 3.0 < angle_degrees(start, target_dir)
    # each step turns by the step size: 3 steps of 0.02 rad turn at most 0.06 rad
    d3, _, _ = ascend(states, targets, start, steps=3, step_size=0.02, per_token=True)
    assert np.degrees(0.06) * 0.999 < angle_degrees(start, d3) <= np.degrees(0.06) + 1e-9
    # no steps: the direction only normalized; constant targets: nothing to climb, unchanged
    d0, b0, a0 = ascend(states, targets, start, steps=0, step_size=0.02, per_token=True)
    assert np.allclose(d0, start / np.linalg.norm(start)) and b0 == a0
    dc, bc, _ = ascend(states, np.ones_like(targets), start, steps=5, step_size=0.02, per_token=True)
    assert np.allclose(dc, start / np.linalg.norm(start)) and np.isnan(bc)


def test_ascent_per_text_follows_each_texts_top_token():
    rng = np.random.default_rng(1)
    states = [rng.standard_normal((4, 3)) for _ in range(40)]
    target_dir = np.array([0.0, 0.0, 1.0])
    targets = np.array([(s @ target_dir).max() for s in states])
    d, before, after = ascend(states, targets, np.array([1.0, 0.2, 0.2]), steps=300, step_size=0.02, per_token=False)
    assert after > before and after > 0.95 and angle_degrees(d, target_dir) < 10


def test_random_directions_percentiles_and_halves():
    d = random_directions(3, 7, seed=5)
    assert d.shape == (3, 7) and d.dtype == np.float32 and np.allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(d, random_directions(3, 7, seed=5)) and not np.array_equal(d, random_directions(3, 7, seed=6))
    assert percentile_among(2, [1, 2, 3]) == 50.0
    assert percentile_among(4, [1, 2, 3, np.nan]) == 100.0
    assert percentile_among(0, [1, 2]) == 0.0 and np.isnan(percentile_among(1, []))
    texts = [f"sentence number {i}" for i in range(200)] + ["sentence number 3"]  # a duplicate
    search, held = split_halves(texts, seed=0)
    assert not set(search) & set(held) and set(search) | set(held) == set(texts)
    assert 70 < len(search) < 130
    assert set(split_halves(list(reversed(texts)), seed=0)[0]) == set(search)  # by content, not position
    assert split_halves(texts, seed=1)[0] != search


def test_config_is_checked_before_any_work():
    for bad in ({"count": 0}, {"rounds": 0}, {"steps": -1}, {"step_size": 2.0}, {"n_top": 0}, {"excerpts": "word"}):
        with pytest.raises(ConfigError):
            DirectionConfig(**bad)


# ------------------------------------------------------------------ the loop, with fakes

def _helper():
    return ScriptedLLM(topical_reply, logprobs=concept_logprobs)


SMALL_EXPLAIN = ExplainConfig(n_candidates=2, n_synthetic=4, n_generic=20, n_bootstrap=100, direct_screen=0,
                              fluency_model="", summary_styles=("theme",))


def test_search_explains_scores_and_moves_directions_and_records_every_round(tmp_path):
    site = WordVectorSite()
    cfg = DirectionConfig(count=2, rounds=2, steps=10, step_size=0.05, n_top=4, n_random=4, pool_size=60, seed=3)
    events = []
    corpus = direction_corpus()
    result = find_directions(site, config=cfg, explain_config=SMALL_EXPLAIN, corpus=corpus,
                             generic=corpus[:30], helper=_helper(), cache_dir=tmp_path, progress=events.append)
    info = result.config["directions"]
    assert [u.unit for u in result.units] == ["L0.site.F0", "L0.site.F1"]
    assert info["search"]["count"] == 2 and info["halves"]["search"] + info["halves"]["held_out"] == len(set(corpus))
    for d in info["directions"]:
        v = np.array(d["vector"])
        assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-6)
        assert [r["round"] for r in d["rounds"]] == [1, 2]
        for r in d["rounds"]:
            assert r["explanation"] and -1 <= r["score"] <= 1 and 0 < r["turned"] <= np.degrees(10 * 0.05) + 1e-6
        assert d["turned_total"] > 0
    # the final explanations are scored on the held-out half, with another direction's as baseline
    for u in result.units:
        s = u.best.scores["simulation"]
        assert u.scoring_set["corpus"].startswith("<list> (held-out half") or "held-out half" in u.scoring_set["corpus"]
        held = set(split_halves(direction_corpus(), 3)[1])
        assert set(u.scoring_set["texts"]) <= held
        assert s["details"]["baseline_source"] == "other_unit"
    assert direction_vectors(result).shape == (2, site.width)
    rounds = [e for e in events if e.stage == "directions"]
    assert [(e.done, e.total) for e in rounds] == [(0, 2), (1, 2), (2, 2)]
    assert rounds[-1].detail.startswith("round 2/2: mean score ")
    # the same seed gives the same search (the scripted helper depends only on the prompt)
    again = find_directions(site, config=cfg, explain_config=SMALL_EXPLAIN, corpus=corpus, generic=corpus[:30],
                            helper=_helper(), cache_dir=tmp_path / "again")
    assert np.array_equal(direction_vectors(again), direction_vectors(result))


def test_search_moves_a_direction_toward_the_concept_its_explanation_names(tmp_path):
    """Start 76 degrees off the planted food axis: the explanation still names a food word, the
    simulator predicts food sentences high, and the steps turn the direction toward food."""
    site = WordVectorSite()
    start = np.zeros((1, site.width))
    start[0, 0], start[0, 1] = 0.25, 1.0
    cfg = DirectionConfig(count=1, rounds=2, steps=30, step_size=0.03, n_top=8, n_random=16, pool_size=60, seed=0)
    corpus = direction_corpus()
    result = find_directions(site, config=cfg, explain_config=SMALL_EXPLAIN, corpus=corpus, generic=corpus[:30],
                             helper=_helper(), cache_dir=tmp_path, initial=start)
    (d,) = result.config["directions"]["directions"]
    food_axis = np.eye(site.width)[0]
    assert angle_degrees(np.array(d["vector"]), food_axis) < angle_degrees(start[0], food_axis) - 30
    assert any(w in d["rounds"][0]["explanation"].lower() for w in FOOD_WORDS)
    first, second = d["rounds"]
    assert first["fit_after"] > first["score"] and second["score"] > first["score"]
    assert d["held_out_simulation"] > first["score"]


def test_export_writes_vectors_spec_result_and_plot(tmp_path):
    site = WordVectorSite()
    cfg = DirectionConfig(count=2, rounds=1, steps=2, n_top=3, n_random=3, pool_size=40)
    corpus = direction_corpus()
    result = find_directions(site, config=cfg, explain_config=SMALL_EXPLAIN, corpus=corpus, generic=corpus[:30],
                             helper=_helper(), cache_dir=tmp_path)
    paths = save_directions(result, tmp_path / "out")
    assert np.array_equal(np.load(paths["vectors"]), direction_vectors(result))
    spec = json.loads(paths["spec"].read_text())
    assert spec["kind"] == "fake_word_vectors" and spec["directions"] == str(paths["vectors"].resolve())
    assert spec["names"] == ["L0.site.F0", "L0.site.F1"]
    from sasc.results import ExplainResult

    back = ExplainResult.from_json(paths["result"].read_text())
    assert np.array_equal(direction_vectors(back), direction_vectors(result))
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [len(v) for v in score_by_round(result).values()] == [2, 2]  # one round, then held out
    assert not list((tmp_path / "out").glob("*.tmp*"))


def test_bad_initial_directions_and_a_module_that_is_not_a_causal_lm(tmp_path):
    from sasc.directions import CausalLMSite

    site = WordVectorSite()
    with pytest.raises(ConfigError, match="initial directions"):
        find_directions(site, config=DirectionConfig(count=2), initial=np.ones((3, site.width)), helper=_helper())
    with pytest.raises(ConfigError, match="all zeros"):
        find_directions(site, config=DirectionConfig(count=1), initial=np.zeros((1, site.width)), helper=_helper())
    from fakes import KeywordModule

    with pytest.raises(ModuleError, match="llm_neuron or llm_direction"):
        CausalLMSite.from_bank(KeywordModule())


# ------------------------------------------------------------------ the real causal-LM site

from neurons_fixtures import smollm2, tiny_model_dirs  # noqa: E402,F401


def test_causal_lm_site_states_are_what_its_direction_bank_reads(tiny_model_dirs):
    from sasc.directions import causal_lm_site
    from sasc.modules.registry import module_from_spec

    site = causal_lm_site(tiny_model_dirs["llama"], site="mlp", layer=1, device="cpu")
    assert site.width == 96 and site.prefix == "L1.mlp"
    texts = ["the cat sat on the mat", "stock prices fell sharply", "I love pizza"]
    d = random_directions(2, site.width, seed=0)
    states = site.states(texts)
    want = np.stack([(s.values @ d.T).max(0) for s in states])
    bank = site.bank(d, ["a", "b"])
    assert np.allclose(bank.responses(texts), want, atol=1e-4)
    # the exported spec builds the same module
    again = module_from_spec(json.dumps({**site.spec(d.tolist()), "device": "cpu"}))
    assert np.allclose(again.responses(texts), want, atol=1e-4)


def test_bad_site_layer_or_model_fail_before_any_work(tiny_model_dirs, tmp_path):
    from sasc.directions import causal_lm_site
    from sasc.errors import SascError

    with pytest.raises(ConfigError, match="site"):
        causal_lm_site(tiny_model_dirs["llama"], site="nowhere", device="cpu")
    with pytest.raises(ConfigError, match="layer"):
        causal_lm_site(tiny_model_dirs["llama"], site="mlp", layer=7, device="cpu")
    with pytest.raises(SascError, match="missing-model"):
        causal_lm_site(str(tmp_path / "missing-model"), device="cpu")


# ------------------------------------------------------------------ the command line

def test_cli_finds_directions_writes_its_files_and_refuses_bad_input_first(tiny_model_dirs, tmp_path, capsys):
    from sasc.cli import main
    from sasc.llm.factory import HELPER_BACKENDS

    HELPER_BACKENDS.register("clijudging", lambda arg, **_: ScriptedLLM(topical_reply, logprobs=concept_logprobs,
                                                                        name="clijudging"), replace=True)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"text": t}) for t in direction_corpus()), encoding="utf-8")
    out = tmp_path / "found"
    common = ["--model", tiny_model_dirs["llama"], "--site", "mlp", "--layer", "1", "--device", "cpu",
              "--corpus", str(corpus), "--generic", str(corpus), "--helper", "clijudging", "--cache-dir",
              str(tmp_path / "cache"), "--quiet", "--candidates", "2", "--synthetic", "3", "--generic-size", "20",
              "--direct-screen", "0", "--fluency-model", "", "--summary-styles", "theme"]
    assert main(["directions", "find", *common, "--count", "2", "--rounds", "1", "--steps", "2", "--n-top", "3",
                 "--n-random", "3", "--pool-size", "40", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "== L1.mlp.F0" in printed and "round 1: simulation" in printed and "held-out texts" in printed
    vectors = np.load(out / "directions.npy")
    assert vectors.shape == (2, 96)
    spec = json.loads((out / "module.json").read_text())
    assert spec["kind"] == "llm_direction" and spec["layer"] == 1 and spec["model"] == tiny_model_dirs["llama"]
    from sasc.modules.registry import module_from_spec

    module = module_from_spec(json.dumps({**spec, "device": "cpu"}))
    assert module.units == ["L1.mlp.F0", "L1.mlp.F1"] and np.array_equal(module.directions, vectors)
    # bad input: refused with a message, before any model or helper work
    assert main(["directions", "find", *common, "--count", "0", "--out", str(tmp_path / "x")]) == 2
    assert "count must be >= 1" in capsys.readouterr().err
    assert main(["directions", "find", *common[:2], "--site", "nowhere", *common[6:], "--out", str(tmp_path / "x")]) == 2
    assert "site" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
