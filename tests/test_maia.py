"""The ``maia`` scorer (MAIA's evaluation protocol): its pure parts on fixed inputs, and a whole
comparison with a scripted helper on a keyword module: the right explanation picks texts that drive
the module, a wrong one does not."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from fakes import FOOD_CORPUS, FOOD_WORDS, KeywordModule, judging_logprobs

from sasc.llm import ScriptedLLM
from sasc.scorers import ScoreConfig
from sasc.scorers.maia import N_EACH, maia_score, pick
from sasc.scorers.run import score_explanations


def test_pick_takes_the_highest_and_lowest_rated_apart():
    assert pick([3, 9, 1, 5], 1) == ([1], [2])
    assert pick([3, 9, 1, 5], 2) == ([1, 3], [2, 0])
    assert pick([2, 2, 2, 2], 2) == ([0, 1], [2, 3])  # ties: the earlier index; the sides never overlap
    assert pick([5, 1, 4], 3) == ([0], [1])  # at most half the texts each way


def test_maia_score_known_values():
    assert maia_score([3.0, 5.0], [1.0, 1.0], 2.0) == (1.5, None)
    assert np.isnan(maia_score([], [1.0], 1.0)[0]) and "no texts" in maia_score([], [1.0], 1.0)[1]
    assert "constant" in maia_score([1.0], [0.0], 0.0)[1]


def _reply(prompt: str) -> str:
    """Writes on-topic texts (food words when the explanation is about food) and neutral ones."""
    expl = set(re.findall(r"\w+", prompt.split('"')[1].lower()))
    if expl & FOOD_WORDS:
        act = [f"We had pizza and soup for dinner, meal number {i}." for i in range(N_EACH)]
    else:
        act = [f"The {w} report number {i} was long." for i, w in zip(range(N_EACH), sorted(expl) * N_EACH)]
    neutral = [f"The bus left the station at {i} o'clock." for i in range(N_EACH)]
    return json.dumps({"activating": act, "neutral": neutral})


def test_the_right_explanation_picks_texts_that_drive_the_module(tmp_path):
    helper = ScriptedLLM(_reply, logprobs=judging_logprobs)  # rates a text by its words in the explanation
    report = score_explanations(KeywordModule(), ["pizza, soup and dinner meals", "trains and buses"],
                                corpus=FOOD_CORPUS, helper=helper,
                                config=ScoreConfig(scorers=("maia",), baseline=False), cache_dir=tmp_path)
    good, wrong = (e["scores"]["maia"] for e in report["explanations"])
    assert good["value"] > 1.0 and good["ci"][0] <= good["value"] <= good["ci"][1]
    assert wrong["value"] < good["value"] and good["method"] == "logprobs" and good["n"] == 2 * N_EACH
    assert good["details"]["pool"] == 3 * N_EACH  # both explanations' texts in one pool, the shared neutral ones once
    assert all("pizza" in t for t in good["details"]["most"])
    # per explanation one call to write, then one rating per pool text
    assert len(helper.calls) == 2 + 2 * 3 * N_EACH
