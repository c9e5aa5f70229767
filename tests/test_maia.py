"""The ``maia`` scorer (MAIA's evaluation protocol): its pure parts on fixed inputs, and a whole
comparison with a scripted helper on a keyword module: the right explanation picks texts that drive
the module, a wrong one does not."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from fakes import FOOD_CORPUS, FOOD_WORDS, KeywordModule

from sasc.llm import ScriptedLLM
from sasc.scorers import ScoreConfig
from sasc.scorers.maia import N_EACH, maia_score, parse_picks
from sasc.scorers.run import score_explanations


def test_parse_picks_keeps_valid_distinct_numbers():
    assert parse_picks('{"most": [1, 2], "least": [3, 9]}', 5, 2) == ([0, 1], [2])
    assert parse_picks('{"most": [2, 2, 0, 4.0, true], "least": [2, 5]}', 5, 3) == ([1, 3], [4])
    assert parse_picks('{"most": [1, 2, 3], "least": [4, 5, 6]}', 6, 2) == ([0, 1], [3, 4])
    assert parse_picks("no json", 5, 2) == ([], []) and parse_picks('["most"]', 5, 2) == ([], [])


def test_maia_score_known_values():
    assert maia_score([3.0, 5.0], [1.0, 1.0], 2.0) == (1.5, None)
    assert np.isnan(maia_score([], [1.0], 1.0)[0]) and "no texts" in maia_score([], [1.0], 1.0)[1]
    assert "constant" in maia_score([1.0], [0.0], 0.0)[1]


def _reply(prompt: str) -> str:
    """Writes on-topic texts (food words when the explanation is about food) and neutral ones; picks
    the texts that share the explanation's words (or food words, for a food explanation) as most."""
    expl = set(re.findall(r"\w+", prompt.split('"')[1].lower()))
    food = bool(expl & FOOD_WORDS)
    if prompt.startswith("A unit of a text model") and "numbered texts" not in prompt:
        if food:
            act = [f"We had pizza and soup for dinner, meal number {i}." for i in range(N_EACH)]
        else:
            act = [f"The {w} report number {i} was long." for i, w in zip(range(N_EACH), sorted(expl) * N_EACH)]
        neutral = [f"The bus left the station at {i} o'clock." for i in range(N_EACH)]
        return json.dumps({"activating": act, "neutral": neutral})
    lines = re.findall(r"^(\d+)\. (.*)$", prompt, re.M)
    words = FOOD_WORDS if food else expl

    def hits(t: str) -> int:
        return sum(w in words for w in re.findall(r"\w+", t.lower()))

    order = sorted(lines, key=lambda nl: (-hits(nl[1]), int(nl[0])))
    most = [int(n) for n, _ in order[:N_EACH]]
    least = [int(n) for n, _ in order[::-1][:N_EACH]]
    return json.dumps({"most": most, "least": least})


def test_the_right_explanation_picks_texts_that_drive_the_module(tmp_path):
    helper = ScriptedLLM(_reply)
    report = score_explanations(KeywordModule(), ["pizza, soup and dinner meals", "trains and buses"],
                                corpus=FOOD_CORPUS, helper=helper,
                                config=ScoreConfig(scorers=("maia",), baseline=False), cache_dir=tmp_path)
    good, wrong = (e["scores"]["maia"] for e in report["explanations"])
    assert good["value"] > 1.0 and good["ci"][0] <= good["value"] <= good["ci"][1]
    assert wrong["value"] < good["value"] and good["method"] == "picked" and good["n"] == 2 * N_EACH
    assert good["details"]["pool"] == 3 * N_EACH  # both explanations' texts in one pool, the shared neutral ones once
    assert all("pizza" in t for t in good["details"]["most"])
    # one helper call per explanation to write, one per explanation to pick
    assert len(helper.calls) == 4
