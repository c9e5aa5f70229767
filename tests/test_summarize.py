import pytest

from sasc.llm import ScriptedLLM
from sasc.llm.base import Sampling
from sasc.summarize import choose_subsets, clean_explanation, summarize, summary_prompt


def test_prompt_exact_string():
    assert summary_prompt(["pizza", "hot soup"]) == (
        "Here is a list of phrases:\n"
        "- pizza\n"
        "- hot soup\n"
        "What is a common theme among these phrases?\n"
        "Answer in English with the theme only, as a short phrase of at most 8 words."
    )


@pytest.mark.parametrize("reply,expected", [
    ('The common theme among these phrases is "food", because they all name dishes.', "food"),
    ("The common theme among these phrases is cooking and eating.", "cooking and eating"),
    ("Irony is a common theme among these phrases", "Irony"),
    ("Religion vs. Secularity", "Religion vs. Secularity"),
    ("U.S. politics. They all mention elections.", "U.S. politics"),
    ("Food etc. and drinks", "Food etc. and drinks"),
    ("Sports are the main topic.", "Sports"),
    ("Theme parks and rides", "Theme parks and rides"),
    ("**Food and drink**", "Food and drink"),
    ("Theme: violence and crime - most phrases mention attacks", "violence and crime"),
    ("These phrases are all related to sports, such as football", "sports"),
    ("Numbers and quantities; many phrases contain digits", "Numbers and quantities"),
    ("  family relationships  ", "family relationships"),
    ("The common theme is emotions. They express feelings.", "emotions"),
])
def test_clean_explanation(reply, expected):
    assert clean_explanation(reply) == expected


def test_subsets_are_rank_ordered_and_seeded():
    subsets = choose_subsets(50, 30, 4, seed=7)
    assert len(subsets) == 4 and all(len(s) == 30 and s == sorted(s) for s in subsets)
    assert all(0 <= i < 50 for s in subsets for i in s)
    assert subsets == choose_subsets(50, 30, 4, seed=7)
    assert subsets != choose_subsets(50, 30, 4, seed=8)
    assert choose_subsets(10, 30, 1, seed=0) == [list(range(10))]


def test_summarize_dedupes_and_records_ngrams():
    llm = ScriptedLLM(["Food.", "the food", "Sports - mostly football", ""])
    ranked = [f"g{i}" for i in range(50)]
    cands = summarize(llm, ranked, n_candidates=4, seed=0, sampling=Sampling(temperature=0.5, seed=3))
    assert [c.explanation for c in cands] == ["Food", "Sports"]
    assert all(len(c.ngrams) == 30 for c in cands)
    prompt_lines = llm.calls[0].prompt.split("\n")[1:31]
    assert [ln.removeprefix("- ") for ln in prompt_lines] == cands[0].ngrams
    seeds = [c.sampling.seed for c in llm.calls]
    assert len(set(seeds)) == 4  # each candidate its own seed, reproducibly
    assert all(c.sampling.temperature == 0.5 for c in llm.calls)
