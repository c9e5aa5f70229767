"""Predictive scorers: the math on fixed inputs, scoring sets, a fake helper with logprobs, bad input."""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import pytest
from fakes import FOOD_CORPUS, SMALL_GENERIC, KeywordModule, judging_logprobs, judging_reply

from sasc.errors import ConfigError, HelperLLMError, HelperReplyError, UnknownKindError
from sasc.llm import ScriptedLLM
from sasc.modules.base import as_bank
from sasc.scorers import SCORERS, ScoreConfig, SetConfig, draw_set, parse_scorers, random_explanation, score_on_set
from sasc.scorers.ask import parse_number, parse_yes_no
from sasc.scorers.fuzzing import FuzzingScorer
from sasc.scorers.sets import choose
from sasc.scorers.stats import answer_probabilities, auroc, balanced_accuracy, bootstrap_ci, expected_value, pearson

CORPUS = list(dict.fromkeys(FOOD_CORPUS)) + SMALL_GENERIC + [
    "Fresh bread and cheese for the evening meal.", "The council voted on the new road plan."]
GOOD = "food, cooking, pizza, pasta, bread, soup, cheese, meal, dinner"
WRONG = "stock markets, investors, police, shooting"


# --- math with known answers -------------------------------------------------------------------

def test_pearson_known_values():
    assert pearson([1, 2, 3], [2, 4, 6]) == (pytest.approx(1.0), None)
    assert pearson([1, 2, 3], [3, 2, 1]) == (pytest.approx(-1.0), None)
    # x = [1, 2, 3, 4], y = [1, 3, 2, 4]: cov = 4 / 3 per n... r = 0.8 exactly
    assert pearson([1, 2, 3, 4], [1, 3, 2, 4])[0] == pytest.approx(0.8)


def test_pearson_undefined_with_reason():
    v, reason = pearson([1, 2, 3], [5, 5, 5])
    assert math.isnan(v) and "constant" in reason and "module" in reason
    v, reason = pearson([4, 4, 4], [1, 2, 3])
    assert math.isnan(v) and "predictions" in reason
    assert "at least 2" in pearson([], [])[1]


def test_balanced_accuracy_known_values():
    # positives: 2 of 3 right (2/3); negatives: 1 of 2 right (1/2) -> 7/12
    assert balanced_accuracy([1, 1, 0, 1, 0], [1, 1, 1, 0, 0]) == (pytest.approx(7 / 12), None)
    assert balanced_accuracy([1, 0], [1, 0])[0] == 1.0
    v, reason = balanced_accuracy([1, 0], [1, 1])
    assert math.isnan(v) and "both" in reason


def test_auroc_known_values():
    assert auroc([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0])[0] == 1.0
    assert auroc([0.1, 0.2, 0.9, 0.8], [1, 1, 0, 0])[0] == 0.0
    # pos {0.5, 0.9} vs neg {0.5, 0.1}: pairs (0.5>0.5 tie .5, 0.5>0.1 1, 0.9>0.5 1, 0.9>0.1 1) -> 3.5/4
    assert auroc([0.5, 0.9, 0.5, 0.1], [1, 1, 0, 0])[0] == pytest.approx(0.875)
    assert math.isnan(auroc([0.1], [1])[0])


def test_expected_value_from_logprobs():
    alts = [("3", math.log(0.5)), ("5", math.log(0.25)), ("The", math.log(0.2)), (" 5", math.log(0.05))]
    # renormalized over numbers: 3 -> 0.5/0.8, 5 -> 0.3/0.8 ; EV = (1.5 + 1.5) / 0.8 = 3.75
    assert expected_value(alts) == pytest.approx(3.75)
    assert expected_value([("10", 0.0)]) == 10.0
    assert expected_value([("hello", 0.0)]) is None
    assert answer_probabilities([("Yes", math.log(0.6)), ("no", math.log(0.2))], ("yes", "no")) == \
        {"yes": pytest.approx(0.75), "no": pytest.approx(0.25)}


def test_bootstrap_ci_brackets_the_value_and_is_seeded():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = x + rng.normal(size=200)
    r, _ = pearson(x, y)
    lo, hi = bootstrap_ci(pearson, [x, y], 500, seed=1)
    assert lo < r < hi and hi - lo < 0.3
    assert bootstrap_ci(pearson, [x, y], 500, seed=1) == (lo, hi)
    assert all(math.isnan(v) for v in bootstrap_ci(pearson, [x, np.ones(200)], 100))


def test_reply_parsers():
    assert parse_number(" 7") == {"7": 1.0} and parse_number("10.") == {"10": 1.0}
    assert parse_number("eleven") is None and parse_number("11") is None
    assert parse_yes_no("Yes.") == {"yes": 1.0} and parse_yes_no("no") == {"no": 1.0}
    assert parse_yes_no("maybe") is None


# --- scoring sets ------------------------------------------------------------------------------

def test_choose_top_and_random_is_seeded_and_disjoint():
    values = [0.1, 0.9, 0.5, 0.9, 0.0, 0.3, 0.2]
    top, rand = choose(values, SetConfig(n_top=2, n_random=3, seed=4))
    assert top == [1, 3]  # ties by lower index
    assert len(rand) == 3 and not set(rand) & set(top)
    assert choose(values, SetConfig(n_top=2, n_random=3, seed=4)) == (top, rand)
    assert choose(values, SetConfig(kind="top", n_top=2))[1] == []
    assert choose(values, SetConfig(kind="random", n_random=3))[0] == []
    # two units over the same pool of 100 texts, with other top texts, share most random draws
    # (the model's passes over them are shared too); independent draws would share about 4 of 20
    a, b = np.arange(100.0), np.arange(100.0)[::-1].copy()
    (top_a, rand_a), (top_b, rand_b) = (choose(x, SetConfig(n_top=5, n_random=20, seed=1)) for x in (a, b))
    assert not set(rand_a) & set(top_a) and not set(rand_b) & set(top_b) and len(rand_a) == len(rand_b) == 20
    assert len(set(rand_a) & set(rand_b)) >= 15


def test_many_units_draw_their_sets_from_one_module_pass_over_the_pool():
    from fakes import WordTokenBank

    from sasc.corpora import Corpus
    from sasc.scorers.run import draw_prepared_sets

    class TwoUnitTokens(WordTokenBank):
        units = ["food", "also food"]
        passes = 0

        def token_responses(self, texts):
            type(self).passes += 1
            return [dataclasses.replace(r, values=np.repeat(r.values, 2, axis=1)) for r in super().token_responses(texts)]

    bank = TwoUnitTokens()
    cfg = ScoreConfig(set=SetConfig(n_top=2, n_random=2, excerpts="token", sentences=False))
    sets = draw_prepared_sets(bank, [0, 1], Corpus("tiny", list(FOOD_CORPUS)), cfg, [(), ()])
    assert TwoUnitTokens.passes == 1 and len(sets) == 2 and sets[0].texts == sets[1].texts
    # the pool's responses are kept for one call only: a later call runs the module again
    draw_prepared_sets(bank, [1], Corpus("tiny", list(FOOD_CORPUS)), cfg, [()])
    assert TwoUnitTokens.passes == 2


def test_draw_set_records_how_it_was_drawn():
    s = draw_set(as_bank(KeywordModule()), 0, CORPUS, SetConfig(n_top=3, n_random=4, seed=2, sentences=False), corpus="tiny")
    assert len(s.texts) == 7 and s.is_top == (True,) * 3 + (False,) * 4
    assert list(s.responses[:3]) == sorted(s.responses[:3], reverse=True) and s.responses[0] > 0
    d = s.to_dict()
    assert d["seed"] == 2 and d["kind"] == "top_and_random" and d["corpus"] == "tiny" and d["pool"] == len(CORPUS)


def test_sets_are_drawn_from_sentences_unless_whole_texts_are_asked():
    article = ["Pizza and pasta made a fine dinner tonight. The markets fell sharply on Monday morning."]
    s = draw_set(as_bank(KeywordModule()), 0, article, SetConfig(n_top=1, n_random=1))
    assert s.texts == ("Pizza and pasta made a fine dinner tonight.", "The markets fell sharply on Monday morning.")
    whole = draw_set(as_bank(KeywordModule()), 0, article, SetConfig(n_top=1, n_random=1, sentences=False))
    assert whole.texts == tuple(article) and whole.to_dict()["sentences"] is False


def test_token_excerpts_are_refused_clearly():
    with pytest.raises(ConfigError, match="per-token excerpts.*use per-text"):
        draw_set(as_bank(KeywordModule()), 0, CORPUS, SetConfig(excerpts="token"))
    with pytest.raises(ConfigError, match="unknown scoring set"):
        SetConfig(kind="best")


# --- scorers with a fake helper that returns logprobs ------------------------------------------

def _set():
    return draw_set(as_bank(KeywordModule()), 0, CORPUS, SetConfig(n_top=4, n_random=6, seed=0, sentences=False))


def test_simulation_and_detection_tell_the_right_explanation_from_a_wrong_one():
    helper = ScriptedLLM(judging_reply, logprobs=judging_logprobs)
    cfg = ScoreConfig(scorers=("simulation", "detection"), n_boot=200)
    good, wrong = score_on_set([GOOD, WRONG], _set(), "food", helper, cfg)
    assert good["simulation"].value > 0.8 and good["simulation"].value > wrong["simulation"].value + 0.5
    assert good["simulation"].ci_low <= good["simulation"].value <= good["simulation"].ci_high
    assert good["simulation"].n == 10 and good["simulation"].method == "logprobs"
    assert good["detection"].value == 1.0 and good["detection"].details["auroc"] == 1.0
    assert good["detection"].value > wrong["detection"].value
    # the baseline is a random explanation, scored on the same set
    assert good["simulation"].baseline is not None and good["simulation"].baseline < good["simulation"].value
    assert good["simulation"].details["baseline_explanation"] == random_explanation(GOOD, 0)
    assert all(c.sampling.top_logprobs == 20 and c.sampling.temperature == 0 for c in helper.calls)


def test_every_scorer_asks_about_one_explanation_with_a_shared_prefix_a_backend_may_reuse():
    # a backend that keeps the previous prompt's KV cache (the embedded helper) then evaluates only
    # the text and what follows it: the instructions and the explanation must come before the text
    helper = ScriptedLLM(judging_reply, logprobs=judging_logprobs)
    cfg = ScoreConfig(scorers=("simulation", "detection", "fuzzing"), n_boot=50, baseline=False)
    s = FuzzingScorer().prepare(_set(), as_bank(KeywordModule()), 0)
    score_on_set([GOOD], s, "food", helper, cfg)
    calls = helper.calls
    assert len(calls) > 20 and all(c.sampling.reuse_prefix for c in calls)
    texts = set(s.texts)
    for a, b in zip(calls, calls[1:]):
        shared = os.path.commonprefix([a.prompt, b.prompt])
        assert GOOD in shared and not any(t in shared for t in texts)


def test_result_round_trips_through_its_dict():
    helper = ScriptedLLM(judging_reply, logprobs=judging_logprobs)
    r = score_on_set([GOOD], _set(), "food", helper, ScoreConfig(n_boot=50))[0]["simulation"]
    d = r.to_dict()
    assert set(d) >= {"value", "ci", "n", "baseline"}
    assert type(r).from_dict("simulation", d).to_dict() == d


def test_backend_without_logprobs_names_the_fallback_and_sampled_results_are_marked():
    helper = ScriptedLLM(judging_reply)  # no logprobs
    with pytest.raises(HelperLLMError, match="no token log-probabilities.*--sampled"):
        score_on_set([GOOD], _set(), "food", helper, ScoreConfig(baseline=False))
    r = score_on_set([GOOD], _set(), "food", helper, ScoreConfig(sampled=True, baseline=False, n_boot=50))
    assert r[0]["simulation"].method == "sampled" and r[0]["simulation"].value > 0.5
    assert all(c.sampling.top_logprobs == 0 for c in helper.calls[-10:])


def test_reply_that_is_not_a_number_is_an_error_quoting_it():
    helper = ScriptedLLM(lambda p: "I cannot tell.")
    with pytest.raises(HelperReplyError, match="I cannot tell"):
        score_on_set([GOOD], _set(), "food", helper, ScoreConfig(sampled=True, baseline=False))


def test_constant_scoring_set_is_undefined_with_a_reason():
    s = _set()
    flat = type(s)(s.texts, (0.5,) * len(s.texts), s.is_top, s.config, s.corpus, s.pool)
    helper = ScriptedLLM(judging_reply, logprobs=judging_logprobs)
    r = score_on_set([GOOD], flat, "food", helper, ScoreConfig(n_boot=50, baseline=False))[0]["simulation"]
    assert math.isnan(r.value) and "constant" in r.undefined_reason
    assert r.to_dict()["value"] is None and r.to_dict()["ci"] == [None, None]
    assert not helper.calls  # undefined whatever the helper says: not asked
    empty = type(s)((), (), (), s.config, s.corpus, 0)
    r = score_on_set([GOOD], empty, "food", helper, ScoreConfig(scorers=("simulation", "detection"),
                                                                 baseline=False))[0]
    assert r["simulation"].n == 0 and r["simulation"].undefined_reason and r["detection"].undefined_reason
    assert not helper.calls


def test_bad_explanations_and_unknown_scorers_fail_before_any_helper_call():
    helper = ScriptedLLM(judging_reply, logprobs=judging_logprobs)
    with pytest.raises(ConfigError, match="non-empty"):
        score_on_set(["  "], _set(), "food", helper)
    with pytest.raises(ConfigError, match="at most 500"):
        score_on_set(["x" * 501], _set(), "food", helper)
    with pytest.raises(UnknownKindError, match="known scorers: ablation, detection, fuzzing, maia, simulation, steering"):
        score_on_set([GOOD], _set(), "food", helper, ScoreConfig(scorers=("simulaton",)))
    assert not helper.calls
    assert parse_scorers("sigma,simulation,detection,simulation") == ["simulation", "detection"]
    assert "simulation" in SCORERS


# --- logprobs through the helper stack ---------------------------------------------------------

def test_reply_cache_keeps_logprobs_and_old_keys(tmp_path):
    from sasc.llm.base import Sampling, parse_top_logprobs
    from sasc.llm.wrappers import CachedLLM, cache_key

    helper = CachedLLM(ScriptedLLM(judging_reply, logprobs=judging_logprobs), tmp_path)
    prompt = 'explanation:\n"pizza"\n\nText: "pizza now"\n\nAnswer with one number'
    first = helper.complete(prompt, sampling=Sampling(temperature=0, top_logprobs=5))
    again = helper.complete(prompt, sampling=Sampling(temperature=0, top_logprobs=5))
    assert again.cached and again.top_logprobs == first.top_logprobs and first.top_logprobs[0][0][0] == "3"
    # a call that asks for no logprobs keeps the key it had before the field existed
    assert cache_key("m", "p", Sampling(), None) != cache_key("m", "p", Sampling(top_logprobs=5), None)
    import hashlib
    import json
    legacy = {"format": 1, "model": "m", "prompt": "p", "json_schema": None,
              "sampling": {"temperature": 0.7, "top_p": 0.95, "max_tokens": 256, "seed": 0}}
    blob = json.dumps(legacy, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert cache_key("m", "p", Sampling(), None) == hashlib.sha256(blob.encode()).hexdigest()
    # llama.cpp's and OpenAI's chat logprobs shape
    lp = {"content": [{"token": "8", "logprob": -1.1, "top_logprobs": [{"token": "8", "logprob": -1.1},
                                                                       {"token": "7", "logprob": -1.3}]}]}
    assert parse_top_logprobs(lp) == ((("8", -1.1), ("7", -1.3)),)
    assert parse_top_logprobs(None) is None


# --- the command line --------------------------------------------------------------------------

@pytest.fixture
def cli_env(tmp_path):
    """A keyword module kind, a helper backend that summarizes topically and judges by overlap, a corpus file."""
    import json

    from fakes import topical_reply

    from sasc.llm.factory import HELPER_BACKENDS
    from sasc.modules import register_kind

    def reply(prompt):
        return judging_reply(prompt) if "A unit of a language-processing model" in prompt else topical_reply(prompt)

    register_kind("test_keyword", lambda: KeywordModule(), replace=True)
    HELPER_BACKENDS.register("judging", lambda arg, **_: ScriptedLLM(reply, logprobs=judging_logprobs), replace=True)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"text": t}) for t in CORPUS))
    return tmp_path, corpus


def test_sasc_score_writes_scores_and_the_set(cli_env, capsys):
    import json

    from sasc.cli import main

    tmp, corpus = cli_env
    out = tmp / "scores.json"
    rc = main(["score", "--module", "test_keyword", "--helper", "judging", "--corpus", str(corpus), "-e", GOOD,
               "-e", WRONG, "--scorers", "simulation,detection", "--n-top", "4", "--n-random", "6",
               "--cache-dir", str(tmp / "cache"), "--out", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    good, wrong = report["explanations"]
    assert good["scores"]["simulation"]["value"] > wrong["scores"]["simulation"]["value"]
    assert set(good["scores"]["detection"]) >= {"value", "ci", "n", "baseline"}
    assert report["scoring_set"]["n_top"] == 4 and len(report["scoring_set"]["texts"]) == 10
    assert report["usage"]["calls"] > 0
    table = capsys.readouterr().out
    assert "simulation" in table and "detection" in table and GOOD in table
    # the same texts from a CSV whose text column is named otherwise (as D3's `input`)
    import csv

    texts = [json.loads(line)["text"] for line in corpus.read_text().splitlines()]
    with open(tmp / "corpus.csv", "w", newline="") as f:
        csv.writer(f).writerows([["input", "label"]] + [[t, 0] for t in texts])
    rc = main(["score", "--module", "test_keyword", "--helper", "judging", "--corpus", str(tmp / "corpus.csv"),
               "--column", "input", "-e", GOOD, "--n-top", "4", "--n-random", "6",
               "--cache-dir", str(tmp / "cache"), "--out", str(tmp / "scores_csv.json")])
    assert rc == 0
    again = json.loads((tmp / "scores_csv.json").read_text())
    assert again["scoring_set"]["texts"] == report["scoring_set"]["texts"]


def test_sasc_score_bad_input_writes_nothing(cli_env, capsys):
    from sasc.cli import main

    tmp, corpus = cli_env
    out = tmp / "scores.json"
    base = ["score", "--module", "test_keyword", "--corpus", str(corpus), "--out", str(out),
            "--cache-dir", str(tmp / "cache"), "--no-baseline", "--n-top", "2", "--n-random", "2"]
    assert main([*base, "--helper", "judging", "-e", GOOD, "--scorers", "simulaton"]) == 2
    assert "known scorers: ablation, detection, fuzzing, maia, simulation, steering" in capsys.readouterr().err
    assert main([*base, "--helper", "judging", "-e", " "]) == 2
    assert "non-empty" in capsys.readouterr().err
    assert main([*base, "--helper", "fake", "-e", GOOD]) == 2  # the scripted fake has no logprobs
    assert "--sampled" in capsys.readouterr().err
    assert main([*base, "--helper", "fake", "-e", GOOD, "--sampled"]) == 2  # and replies no number
    assert "not one of 0, 1" in capsys.readouterr().err
    assert not out.exists() and not list(tmp.glob("scores.json*"))


def test_sasc_explain_adds_a_scores_map_and_ranks_by_a_scorer(cli_env, capsys):
    import json

    from sasc.cli import main

    tmp, corpus = cli_env
    out = tmp / "result.json"
    rc = main(["explain", "--module", "test_keyword", "--helper", "judging", "--corpus", str(corpus),
               "--generic", str(corpus), "--cache-dir", str(tmp / "cache"), "--out", str(out), "-q",
               "--scorers", "sigma,simulation", "--rank-by", "simulation", "--n-top", "4", "--n-random", "6",
               "--candidates", "3", "--direct-screen", "0", "--synthetic", "4"])
    assert rc == 0, capsys.readouterr().err
    d = json.loads(out.read_text())
    u = d["units"][0]
    scored = [c for c in u["candidates"] if c["score"]["n_related"]]
    assert scored and all(set(c["scores"]) == {"simulation"} for c in scored)
    values = [c["scores"]["simulation"]["value"] for c in scored]
    assert values == sorted(values, key=lambda v: -v if v is not None else float("inf"))
    assert len(u["scoring_set"]["texts"]) == 10 and d["config"]["predictive"]["rank_by"] == "simulation"
    table = capsys.readouterr().out
    assert "simulation" in table and "the same score for a random explanation" in table
    cell = next(line for line in table.splitlines() if scored[0]["explanation"] in line and "[" in line)
    assert f"b{scored[0]['scores']['simulation']['baseline']:.2f}" in cell  # the baseline beside the score
    from sasc.results import ExplainResult

    assert ExplainResult.from_json(out).units[0].candidates[0].scores == u["candidates"][0]["scores"]


# --- baselines -----------------------------------------------------------------------------------

def test_baseline_explanation_prefers_another_units_explanation():
    from sasc.scorers import baseline_explanation

    # other units' explanations, the explanation itself excluded (case-insensitive), seeded
    pick, source = baseline_explanation("food", ["Food", "markets", "crime"], seed=1)
    assert source == "other_unit" and pick in ("markets", "crime")
    assert baseline_explanation("food", ["Food", "markets", "crime"], seed=1) == (pick, source)
    assert baseline_explanation("food", ["markets"]) == ("markets", "other_unit")
    # none left: a fixed unrelated topic sharing no word with the explanation
    pick, source = baseline_explanation("football matches", ["football matches"], seed=0)
    assert source == "unrelated_topic" and pick == random_explanation("football matches", 0)
    assert "football" not in pick


def test_every_scorer_gets_a_baseline_scored_the_same_way():
    helper = ScriptedLLM(judging_reply, logprobs=judging_logprobs)
    from sasc.scorers.fuzzing import FuzzingScorer

    s = FuzzingScorer().prepare(_set(), as_bank(KeywordModule()), 0)
    cfg = ScoreConfig(scorers=("simulation", "detection", "fuzzing"), n_boot=50)
    scores = score_on_set([GOOD], s, "food", helper, cfg, others=[WRONG])[0]
    for name, r in scores.items():
        assert r.details["baseline_explanation"] == WRONG and r.details["baseline_source"] == "other_unit", name
        # the baseline is exactly the score the other unit's explanation gets as an explanation
        alone = score_on_set([WRONG], s, "food", helper, ScoreConfig(scorers=(name,), n_boot=50, baseline=False))[0]
        assert r.baseline == alone[name].value and r.baseline < r.value, name
    assert all(r.to_dict()["baseline"] == r.baseline for r in scores.values())


def test_explain_with_two_units_uses_the_other_units_explanation_as_baseline(tmp_path):
    import sasc
    from fakes import KeywordBank, topical_reply

    from sasc.scorers.run import add_scores

    def reply(prompt):
        return judging_reply(prompt) if "A unit of a language-processing model" in prompt else topical_reply(prompt)

    helper = ScriptedLLM(reply, logprobs=judging_logprobs)
    config = sasc.ExplainConfig(n_candidates=2, n_synthetic=3, n_bootstrap=50, n_generic=5)
    result = sasc.explain(KeywordBank(), corpus=CORPUS, generic=SMALL_GENERIC, helper=helper, config=config,
                          cache_dir=tmp_path)
    scored = add_scores(result, KeywordBank(), corpus=CORPUS, helper=helper, cache_dir=tmp_path,
                        config=ScoreConfig(scorers=("simulation",), set=SetConfig(n_top=3, n_random=4), n_boot=50))
    food, markets = scored.units
    for u, other in ((food, markets), (markets, food)):
        for c in u.candidates:
            if c.scores:
                d = c.scores["simulation"]["details"]
                assert d["baseline_source"] == "other_unit" and d["baseline_explanation"] == other.best.explanation
    # each unit's set leaves out the texts holding an n-gram its summaries saw, when enough remain
    from sasc.corpora import split_sentences
    from sasc.scorers.sets import apart_from

    sentences = list(dict.fromkeys(split_sentences(CORPUS)))
    for u in scored.units:
        left = len(apart_from(sentences, [t.ngram for t in u.top_ngrams[:50]]))
        assert u.scoring_set["seen_removed"] == (len(sentences) - left if left >= 7 else None)


def test_scoring_texts_stay_apart_from_the_ngrams_the_summaries_saw():
    from sasc.scorers.sets import apart_from

    assert apart_from(["I ate pizza", "pizzas!", "rain", "New  York city", "new yorker"], ["pizza", "New York"]) == \
        ["pizzas!", "rain", "new yorker"]  # whole words, any case and spacing
    assert apart_from(["a", "b"], []) == ["a", "b"]
    bank = as_bank(KeywordModule())
    cfg = SetConfig(n_top=3, n_random=3, sentences=False)
    s = draw_set(bank, 0, CORPUS, cfg, seen=["pizza", "pasta"])
    assert s.seen_removed and not any("pizza" in t.lower() or "pasta" in t.lower() for t in s.texts)
    assert s.pool == len(CORPUS) - s.seen_removed and s.to_dict()["seen_removed"] == s.seen_removed
    # where too few texts would remain, nothing is left out, and the set says so
    few = draw_set(bank, 0, CORPUS, SetConfig(n_top=3, n_random=len(CORPUS), sentences=False), seen=["pizza"])
    assert few.seen_removed is None and few.pool == len(CORPUS)
    assert draw_set(bank, 0, CORPUS, cfg).seen_removed is None
