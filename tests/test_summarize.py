from collections import Counter

import pytest

from sasc.llm import ScriptedLLM
from sasc.llm.base import Sampling
import sasc
from sasc.summarize import check_reply, choose_subsets, clean_explanation, parse_styles, summarize, summary_prompt


def test_prompt_exact_strings():
    assert summary_prompt(["pizza", "hot soup"]) == (
        "Here is a list of phrases:\n"
        "- pizza\n"
        "- hot soup\n"
        "What is a common theme among these phrases? Be specific: prefer the most distinctive words of the list "
        "(names, stances, kinds of text) to a general category.\n"
        "Answer in English with the theme only, as a short phrase of at most 8 words."
    )
    assert summary_prompt(["pizza"], "source") == (
        "Here is a list of phrases taken from texts:\n"
        "- pizza\n"
        "What kind of text are these phrases from? Say what the texts are about, or what they do, "
        "or what attitude they express.\n"
        "Answer in English with a short phrase of at most 8 words."
    )
    assert summary_prompt(["pizza"], "property") == (
        "Here is a list of phrases taken from texts:\n"
        "- pizza\n"
        "What do these texts have in common? It may be what they are about, a stance for or against something, "
        "their tone, or what the text is for.\n"
        "Answer in English with a short phrase of at most 8 words."
    )


def test_styles_are_checked():
    assert parse_styles(" theme, source ,") == ("theme", "source")
    for bad in ("", "theme,topic"):
        with pytest.raises(sasc.ConfigError, match="summary styles"):
            parse_styles(bad)
    with pytest.raises(sasc.ConfigError, match="summary styles"):
        summary_prompt(["pizza"], "Theme")
    with pytest.raises(sasc.ConfigError, match="the string"):
        sasc.ExplainConfig(summary_styles="theme")
    assert sasc.ExplainConfig(summary_styles=["source"]).summary_styles == ("source",)  # as read from JSON


@pytest.mark.parametrize("reply,expected", [
    ('The common theme among these phrases is "food", because they all name dishes.', "food"),
    ("The common theme among these phrases is cooking and eating.", "cooking and eating"),
    ("Irony is a common theme among these phrases", "Irony"),
    ("Religion vs. Secularity", "Religion vs. Secularity"),
    ("U.S. politics. They all mention elections.", "U.S. politics"),
    ("Food etc. and drinks", "Food etc. and drinks"),
    ("Sports are the main topic.", "Sports"),
    ("Technology is a core theme", "Technology"),
    ("Theme parks and rides", "Theme parks and rides"),
    ("**Food and drink**", "Food and drink"),
    ("Theme: violence and crime - most phrases mention attacks", "violence and crime"),
    ("These phrases are all related to sports, such as football", "sports"),
    ("Numbers and quantities; many phrases contain digits", "Numbers and quantities"),
    ("  family relationships  ", "family relationships"),
    ("The common theme is emotions. They express feelings.", "emotions"),
    ("The theme of tragedy in these phrases is common to many narratives", "tragedy"),
    ("Theme of the week", "Theme of the week"),
    ("Crime is often discussed in legal contexts", "Crime is often discussed in legal contexts"),
    # replies to the "source" style
    ("These phrases are taken from religious texts", "religious texts"),
    ("This is a list of phrases taken from a text about regime change", "regime change"),
    ("It appears to be a list of phrases describing actions or requests", "actions or requests"),
    ("The phrases describe political ideas and attitudes", "political ideas and attitudes"),
    ("These phrases are from a narrative text, possibly a movie review", "a narrative text"),
    ("Texts about sports", "sports"),
    ("The text is a list of phrases about expressing opinions", "expressing opinions"),
    ("from texts about mathematics and science, particularly in the natural sciences", "mathematics and science"),
    ("Words of love", "Words of love"),
    # replies to the "property" style
    ("All texts deal with irony", "irony"),
    ("The texts all deal with the regime", "the regime"),
    ("All text focus on water sanitation and management", "water sanitation and management"),
    ("The texts share a religious theme", "religious theme"),
    ("All texts advocate or criticize religion", "All texts advocate or criticize religion"),
    # lead-ins stripped since CLEANING_VERSION 2 (replies of the 1.5B helper, as it wrote them)
    ("Commonality: Atheist stance on religion", "Atheist stance on religion"),
    ("Tone: Positive", "Positive"),
    ("Common purpose: To provide shelter", "To provide shelter"),
    ("Common themes: faith, God, religion", "faith, God, religion"),
    ("Common theme about personal development and growth.", "personal development and growth"),
    ("Commonality is their focus on news and broadcasting.", "news and broadcasting"),
    ("Commonality lies in the exploration of narrative structure", "the exploration of narrative structure"),
    ("They all concern inquiries and seeking information about individuals.",
     "inquiries and seeking information about individuals"),
    ("They discuss film.", "film"),
    ("All about entertainment", "entertainment"),
    ("All are about rescue efforts.", "rescue efforts"),
    ("All are news sources.", "news sources"),
    ("All texts are about business.", "business"),
    ("The texts explore concepts of legitimacy, science, and culture.", "concepts of legitimacy, science, and culture"),
    ("The texts have a common theme of the world, specifically its nature", "the world"),
    ("A collection of texts about cinema.", "cinema"),
    ("A collection of news items", "news items"),
    ("Tone and stance", "Tone and stance"),
    ("Common sense advice", "Common sense advice"),
    ("Common elements: abbreviation, acronym", "abbreviation, acronym"),
    ("Common: Regime, changes, policies", "Regime, changes, policies"),
    ("Common goal: emergency rescue", "emergency rescue"),
    ("Common phrase is: infrastructure.", "infrastructure"),
    ("Common purpose is to provide shelter, often during emergencies.", "to provide shelter"),
    ("Common elements are infrastructures and their maintenance.", "infrastructures and their maintenance"),
    ("Common phrases are used to describe films", "Common phrases are used to describe films"),
    ("They're all about religion", "religion"),
    ("They all contain statements about people's emotions", "statements about people's emotions"),
    ("It discusses health, politics, and social issues", "health, politics, and social issues"),
    ("All mention censorship, hate speech, and freedom of speech", "censorship, hate speech, and freedom of speech"),
    ("All related to human relationships and family", "human relationships and family"),
    ("All promote hate", "All promote hate"),
    ("This list is about personal information protection", "personal information protection"),
    ("Texts focus on the study of science", "the study of science"),
    ("Text messages and chat", "Text messages and chat"),
    ("Allergies and asthma", "Allergies and asthma"),
    # lead-ins stripped since CLEANING_VERSION 3 (real replies)
    ("They all talk about entertainment.", "entertainment"),
    ("They all appear to be discussing language, specifically the relationship between languages and their "
     "content and structure.", "language"),
    ("Texts are descriptions of shelter, emergency shelter, and relief efforts.",
     "shelter, emergency shelter, and relief efforts"),
    ("Texts share the same theme of discussing the composition of substances, including their constituents.",
     "the composition of substances"),
    ("Texts address topics related to science, medicine, and technology.", "science, medicine, and technology"),
    ("Phrases primarily relate to language usage, terminology, and writing styles.",
     "language usage, terminology, and writing styles"),
    ("Phrases involving asking for opinions about something or someone.", "asking for opinions about something or someone"),
    ('Phrases involving "movie" frequently express preferences', 'Phrases involving "movie" frequently express preferences'),
    ("A list of phrases, describing various crimes.", "various crimes"),
    ("This is a list of phrases, all related to language.", "language"),
    ("A list of phrases conveying information about receiving a prize or membership.", "receiving a prize or membership"),
    ("Common purpose of saving people.", "saving people"),
    ("Common topic related to computer science", "computer science"),
    ("Common stance for abortion rights.", "Common stance for abortion rights"),
    ("This list is from a text about measurements and values, possibly in reference to economics or statistics.",
     "measurements and values"),
    ("This list contains phrases from various texts about the nature of intelligence and language, which can be used",
     "the nature of intelligence and language"),
    ("These are all phrases from a text about language and communication.", "language and communication"),
    ("They are phrases expressing positive attitudes towards movies.", "positive attitudes towards movies"),
    ("They are phrases from texts discussing opinions, criticism, and polite requests.",
     "opinions, criticism, and polite requests"),
    ("They criticize feminism.", "They criticize feminism"),
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
    assert [c.style for c in cands] == ["theme", "theme"]  # the default of summarize() is the paper's prompt alone


def test_summarize_cycles_styles():
    llm = ScriptedLLM(["Food", "Recipes", "Sports", "Cooking shows", "Music"])
    cands = summarize(llm, [f"g{i}" for i in range(50)], n_candidates=5, styles=("theme", "source"))
    assert [c.style for c in cands] == ["theme", "source", "theme", "source", "theme"]
    assert [c.explanation for c in cands] == ["Food", "Recipes", "Sports", "Cooking shows", "Music"]
    assert [call.prompt.startswith("Here is a list of phrases taken from texts:") for call in llm.calls] == [
        False, True, False, True, False]


# ------------------------------------------------------------------ cleaning version 4: script, meta, duplicates

@pytest.mark.parametrize("reply, expected, reasons", [
    ("Food and餐饮", "Food", ["script_repaired"]),
    ("Cooking, 烹饪", "Cooking", ["script_repaired"]),
    ("餐饮", "", ["script"]),
    ("Here are the common themes: food, cooking", "food, cooking", ["meta_repaired"]),
    ("Sure! Here is the theme: sports", "sports", ["meta_repaired"]),
    ("Based on the phrases, the common theme is weather.", "weather", ["meta_repaired"]),
    ("I'm sorry, but I can't determine a theme.", "", ["meta"]),
    ("Here are the themes:", "", ["meta"]),
    ("Café culture and crêpes", "Café culture and crêpes", []),
    ("Food, meals, catering", "Food, meals, catering", []),
])
def test_replies_that_switch_script_or_talk_about_themselves_are_cut_or_dropped(reply, expected, reasons):
    assert clean_explanation(reply) == expected
    assert check_reply(reply)[1] == reasons


def test_summarize_counts_what_it_dropped_and_repaired():
    replies = ["Food and餐饮", "food.", "FOOD!", "I'm sorry, I cannot help.", "餐饮", "", "Here are the themes: sports"]
    counts = Counter()
    cands = summarize(ScriptedLLM(replies), [f"w{i}" for i in range(50)], n_candidates=len(replies), counts=counts)
    assert [c.explanation for c in cands] == ["Food", "sports"]
    assert counts == Counter({"summary.script_repaired": 1, "summary.duplicate": 2, "summary.meta": 1,
                              "summary.script": 1, "summary.empty": 1, "summary.meta_repaired": 1})


@pytest.mark.parametrize("text, expected", [
    ('Euthanasia, and the model is more likely to write "fret, sardines, colds"', "Euthanasia"),
    ("Trust and honesty; the language model becomes more likely to write trusting", "Trust and honesty"),
    ("Searching for places, so the model is likelier to say locate", "Searching for places"),
    ("Fashion models and runway shows", "Fashion models and runway shows"),
    ("Model trains are more likely to derail", "Model trains are more likely to derail"),  # no clause before it
    ("Statistical model fitting", "Statistical model fitting"),
])
def test_an_echo_of_the_evidence_line_is_cut(text, expected):
    from sasc.summarize import cut_evidence_echo

    assert cut_evidence_echo(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("These words are related to the concept of self-awareness", "self-awareness"),
    ('All words are related to the concept of "travel"', "travel"),
    ("Words related to accommodations, availability, and location", "accommodations, availability, and location"),
    ("All of these words describe emotions", "emotions"),
    ("nouns referring to objects", "nouns referring to objects"),
    ("Words related to", "Words related to"),  # nothing would be left
])
def test_the_output_side_summary_loses_its_lead_in_about_the_words(text, expected):
    from sasc.summarize import strip_output_lead_in

    assert strip_output_lead_in(text) == expected


def test_summaries_that_copy_the_output_evidence_are_cut_and_counted():
    replies = ["Euthanasia, and the model is more likely to write fret, sardines", "Weather reports",
               "These words are related to fish dishes"]
    counts = Counter()
    cands = summarize(ScriptedLLM(replies), [f"w{i}" for i in range(50)], n_candidates=2, counts=counts,
                      output=["fret", "sardines"])
    assert [(c.explanation, c.style) for c in cands] == [("Euthanasia", "theme"), ("Weather reports", "theme"),
                                                         ("fish dishes", "output")]
    assert counts == Counter({"summary.evidence_repaired": 1, "summary.meta_repaired": 1})
