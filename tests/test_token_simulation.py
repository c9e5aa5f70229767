"""Per-token scoring (Bills et al.'s excerpts): the reply reader, the alignment, the lookup-table
baseline and the pooled interval on fixed inputs; then a whole run with a token-level fake module
and a fake helper that writes Bills's all-at-once layout with per-token logprobs."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from fakes import FOOD_CORPUS, FOOD_WORDS, SMALL_GENERIC, WordTokenBank, all_at_once_logprobs, all_at_once_reply

from sasc.errors import ConfigError, HelperLLMError
from sasc.llm import ScriptedLLM
from sasc.llm.base import Completion
from sasc.modules.base import as_bank
from sasc.scorers import ScoreConfig, SetConfig, draw_set, score_on_set
from sasc.scorers.simulation import TOKEN_PROMPT, align, read_token_lines, shown
from sasc.scorers.stats import grouped_bootstrap_ci, lookup_predict, lookup_table, pearson

FOOD = FOOD_WORDS


def _steps(*tokens: str | dict[str, float]) -> tuple:
    """Logprob steps: a plain token is generated with probability 1; a dict gives alternatives."""
    out = []
    for t in tokens:
        alts = {t: 1.0} if isinstance(t, str) else t
        out.append(tuple((k, math.log(p)) for k, p in sorted(alts.items(), key=lambda kv: -kv[1])))
    return tuple(out)


# --- the reply reader and the alignment, fixed inputs --------------------------------------------

def test_values_are_expected_values_of_the_first_digit_after_the_tab():
    reply = Completion("", top_logprobs=_steps("The", "\t", "0", "\n", "cat", "\t", {"8": 0.5, "6": 0.25, "x": 0.25},
                                                "\n", "sat", {"\t3": 0.5, "\t1": 0.5}, "\n", "mat", "\t"))
    # cat: EV over numbers only (8 x 2/3 + 6 x 1/3 = 7.33); "\t3"/"\t1" is the tab and digit in one token
    assert read_token_lines(reply, sampled=False) == [("The", 0.0), ("cat", pytest.approx(22 / 3)),
                                                      ("sat", pytest.approx(2.0)), ("mat", None)]


def test_sampled_replies_are_read_from_the_text():
    reply = Completion("The\t0\ncat\t8\nsat: 3\nmat\tmany\n\n")
    assert read_token_lines(reply, sampled=True) == [("The", 0.0), ("cat", 8.0), ("sat", 3.0), ("mat", None)]
    assert read_token_lines(Completion("dog\t12"), sampled=True) == [("dog", None)]  # off the scale


def test_align_matches_copied_tokens_in_order_and_counts_the_missing():
    values, missing = align(["The", "black", "cat", "sat"], [("the", 0.0), ("cat", 8.0), ("sat", None), ("extra", 5.0)])
    assert values[0] == 0.0 and values[2] == 8.0 and math.isnan(values[1]) and math.isnan(values[3])
    assert missing == 2
    assert align(["a"], [("a", 14.0)])[0][0] == 10.0  # clipped to the scale
    assert shown(" New\tYork ") == "New York" and shown("\n") == ""


def test_lookup_table_is_each_tokens_mean_with_the_overall_mean_for_unseen_tokens():
    table, default = lookup_table([(("a", "b"), (2.0, 0.0)), (("a", "c"), (4.0, 3.0))])
    assert table == {"a": 3.0, "b": 0.0, "c": 3.0} and default == pytest.approx(9 / 4)
    np.testing.assert_allclose(lookup_predict(table, default, ["a", "z", "b"]), [3.0, 2.25, 0.0])
    assert lookup_table([]) == ({}, 0.0)
    with pytest.raises(ValueError):
        lookup_table([(("a",), (1.0, 2.0))])


def test_grouped_bootstrap_resamples_whole_texts():
    perfect = [(np.array([0.0, 1.0, 2.0]), np.array([0.0, 2.0, 4.0]))] * 5
    assert grouped_bootstrap_ci(pearson, perfect, 100) == (pytest.approx(1.0), pytest.approx(1.0))
    rng = np.random.default_rng(0)
    groups = [(x, x + rng.normal(size=8)) for x in rng.normal(size=(30, 8))]
    r = pearson(np.concatenate([g[0] for g in groups]), np.concatenate([g[1] for g in groups]))[0]
    lo, hi = grouped_bootstrap_ci(pearson, groups, 300, seed=1)
    assert lo < r < hi and grouped_bootstrap_ci(pearson, groups, 300, seed=1) == (lo, hi)
    flat = [(np.ones(3), np.ones(3))] * 4  # every resample undefined
    assert all(math.isnan(v) for v in grouped_bootstrap_ci(pearson, flat, 50))


# --- a whole per-token run with fakes --------------------------------------------------------------

CORPUS = list(dict.fromkeys(FOOD_CORPUS)) + SMALL_GENERIC


def _token_set(**kw):
    return draw_set(WordTokenBank(), 0, CORPUS, SetConfig(n_top=4, n_random=6, excerpts="token", **kw))


def test_token_sets_hold_excerpts_ranked_by_their_highest_token_and_held_out_ones():
    s = _token_set(excerpt_tokens=5)
    assert len(s.tokens) == 10 and all(len(t) <= 5 for t in s.tokens)
    assert s.texts == tuple("".join(t) for t in s.tokens)
    assert s.responses == tuple(max(v) for v in s.token_values) and all(s.responses[:4])
    assert s.held_out and not {t for t, _ in s.held_out} & set(s.tokens)  # apart from the set
    d = s.to_dict()
    assert d["excerpts"] == "token" and d["excerpt_tokens"] == 5 and len(d["token_values"]) == 10


def test_per_token_simulation_scores_the_right_explanation_above_a_wrong_one():
    helper = ScriptedLLM(all_at_once_reply, logprobs=all_at_once_logprobs, name="all-at-once")
    cfg = ScoreConfig(scorers=("simulation", "detection"), n_boot=100,
                      set=SetConfig(n_top=4, n_random=6, excerpts="token"))
    s = _token_set()
    good, wrong = score_on_set(["pizza, pasta, bread, soup, cheese, meal, dinner, food", "stock markets"], s, "food",
                               helper, cfg)
    sim = good["simulation"]
    assert sim.value > 0.9 and wrong["simulation"].undefined_reason is None and wrong["simulation"].value < 0.5
    assert sim.n == 10 and sim.details["n_tokens"] == sum(len(t) for t in s.tokens)
    assert sim.details["layout"] == "all_at_once" and sim.details["unaligned_tokens"] == 0
    assert sim.ci_low <= sim.value <= sim.ci_high
    assert "lookup_table" in sim.details and "lookup_table_random_only" in sim.details
    assert good["detection"].n == 10  # detection reads each excerpt's highest activation
    token_prompts = [c for c in helper.calls if "Tokens of the text:" in c.prompt]
    per_explanation: dict[str, int] = {}
    for c in token_prompts:
        per_explanation[c.prompt.split('"')[1]] = per_explanation.get(c.prompt.split('"')[1], 0) + 1
    assert set(per_explanation.values()) == {10}  # one call per excerpt, for each explanation and baseline
    assert token_prompts[0].prompt.startswith(TOKEN_PROMPT.split("{explanation}")[0])


def test_per_token_simulation_without_logprobs_names_the_fallback():
    cfg = ScoreConfig(baseline=False, set=SetConfig(excerpts="token"))
    with pytest.raises(HelperLLMError, match="no token log-probabilities.*--sampled"):
        score_on_set(["food"], _token_set(), "food", ScriptedLLM(all_at_once_reply), cfg)
    r = score_on_set([", ".join(sorted(FOOD))], _token_set(), "food", ScriptedLLM(all_at_once_reply, name="plain"),
                     ScoreConfig(baseline=False, sampled=True, n_boot=50))[0]["simulation"]
    assert r.method == "sampled" and r.value > 0.5


def test_constant_token_set_is_undefined_without_a_helper_call():
    s = _token_set()
    flat = type(s)(s.texts, s.responses, s.is_top, s.config, s.corpus, s.pool, tokens=s.tokens,
                   token_values=tuple((0.0,) * len(v) for v in s.token_values))
    helper = ScriptedLLM(all_at_once_reply, logprobs=all_at_once_logprobs, name="all-at-once")
    r = score_on_set(["food"], flat, "food", helper, ScoreConfig(baseline=False))[0]["simulation"]
    assert math.isnan(r.value) and "constant" in r.undefined_reason and not helper.calls


def test_scalar_modules_are_refused_token_excerpts_by_name():
    from fakes import KeywordModule

    with pytest.raises(Exception, match="no token activations"):
        draw_set(as_bank(KeywordModule()), 0, CORPUS, SetConfig(excerpts="token"))


def test_lookup_baseline_is_fitted_on_the_held_out_excerpts():
    import dataclasses

    s = _token_set()
    # fitted on the set's own excerpts, a module that is a function of the token is predicted exactly
    own = dataclasses.replace(s, held_out=tuple(zip(s.tokens, s.token_values)))
    helper = ScriptedLLM(all_at_once_reply, logprobs=all_at_once_logprobs, name="all-at-once")
    r = score_on_set(["food"], own, "food", helper, ScoreConfig(baseline=False, n_boot=20))[0]["simulation"]
    assert r.details["lookup_table"] == pytest.approx(1.0)
    # with nothing held out there is no baseline
    none = dataclasses.replace(s, held_out=())
    assert "lookup_table" not in score_on_set(["food"], none, "food", helper,
                                              ScoreConfig(baseline=False, n_boot=20))[0]["simulation"].details


def test_sparse_layout_lists_only_the_responding_tokens():
    from sasc.scorers.simulation import align_sparse

    values, unmatched = align_sparse(["The", "cat", "saw", "the", "cat"], [("cat", 8.0), ("cat", 6.0), ("dog", 5.0)])
    np.testing.assert_allclose(values, [0, 8, 0, 0, 6])  # in order: the second "cat" is the second token named
    assert unmatched == 1
    assert align_sparse(["a", "b"], [("NONE", None)]) == (pytest.approx(np.zeros(2)), 0)

    def sparse_reply(prompt):
        if "Tokens of the text:\n" not in prompt:
            return "0"
        toks = prompt.split("Tokens of the text:\n", 1)[1].splitlines()
        hits = [t for t in toks if t.lower().strip(".,!") in FOOD]
        return "\n".join(f"{t}\t8" for t in hits) or "NONE"

    helper = ScriptedLLM(sparse_reply, name="sparse")
    cfg = ScoreConfig(baseline=False, sampled=True, n_boot=50, token_layout="sparse")
    r = score_on_set([", ".join(sorted(FOOD))], _token_set(), "food", helper, cfg)[0]["simulation"]
    assert r.value > 0.9 and r.details["layout"] == "sparse"
    assert all("\t_" not in c.prompt and "Leave out every token" in c.prompt for c in helper.calls)
    with pytest.raises(ConfigError, match="unknown token layout"):
        ScoreConfig(token_layout="dense")


def test_fuzzing_on_token_excerpts_marks_the_word_of_the_most_active_token():
    from sasc.scorers.fuzzing import FuzzingScorer, token_marks

    marks = token_marks(["I ate pizza.", "Shares fell", "a b"], [True, False, True],
                        [("I", " ate", " pi", "zza", "."), ("Shares", " fell"), ("a", " b")],
                        [(0, 0, 0.2, 0.9, 0), (0.1, 0.3), (0.5, 0.5)])
    assert marks == (("pizza",), ("fell",), ())  # the word holding "zza"; nothing to mark in a flat top excerpt
    assert token_marks(["..."], [True], [(".", ".", ".")], [(0, 1, 0)]) == ((),)  # no word at all
    s = FuzzingScorer().prepare(_token_set(), WordTokenBank(), 0)
    for text, top, m in zip(s.texts, s.is_top, s.marks):
        if top:
            assert len(m) == 1 and m[0].lower().strip(".,!") in FOOD and m[0] in text
    helper = ScriptedLLM(all_at_once_reply, logprobs=all_at_once_logprobs, name="fuzz-tokens")
    r = score_on_set([", ".join(sorted(FOOD))], s, "food", helper,
                     ScoreConfig(scorers=("fuzzing",), baseline=False, n_boot=50))[0]["fuzzing"]
    assert r.undefined_reason is None and r.value > 0.5  # the marked food words are judged right


def test_explain_then_score_every_candidate_on_token_excerpts(tmp_path):
    import sasc
    from fakes import topical_reply

    from sasc.scorers.run import add_scores

    def reply(prompt):
        return all_at_once_reply(prompt) if "Tokens of the text:" in prompt or "Answer" in prompt else topical_reply(prompt)

    helper = ScriptedLLM(reply, logprobs=all_at_once_logprobs, name="explain-tokens")
    config = sasc.ExplainConfig(n_candidates=2, n_synthetic=3, n_bootstrap=50, n_generic=5)
    result = sasc.explain(WordTokenBank(), corpus=CORPUS, generic=SMALL_GENERIC, helper=helper, config=config,
                          cache_dir=tmp_path)
    cfg = ScoreConfig(scorers=("simulation",), n_boot=50, set=SetConfig(n_top=3, n_random=3, excerpts="token"))
    scored = add_scores(result, WordTokenBank(), corpus=CORPUS, helper=helper, cache_dir=tmp_path, config=cfg)
    unit = scored.units[0]
    assert unit.scoring_set["excerpts"] == "token" and unit.scoring_set["tokens"]
    sims = [c.scores["simulation"] for c in unit.candidates if c.scores]
    assert sims and all(s["details"]["layout"] == "all_at_once" for s in sims)


# --- the per_word layout: one yes/no question per word -------------------------------------------


def test_words_group_glued_tokens_and_skip_whitespace():
    from sasc.scorers.simulation import words_of

    assert words_of(["The", " cat", "s", " sat", ".", "\n", "Then", " ", " it", " ran", "!"]) == [
        ("The", [0]), ("cats", [1, 2]), ("sat.", [3, 4]), ("Then", [6]), ("it", [8]), ("ran!", [9, 10])]
    assert words_of([]) == [] and words_of([" ", "\n"]) == []


def test_word_questions_share_the_prefix_and_number_repeated_words():
    from sasc.scorers.simulation import WORD_PROMPT, word_questions

    prompts, groups = word_questions("cats", ["The", " cat", " saw", " the", " cat", "."])
    prefix = WORD_PROMPT.format(explanation="cats", text="The cat saw the cat.")
    assert all(p.startswith(prefix) for p in prompts)
    assert [p[len(prefix):] for p in prompts] == ['"The"', '"cat"', '"saw"', '"the" (occurrence 2)',
                                                  '"cat" (occurrence 2)']
    assert groups == [[0], [1], [2], [3], [4, 5]]  # the full stop is predicted with the word it is glued to


def test_yes_no_value_maps_clipped_log_odds_onto_0_to_10():
    from sasc.scorers.simulation import LOG_ODDS_RANGE, yes_no_value

    assert yes_no_value([("yes", math.log(0.5)), ("no", math.log(0.5))]) == pytest.approx(5.0)
    # odds 10:1 (variants in case and spacing add up): 5 + 5 * ln(10) / 8
    both = [("Yes", math.log(0.6)), (" yes", math.log(0.3)), ("no", math.log(0.09)), ("x", math.log(0.01))]
    assert yes_no_value(both) == pytest.approx(5 + 5 * math.log(10) / LOG_ODDS_RANGE)
    # "yes" missing: taken as likely as the least likely alternative listed (odds e^-5), clipped at 0
    assert yes_no_value([("No", -0.01), ("x", -5.0)]) == pytest.approx(5 + 5 * (-5.0 + 0.01) / LOG_ODDS_RANGE)
    assert yes_no_value([("no", -0.0001), ("x", -20.0)]) == 0.0 and yes_no_value([("x", -0.1)]) is None


def per_word_logprobs(prompt: str) -> dict[str, float]:
    """A helper answering the per_word question: yes (0.9) when the named word is a word of the
    explanation, else no (0.95); other prompts as the all-at-once fake."""
    if "\nWord: " not in prompt:
        return all_at_once_logprobs(prompt)
    expl = set(re.findall(r"\w+", prompt.split("Explanation: ", 1)[1].split("\n", 1)[0].lower()))
    word = prompt.rsplit("\nWord: ", 1)[1].split('"')[1].lower()
    return {"yes": 0.9, "no": 0.1} if word in expl else {"no": 0.95, "yes": 0.05}


def per_word_reply(prompt: str) -> str:
    if "\nWord: " not in prompt:
        return all_at_once_reply(prompt)
    probs = per_word_logprobs(prompt)
    return max(probs, key=probs.get)


def test_per_word_layout_scores_the_right_explanation_above_a_wrong_one_with_one_call_per_word():
    from sasc.scorers.simulation import words_of

    helper = ScriptedLLM(per_word_reply, logprobs=per_word_logprobs, name="per-word")
    cfg = ScoreConfig(baseline=False, n_boot=100, token_layout="per_word")
    s = _token_set()
    good, wrong = score_on_set([", ".join(sorted(FOOD)), "stock markets"], s, "food", helper, cfg)
    sim = good["simulation"]
    assert sim.value > 0.9 and wrong["simulation"].value < 0.5 and sim.ci_low <= sim.value <= sim.ci_high
    assert sim.details["layout"] == "per_word" and sim.details["unanswered_words"] == 0
    asked = [c for c in helper.calls if "\nWord: " in c.prompt]
    assert len(asked) == 2 * sum(len(words_of(t)) for t in s.tokens)  # both explanations, every word
    assert all(c.sampling.reuse_prefix and c.sampling.top_logprobs > 0 for c in asked)
    # sampled replies: yes is 10, no is 0
    r = score_on_set([", ".join(sorted(FOOD))], s, "food", ScriptedLLM(per_word_reply, name="plain"),
                     ScoreConfig(baseline=False, sampled=True, n_boot=50, token_layout="per_word"))[0]["simulation"]
    assert r.method == "sampled" and r.value > 0.9


def test_per_word_layout_counts_replies_that_are_no_answer():
    helper = ScriptedLLM(lambda p: "maybe" if "\nWord: " in p else "0", logprobs=lambda p: {"maybe": 1.0},
                         name="evasive")
    s = _token_set()
    r = score_on_set(["food"], s, "food", helper, ScoreConfig(baseline=False, n_boot=20,
                                                               token_layout="per_word"))[0]["simulation"]
    from sasc.scorers.simulation import words_of

    assert r.details["unanswered_words"] == sum(len(words_of(t)) for t in s.tokens)
    assert r.undefined_reason is not None  # every prediction 0: the correlation is undefined


def test_per_word_whitespace_tokens_get_the_excerpts_lowest_word_value():
    from sasc.scorers.base import ScoringRecord
    from sasc.scorers.simulation import LOG_ODDS_RANGE, simulate_tokens

    toks = ("Fresh", " bread", ".", "\n", " Stock", " prices")
    record = ScoringRecord("u", "bread", ("".join(toks),), (1.0,), (True,), tokens=(toks,),
                           token_values=((0.0, 1.0, 1.0, 0.0, 0.0, 0.0),), token_layout="per_word")
    helper = ScriptedLLM(per_word_reply, logprobs=per_word_logprobs, name="per-word")
    (pred,), missing = simulate_tokens(record, helper)
    yes, no = 5 + 5 * math.log(9) / LOG_ODDS_RANGE, 5 - 5 * math.log(19) / LOG_ODDS_RANGE
    np.testing.assert_allclose(pred, [no, yes, yes, no, no, no])  # "." goes with "bread"; "\n" with the lowest
    assert missing == 0 and len(helper.calls) == 4


class PrefixReusingLLM(ScriptedLLM):
    """A fake backend that says it keeps a shared prompt prefix, as the embedded llama.cpp helper does."""

    reuses_prefix = True


def test_auto_layout_is_per_word_with_a_prefix_reusing_backend_and_bills_otherwise():
    from sasc.llm.factory import wrap_helper
    from sasc.scorers.simulation import TOKEN_LAYOUTS, resolve_token_layout

    assert ScoreConfig().token_layout == "auto"
    reusing = wrap_helper(PrefixReusingLLM(per_word_reply, logprobs=per_word_logprobs, name="reusing"), None)
    plain = wrap_helper(ScriptedLLM(all_at_once_reply, logprobs=all_at_once_logprobs, name="plain"), None)
    assert resolve_token_layout("auto", reusing) == "per_word"  # read through the wrappers
    assert resolve_token_layout("auto", plain) == "all_at_once"
    assert all(resolve_token_layout(lay, reusing) == lay for lay in TOKEN_LAYOUTS)  # an explicit choice stands
    s = _token_set()
    by_auto = score_on_set(["food"], s, "food", reusing, ScoreConfig(baseline=False, n_boot=20))[0]["simulation"]
    assert by_auto.details["layout"] == "per_word"  # the result names the layout used, not "auto"
    by_plain = score_on_set(["food"], s, "food", plain, ScoreConfig(baseline=False, n_boot=20))[0]["simulation"]
    assert by_plain.details["layout"] == "all_at_once"
    with pytest.raises(ConfigError, match="auto"):  # the error lists every choice
        ScoreConfig(token_layout="one_by_one")


def test_a_pool_cache_kept_across_units_runs_the_pool_through_the_module_once():
    from sasc.corpora import Corpus
    from sasc.scorers.run import draw_prepared_set

    class Counting(WordTokenBank):
        units = ["food", "food too"]
        passes = 0

        def token_responses(self, texts):
            Counting.passes += 1
            return [type(r)(r.tokens, np.repeat(r.values, 2, axis=1)) for r in super().token_responses(texts)]

    bank, corpus = Counting(), Corpus("tiny", list(CORPUS))
    cfg = ScoreConfig(scorers=("simulation",), set=SetConfig(n_top=4, n_random=6, excerpts="token"))
    alone = [draw_prepared_set(bank, col, corpus, cfg) for col in (0, 1)]
    assert Counting.passes == 2
    pools: dict = {}
    shared = [draw_prepared_set(bank, col, corpus, cfg, pool_cache=pools) for col in (0, 1)]
    assert Counting.passes == 3 and shared == alone  # one more pass for both units, the same sets
