"""The fuzzing scorer (delphi): marking math on fixed inputs, the exact prompt, the scorer with a fake helper."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from fakes import FOOD_CORPUS, SMALL_GENERIC, KeywordModule, judging_logprobs, judging_reply

from sasc.errors import ConfigError, HelperReplyError
from sasc.llm import ScriptedLLM
from sasc.modules.base import as_bank
from sasc.scorers import SCORERS, ScoreConfig, ScoringRecord, SetConfig, draw_set, score_on_set
from sasc.scorers.fuzzing import (PROMPT, FuzzingScorer, find_spans, fuzz_samples, mark, ngram_spans, random_spans,
                                  span_text, top_spans)

CORPUS = list(dict.fromkeys(FOOD_CORPUS)) + SMALL_GENERIC + [
    "Fresh bread and cheese for the evening meal.", "The council voted on the new road plan."]
GOOD = "food, cooking, pizza, pasta, bread, soup, cheese, meal, dinner"
WRONG = "stock markets, investors, police, shooting"


# --- pure marking math -------------------------------------------------------------------------

def test_ngram_spans_stay_inside_a_segment():
    # "a b. c": segments [a b] [c]; 1..2-grams: (0,1) (0,2) (1,2) (2,3) -- never across the period
    assert ngram_spans("a b. c", max_n=2) == [(0, 1), (0, 2), (1, 2), (2, 3)]
    assert ngram_spans("one two three", max_n=3) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert ngram_spans("", 3) == [] and ngram_spans("...", 3) == []
    assert span_text("Hot, fresh pizza!", (1, 3)) == "fresh pizza"


def test_top_spans_are_greedy_non_overlapping_with_ties_broken():
    spans = [(0, 1), (0, 2), (1, 2), (2, 3), (3, 4)]
    values = [0.5, 0.9, 0.8, 0.9, 0.1]
    # 0.9 at (0,2) and (2,3): the earlier start first; (1,2) overlaps (0,2); (0,1) too; then (3,4)
    assert top_spans(spans, values, 2) == [(0, 2), (2, 3)]
    assert top_spans(spans, values, 3) == [(0, 2), (2, 3), (3, 4)]
    assert top_spans(spans, values, 9) == [(0, 2), (2, 3), (3, 4)]  # no more fit
    # equal value and start: the shorter span wins
    assert top_spans([(0, 2), (0, 1)], [1.0, 1.0], 1) == [(0, 1)]
    assert top_spans([], [], 1) == []


def test_mark_writes_double_brackets_and_escapes_existing_ones():
    text = "Fresh bread, and <<cheese>> tonight."
    # words: Fresh bread and cheese tonight -> mark "bread" (1,2) and "cheese tonight" (3,5)
    # the text's own "<<" and ">>" become "<" and ">"
    assert mark(text, [(3, 5), (1, 2)]) == "Fresh <<bread>>, and <<<cheese> tonight>>."
    assert mark("pizza now", [(0, 1)]) == "<<pizza>> now"
    assert mark("a b c", []) == "a b c"


def test_find_spans_takes_the_first_free_occurrence():
    assert find_spans("the cat and the cat", ["the cat", "the cat"]) == [(0, 2), (3, 5)]
    assert find_spans("the cat and the cat", ["cat", "the"]) == [(1, 2), (0, 1)]
    with pytest.raises(ConfigError, match="'dog' is not in the text"):
        find_spans("the cat", ["dog"])


def test_random_spans_avoid_the_given_spans_and_fit_or_give_none():
    rng = random.Random(0)
    for _ in range(50):
        s = random_spans(6, [2, 1], [(1, 3)], rng)
        assert s is not None and len(s) == 2 and [b - a for a, b in s] == [2, 1]
        assert all(b <= 6 and not (a < 3 and 1 < b) for a, b in s)  # disjoint from (1,3)
        assert not (s[0][0] < s[1][1] and s[1][0] < s[0][1])  # disjoint from each other
    # 3 words, (0,2) taken: only (2,3) is free for a 1-word span, nothing for a 2-word one
    assert random_spans(3, [1], [(0, 2)], random.Random(1)) == [(2, 3)]
    assert random_spans(3, [2], [(0, 2)], random.Random(1)) is None


def test_fuzz_samples_known_layout():
    texts = ["I ate hot pizza today", "The train was late", "pizza"]
    samples = fuzz_samples(texts, [True, False, True], [("pizza",), ("late",), ("pizza",)], seed=3)
    kinds = [(s.source, s.kind, s.correct) for s in samples]
    # text 0: correct + shifted; text 1 (random): randomly marked; text 2: one word, no room for a wrong mark
    assert kinds == [(0, "top_marked", True), (0, "top_shifted", False), (1, "random_text", False),
                     (2, "top_marked", True)]
    assert samples[0].text == "I ate hot <<pizza>> today"
    assert samples[1].text.count("<<") == 1 and "<<pizza>>" not in samples[1].text
    assert samples[2].text.count("<<") == 1
    assert fuzz_samples(texts, [True, False, True], [("pizza",), ("late",), ("pizza",)], seed=3) == samples
    assert fuzz_samples(["a b"], [True], [()]) == []  # nothing to mark


def test_prompt_is_exact():
    assert PROMPT.format(explanation="food", text="I ate <<pizza>>") == (
        'A unit of a language-processing model is described by this explanation:\n"food"\n\n'
        "In the text below, the words between << and >> are marked as the words the unit responds to most "
        'strongly.\n\nText: "I ate <<pizza>>"\n\n'
        "Does the explanation describe the marked words, so that the marking is correct? Answer yes or no.")


# --- the scorer with a fake helper that returns logprobs ---------------------------------------

def _set(n_top=4, n_random=6):
    bank = as_bank(KeywordModule())
    s = draw_set(bank, 0, CORPUS, SetConfig(n_top=n_top, n_random=n_random, seed=0, sentences=False))
    return FuzzingScorer().prepare(s, bank, 0)


def test_prepare_marks_each_texts_top_ngram_by_the_module():
    s = _set()
    assert len(s.marks) == len(s.texts) and all(len(m) == 1 for m in s.marks)
    # the keyword module's share of food words is highest for a 1-gram food word
    for text, (g,), top in zip(s.texts, s.marks, s.is_top):
        assert g in text
        if top:
            assert g.lower() in KeywordModule().words
    assert s.to_dict()["marks"] == [list(m) for m in s.marks]


def _expected_balanced_accuracy(s, explanation):
    """What the fake must score: it says yes exactly when a marked word is in the explanation."""
    import re

    words = set(re.findall(r"\w+", explanation.lower()))
    samples = fuzz_samples(s.texts, s.is_top, s.marks, seed=0)
    yes = [bool(set(re.findall(r"\w+", " ".join(re.findall(r"<<(.*?)>>", x.text)).lower())) & words) for x in samples]
    pos = [y for y, x in zip(yes, samples) if x.correct]
    neg = [not y for y, x in zip(yes, samples) if not x.correct]
    return (sum(pos) / len(pos) + sum(neg) / len(neg)) / 2


def test_fuzzing_tells_the_right_explanation_from_a_wrong_one():
    helper = ScriptedLLM(judging_reply, logprobs=judging_logprobs)
    s = _set()
    good, wrong = score_on_set([GOOD, WRONG], s, "food", helper, ScoreConfig(scorers=("fuzzing",), n_boot=200))
    g, w = good["fuzzing"], wrong["fuzzing"]
    # every correct mark is a food word (yes); some random marks of the top texts land on another food
    # word (a fair "yes" too: the keyword module responds to it as much), so the value is below 1
    assert g.value == pytest.approx(_expected_balanced_accuracy(s, GOOD)) and 0.75 < g.value < 1.0
    # the wrong one says no to every food word and to every other mark of this draw: chance, 0.5
    assert w.value == pytest.approx(_expected_balanced_accuracy(s, WRONG)) == pytest.approx(0.5)
    assert g.details["tnr_random_text"] == 1.0 and g.details["auroc"] > 0.8
    assert g.n == g.details["n_top_marked"] + g.details["n_top_shifted"] + g.details["n_random_text"]
    assert g.details["n_top_marked"] == 4 and g.details["n_random_text"] == 6
    assert g.ci_low <= g.value <= g.ci_high
    assert g.baseline is not None and g.baseline < g.value
    prompts = [c.prompt for c in helper.calls]
    assert sum("<<" in p for p in prompts) == len(prompts)  # every fuzzing prompt has marks
    assert "fuzzing" in SCORERS.names()


def test_fuzzing_needs_marks_and_is_undefined_without_both_kinds_of_marking():
    helper = ScriptedLLM(judging_reply, logprobs=judging_logprobs)
    rec = ScoringRecord("u", GOOD, ("pizza now",), (1.0,), (True,))
    with pytest.raises(ConfigError, match="top n-grams"):
        FuzzingScorer()(rec, helper)
    only_top = ScoringRecord("u", GOOD, ("pizza", "soup"), (1.0, 0.5), (True, True),
                             (("pizza",), ("soup",)))  # one-word top texts: no room for a wrong mark
    r = FuzzingScorer()(only_top, helper)
    assert math.isnan(r.value) and "no random marking fits" in r.undefined_reason
    empty = ScoringRecord("u", GOOD, (), (), (), ())
    r = FuzzingScorer()(empty, helper)
    assert r.n == 0 and r.undefined_reason == "the scoring set is empty" and r.to_dict()["value"] is None
    unmarked = ScoringRecord("u", GOOD, ("...", "a b c"), (1.0, 0.0), (True, False), ((), ("a",)))
    r = FuzzingScorer()(unmarked, helper)
    assert r.n == 1 and "no top text has a word to mark" in r.undefined_reason
    assert not helper.calls
    with pytest.raises(ConfigError):
        FuzzingScorer(n_marks=0)


def test_fuzzing_reply_that_is_no_answer_is_an_error_quoting_it():
    helper = ScriptedLLM(lambda p: "Perhaps, partly.")
    with pytest.raises(HelperReplyError, match="Perhaps, partly"):
        score_on_set([GOOD], _set(), "food", helper, ScoreConfig(scorers=("fuzzing",), sampled=True, baseline=False))


def test_fuzzing_with_sampled_answers_is_marked_sampled():
    helper = ScriptedLLM(judging_reply)
    r = score_on_set([GOOD], _set(), "food", helper,
                     ScoreConfig(scorers=("fuzzing",), sampled=True, baseline=False, n_boot=50))[0]["fuzzing"]
    assert r.method == "sampled" and r.value == pytest.approx(_expected_balanced_accuracy(_set(), GOOD))
    assert np.isfinite(r.ci_low)


def test_sasc_score_with_fuzzing_records_the_marks(tmp_path, capsys):
    import json

    from fakes import topical_reply

    from sasc.cli import main
    from sasc.llm.factory import HELPER_BACKENDS
    from sasc.modules import register_kind

    register_kind("test_keyword", lambda: KeywordModule(), replace=True)
    HELPER_BACKENDS.register("judging", lambda arg, **_: ScriptedLLM(
        lambda p: judging_reply(p) if "A unit of a language-processing model" in p else topical_reply(p),
        logprobs=judging_logprobs), replace=True)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"text": t}) for t in CORPUS))
    out = tmp_path / "scores.json"
    assert main(["score", "--module", "test_keyword", "--helper", "judging", "--corpus", str(corpus), "-e", GOOD,
                 "--scorers", "fuzzing,detection", "--n-top", "4", "--n-random", "6", "--whole-texts",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    f = report["explanations"][0]["scores"]["fuzzing"]
    assert f["value"] > 0.75 and f["n"] == f["details"]["n_top_marked"] + f["details"]["n_top_shifted"] + 6
    assert f["baseline"] is not None and f["baseline"] < f["value"]
    marks = report["scoring_set"]["marks"]
    assert len(marks) == 10 and all(m[0] in t for m, t in zip(marks, report["scoring_set"]["texts"]))
    assert "fuzzing" in capsys.readouterr().out


def test_constant_sets_and_flat_texts_are_undefined_or_unmarked():
    helper = ScriptedLLM(judging_reply, logprobs=judging_logprobs)
    s = _set()
    flat = type(s)(s.texts, (0.5,) * len(s.texts), s.is_top, s.config, s.corpus, s.pool, s.marks)
    r = score_on_set([GOOD], flat, "food", helper, ScoreConfig(scorers=("fuzzing", "detection"), baseline=False))[0]
    for name in ("fuzzing", "detection"):
        assert math.isnan(r[name].value) and r[name].undefined_reason == \
            "the module's responses are constant over the scoring set", name
    assert not helper.calls
    # a module that gives every n-gram the same response: no top text has a top n-gram to mark
    # (a random text's first word still gives the length of its random span)
    bank = as_bank(lambda texts: np.ones(len(texts), dtype=np.float32))
    marked = FuzzingScorer().prepare(s, bank, 0)
    assert [m for m, top in zip(marked.marks, s.is_top) if top] == [()] * sum(s.is_top)
    assert all(len(m) == 1 for m, top in zip(marked.marks, s.is_top) if not top)
