import json
from collections import Counter

import pytest

from sasc.errors import ConfigError, HelperReplyError
from sasc.llm import ScriptedLLM
from sasc.synthetic import (parse_list, screen_texts, text_key, sentences_schema, split_count, style_parts, synthetic_prompt,
                            synthetic_texts)


def test_prompts_exact():
    assert synthetic_prompt("food", 3) == (
        "Write 3 short, varied sentences (at most 15 words each) that are each clearly about: food.\n"
        'Reply with JSON of the form {"sentences": ["...", "..."]} and nothing else.')
    assert synthetic_prompt("food", 3, related=False) == (
        "Write 3 short, varied sentences (at most 15 words each) on everyday topics that have nothing to do "
        "with: food.\n"
        'Reply with JSON of the form {"sentences": ["...", "..."]} and nothing else.')
    assert sentences_schema(4)["properties"]["sentences"]["maxItems"] == 4
    assert synthetic_prompt("praise", 2, style="example") == (
        "Write 2 short, varied texts (at most 15 words each) that are each an example of: praise.\n"
        "Write the texts themselves (what such a text says), not sentences about the topic.\n"
        'Reply with JSON of the form {"sentences": ["...", "..."]} and nothing else.')
    assert synthetic_prompt("praise", 2, related=False, style="example") == synthetic_prompt("praise", 2, related=False)


def test_unknown_synthetic_style_is_a_config_error():
    with pytest.raises(ConfigError, match="'about', 'example', 'mixed'"):
        synthetic_prompt("food", 3, style="poem")
    with pytest.raises(ConfigError, match="mixes several prompts"):
        synthetic_prompt("food", 3, style="mixed")  # a mixed style has no single prompt


@pytest.mark.parametrize("k,n,expected", [(10, 2, [5, 5]), (5, 2, [3, 2]), (1, 2, [1, 0]), (3, 1, [3])])
def test_split_count(k, n, expected):
    assert split_count(k, n) == expected


def test_mixed_style_asks_each_style_for_its_share():
    def reply(prompt):
        k = int(prompt.split()[1])
        kind = "about" if "clearly about" in prompt else "example"
        return json.dumps({"sentences": [f"{kind} text {i}" for i in range(k)]})

    llm = ScriptedLLM(reply)
    out = synthetic_texts(llm, "praise", k=5, style="mixed")
    assert style_parts("mixed") == ("about", "example") and style_parts("about") == ("about",)
    assert [c.prompt for c in llm.calls] == [synthetic_prompt("praise", 3, style="about"),
                                            synthetic_prompt("praise", 2, style="example")]
    assert out == ["about text 0", "about text 1", "about text 2", "example text 0", "example text 1"]
    unrelated = ScriptedLLM(reply)
    synthetic_texts(unrelated, "praise", k=4, related=False, style="mixed")  # one wording for unrelated texts
    assert [c.prompt for c in unrelated.calls] == [synthetic_prompt("praise", 4, related=False)]


@pytest.mark.parametrize("reply,expected", [
    ('{"sentences": ["I ate 3 apples.", "Soup at 7.5 degrees"]}', ["I ate 3 apples.", "Soup at 7.5 degrees"]),
    ('```json\n["a b", "c d"]\n```', ["a b", "c d"]),
    ("Here are some sentences:\n1. I paid 2.50 for bread.\n2. We ate at 8. Then slept.\n3) Pasta",
     ["I paid 2.50 for bread.", "We ate at 8. Then slept.", "Pasta"]),
    ("1. I paid 2 dollars 2. It cost 3.5 euros 3. done", ["I paid 2 dollars", "It cost 3.5 euros", "done"]),
    ("- one\n* two\n• three\n- one", ["one", "two", "three"]),
    ("In 1999. the year 2000 came", ["In 1999. the year 2000 came"]),
])
def test_parse_list_is_robust_to_digits(reply, expected):
    assert parse_list(reply) == expected


def test_synthetic_texts_fill_k_with_retries_and_schema():
    replies = [json.dumps({"sentences": ["a one", "b two"]}), json.dumps({"sentences": ["b two", "c three", "d"]})]
    llm = ScriptedLLM(replies)
    out = synthetic_texts(llm, "letters", k=4)
    assert out == ["a one", "b two", "c three", "d"]
    assert llm.calls[0].json_schema == sentences_schema(4)
    assert llm.calls[0].sampling.seed != llm.calls[1].sampling.seed
    # the retry asks only for the two texts still missing
    assert llm.calls[1].prompt == synthetic_prompt("letters", 2) and llm.calls[1].json_schema == sentences_schema(2)


def test_schema_asks_for_exactly_k_texts():
    items = sentences_schema(7)["properties"]["sentences"]
    assert (items["minItems"], items["maxItems"]) == (7, 7)


def test_synthetic_texts_error_when_nothing_usable():
    with pytest.raises(HelperReplyError, match="no usable text"):
        synthetic_texts(ScriptedLLM(["", "   ", "{}"]), "x", k=3)


def test_zero_texts_asks_the_helper_nothing():
    llm = ScriptedLLM(["1. never read"])
    assert synthetic_texts(llm, "x", k=0, related=False) == [] and llm.calls == []


def test_sampling_seeded_keeps_every_other_parameter():
    from sasc.llm.base import Sampling

    s = Sampling(temperature=0.3, top_p=0.8, max_tokens=99, seed=5)
    assert s.seeded(7) == Sampling(temperature=0.3, top_p=0.8, max_tokens=99, seed=12) and s.seed == 5


def test_meta_text_other_scripts_and_near_repeats_are_dropped_and_counted():
    reply = json.dumps({"sentences": ["Here are 5 sentences about food:", "Pizza is great!", "pizza is great",
                                      "I love 餐饮 very much.", "Soup warms you up.", "I hope this helps!",
                                      "Soup warms you up"]})
    counts = Counter()
    assert parse_list(reply, counts) == ["Pizza is great!", "Soup warms you up."]
    assert counts == Counter({"synthetic.meta": 2, "synthetic.script": 1, "synthetic.duplicate": 2})
    assert text_key("  Pizza, is GREAT! ") == "pizza is great"
    assert screen_texts(["Sure, I'd love some pizza.", "Here is my favourite soup."]) == [
        "Sure, I'd love some pizza.", "Here is my favourite soup."]  # not meta-text


def test_synthetic_texts_ask_again_for_texts_dropped_by_cleaning():
    first = json.dumps({"sentences": ["Here are 3 sentences:", "Bread is warm.", "bread is warm!"]})
    second = json.dumps({"sentences": ["Cheese is tasty.", "Rice is filling."]})
    counts = Counter()
    helper = ScriptedLLM([first, second])
    assert synthetic_texts(helper, "food", 3, counts=counts) == ["Bread is warm.", "Cheese is tasty.", "Rice is filling."]
    assert "Write 2 short" in helper.prompts[1]  # the retry asks for the two texts cleaning dropped
    assert counts == Counter({"synthetic.meta": 1, "synthetic.duplicate": 1})
