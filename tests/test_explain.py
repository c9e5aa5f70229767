import json
import os

import numpy as np
import pytest

import sasc
from sasc.cli import format_result, main
from sasc.config import ExplainConfig
from sasc.errors import ConfigError
from sasc.llm import ScriptedLLM
from sasc.results import ExplainResult

from fakes import FOOD_CORPUS, KeywordModule, refuse_nan, topical_reply

SMALL = ExplainConfig(n_candidates=3, n_synthetic=5, n_generic=20, n_bootstrap=200,
                      direct_screen=0)  # every candidate scored: these tests are about the synthetic stage
GENERIC = ["The committee met on Tuesday to discuss the budget.", "Rain is expected later this week.",
           "He drove to the office early.", "The film was long but moving.",
           "Pizza night at the office."] * 6


def test_explain_end_to_end_with_scripted_helper(tmp_path, keyword_module, topical_helper):
    res = sasc.explain(keyword_module, corpus=FOOD_CORPUS, generic=GENERIC, helper=topical_helper,
                       config=SMALL, cache_dir=tmp_path)
    (unit,) = res.units
    assert unit.unit == "food-words"
    assert unit.top_ngrams[0].response == pytest.approx(1.0)
    assert all(t.response >= u.response for t, u in zip(unit.top_ngrams, unit.top_ngrams[1:]))
    sigmas = [c.score.sigma for c in unit.candidates]
    assert sigmas == sorted(sigmas, reverse=True) and len(unit.candidates) >= 1
    best = unit.best
    assert len(best.related_texts) == 5 and best.score.n_generic == 20
    assert best.score.sigma > 0  # sentences naming a food word beat generic text
    # summaries each saw 30 random n-grams from the top 50 in rank order
    assert all(len(c.ngrams) == min(30, len(unit.top_ngrams)) for c in unit.candidates)
    assert res.helper == "fake" and res.usage["calls"] >= 3
    assert res.reference_corpus["n_ngrams"] > 0 and res.config["n_synthetic"] == 5


def test_result_json_round_trip(tmp_path, keyword_module, topical_helper):
    res = sasc.explain(keyword_module, corpus=FOOD_CORPUS, generic=GENERIC, helper=topical_helper,
                       config=SMALL, cache_dir=tmp_path)
    path = tmp_path / "r.json"
    res.to_json(path)
    back = ExplainResult.from_json(path)
    assert back == res  # sigma_paper is NaN (no unrelated texts): scores compare NaN as equal to NaN
    assert np.isnan(back.units[0].best.score.sigma_paper)
    assert json.loads(path.read_text(), parse_constant=refuse_nan)["units"][0]["candidates"][0]["score"]["sigma"] == res.units[0].best.score.sigma


def test_second_run_uses_caches(tmp_path, topical_helper):
    m = KeywordModule()
    sasc.explain(m, corpus=FOOD_CORPUS, generic=GENERIC, helper="fake", config=SMALL, cache_dir=tmp_path)
    seen = m.texts_seen
    res = sasc.explain(m, corpus=FOOD_CORPUS, generic=GENERIC, helper="fake", config=SMALL, cache_dir=tmp_path)
    assert res.reference_corpus["responses_from_cache"]
    assert m.texts_seen - seen < 100  # only generic + synthetic texts, no n-gram forward passes
    assert res.usage["cached_calls"] == res.usage["calls"] > 0


def test_many_units_and_unit_selection(tmp_path, topical_helper):
    class TwoUnits:
        units = ["food", "money"]
        fingerprint = "two-units-v1"

        def responses(self, texts):
            f, m = KeywordModule(), KeywordModule({"money", "stock", "investors", "rates"})
            return np.stack([f(texts), m(texts)], axis=1)

    res = sasc.explain(TwoUnits(), units=["money"], corpus=FOOD_CORPUS, generic=GENERIC,
                       helper=topical_helper, config=SMALL, cache_dir=tmp_path)
    assert [u.unit for u in res.units] == ["money"]
    assert res.units[0].top_ngrams[0].ngram.lower() in {"investors", "rates", "stock", "money"}
    with pytest.raises(ConfigError, match="unknown unit 'nope'"):
        sasc.explain(TwoUnits(), units=["nope"], corpus=FOOD_CORPUS, helper=topical_helper)
    with pytest.raises(ConfigError, match="out of range"):
        sasc.explain(TwoUnits(), units=[5], corpus=FOOD_CORPUS, helper=topical_helper)


def test_cli_explain_writes_json_and_table(tmp_path, capsys, monkeypatch):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(FOOD_CORPUS))
    generic = tmp_path / "g.txt"
    generic.write_text("\n".join(GENERIC))
    sasc.register_kind("test_food_words", lambda: KeywordModule(), replace=True)
    out = tmp_path / "out.json"
    code = main(["explain", "--module", "test_food_words", "--corpus", str(corpus), "--generic", str(generic),
                 "--helper", "fake", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
                 "--candidates", "2", "--synthetic", "3", "--generic-size", "10", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "== unit food-words" in printed and "top n-grams:" in printed and "σ" in printed
    assert ExplainResult.from_json(out).units[0].unit == "food-words"


def test_quiet_turns_off_other_libraries_bars_only_while_the_command_runs(tmp_path, capsys, monkeypatch):
    import subprocess
    import sys

    from transformers.utils import logging as hf_logging

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    hf_logging.enable_progress_bar()
    child = [sys.executable, "-c", "from tqdm.auto import tqdm; print(tqdm(range(2)).disable)"]
    seen = []

    def module():  # built while the command runs, as a model is loaded in a D3 worker (spawned)
        worker = subprocess.run(child, capture_output=True, text=True, check=True).stdout.strip()
        seen.append((worker, hf_logging.is_progress_bar_enabled()))
        return KeywordModule()

    sasc.register_kind("test_quiet_words", module, replace=True)
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(FOOD_CORPUS))
    args = ["explain", "--module", "test_quiet_words", "--corpus", str(corpus), "--generic", str(corpus),
            "--helper", "fake", "--candidates", "1", "--synthetic", "2", "--generic-size", "5",
            "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "r.json")]
    assert main(args + ["--quiet"]) == 0
    assert seen == [("True", False)]
    assert "TQDM_DISABLE" not in os.environ and hf_logging.is_progress_bar_enabled()
    assert main(args) == 0
    assert seen[1] == ("False", True)


def test_progress_written_to_a_log_draws_rarely_but_ends_complete():
    import io

    from sasc.cli import TqdmProgress
    from sasc.progress import ProgressEvent

    log = io.StringIO()
    bar = TqdmProgress(file=log)
    for i in range(1, 201):
        bar(ProgressEvent("d3", i, 200))
    bar.close()
    draws = [d for d in log.getvalue().replace("\n", "\r").split("\r") if d.strip()]
    assert 2 <= len(draws) <= 4, draws  # first draw, completion (and tqdm's own close)
    assert "200/200" in draws[-1]

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert TqdmProgress(file=Terminal()).interval == 0.1 and bar.interval == 30.0


def test_cli_errors_are_one_line(tmp_path, capsys):
    code = main(["explain", "--module", "nope:x=1", "--helper", "fake", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown module kind 'nope'" in err and "Traceback" not in err
    code = main(["explain", "--corpus", str(tmp_path / "missing.txt"), "--helper", "fake", "--quiet"])
    assert code == 2 and "neither a built-in" in capsys.readouterr().err


def test_cli_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    text = capsys.readouterr().out
    for opt in ["--module", "--units", "--corpus", "--column", "--generic", "--helper", "--out", "--cache-dir",
                "--max-n", "--min-count", "--candidates", "--summary-styles", "--synthetic", "--synthetic-style",
                "--tiebreak", "--unrelated",
                "--generic-size", "--seed", "--quiet"]:
        assert opt in text


def test_unrelated_texts_only_when_asked(keyword_module, topical_helper):
    import dataclasses

    plain = sasc.explain(keyword_module, corpus=FOOD_CORPUS, generic=GENERIC, helper=topical_helper, config=SMALL)
    best = plain.units[0].best
    assert best.unrelated_texts == [] and best.score.n_unrelated == 0 and np.isnan(best.score.sigma_paper)
    paper = sasc.explain(keyword_module, corpus=FOOD_CORPUS, generic=GENERIC, helper=topical_helper,
                         config=dataclasses.replace(SMALL, n_unrelated=4))
    for c in paper.units[0].candidates:
        assert len(c.unrelated_texts) == 4 and c.score.n_unrelated == 4 and np.isfinite(c.score.sigma_paper)
    assert paper.usage["calls"] > plain.usage["calls"]
    from sasc.cli import format_result

    assert "σ(paper)" not in format_result(plain) and "nan" not in format_result(plain)
    assert "σ(paper)" in format_result(paper)
    with pytest.raises(sasc.ConfigError, match="n_unrelated"):
        dataclasses.replace(SMALL, n_unrelated=-1)


def test_synthetic_style_words_every_related_prompt(keyword_module, topical_helper):
    import dataclasses

    from sasc.synthetic import synthetic_prompt

    res = sasc.explain(keyword_module, corpus=FOOD_CORPUS, generic=GENERIC, helper=topical_helper,
                       config=dataclasses.replace(SMALL, synthetic_style="example", n_unrelated=2))
    asked = [c.prompt for c in topical_helper.calls if not c.prompt.startswith("Here is a list")]
    for cand in res.units[0].candidates:
        assert synthetic_prompt(cand.explanation, SMALL.n_synthetic, True, "example") in asked
        assert synthetic_prompt(cand.explanation, 2, False) in asked  # unrelated texts: one wording
    assert not any("clearly about" in p for p in asked)
    with pytest.raises(sasc.ConfigError, match="synthetic style must be one of"):
        dataclasses.replace(SMALL, synthetic_style="poem")


def _tie_helper(themes):
    """Summaries name ``themes`` in turn; every synthetic text is new (a running number) and
    holds its theme word once among 5 words, so candidates about food words tie exactly."""
    import itertools
    import re

    names, numbers = itertools.cycle(themes), itertools.count()

    def reply(prompt):
        if prompt.startswith("Here is a list of phrases"):
            return next(names)
        topic = re.search(r"clearly about: (.*)\.\n", prompt).group(1)
        return json.dumps({"sentences": [f"{topic} and talk number {next(numbers)}" for _ in range(5)]})

    return ScriptedLLM(reply)


def test_tiebreak_adds_texts_to_the_top_two_only_when_their_intervals_overlap(keyword_module):
    import dataclasses

    config = dataclasses.replace(SMALL, n_tiebreak=3)
    tied = _tie_helper(["pizza", "soup", "weather"])
    res = sasc.explain(keyword_module, corpus=FOOD_CORPUS, generic=GENERIC, helper=tied, config=config)
    by_name = {c.explanation: c for c in res.units[0].candidates}
    assert [by_name[n].score.n_related for n in ("pizza", "soup", "weather")] == [8, 8, 5]
    assert len(by_name["pizza"].related_responses) == 8 and len(set(by_name["pizza"].related_texts)) == 8
    assert res.units[0].best.explanation in ("pizza", "soup")
    assert len(tied.calls) == 3 + 3 + 2  # summaries, first texts, one tie-break call each for the top two
    clear = _tie_helper(["pizza", "weather"])
    res = sasc.explain(keyword_module, corpus=FOOD_CORPUS, generic=GENERIC, helper=clear,
                       config=dataclasses.replace(config, n_candidates=2))
    assert [c.score.n_related for c in res.units[0].candidates] == [5, 5] and len(clear.calls) == 2 + 2
    with pytest.raises(sasc.ConfigError, match="n_tiebreak"):
        dataclasses.replace(SMALL, n_tiebreak=-1)


def test_direct_screen_scores_only_the_candidates_the_module_responds_to_most(keyword_module):
    import dataclasses
    import itertools

    # "pizza soup" is all food words (direct response 1), "pizza talk" half, the others none
    themes = itertools.cycle(["weather report", "pizza talk", "rain", "pizza soup", "office news"])
    helper = ScriptedLLM(lambda p: next(themes) if p.startswith("Here is a list of phrases") else topical_reply(p))
    config = dataclasses.replace(SMALL, n_candidates=5, direct_screen=2)
    res = sasc.explain(keyword_module, corpus=FOOD_CORPUS, generic=GENERIC, helper=helper, config=config)
    cands = res.units[0].candidates
    assert {c.explanation for c in cands[:2]} == {"pizza soup", "pizza talk"}
    assert [c.score.n_related for c in cands] == [5, 5, 0, 0, 0]
    assert all(np.isnan(c.score.sigma) and c.related_texts == [] for c in cands[2:])
    assert sorted(c.direct_response for c in cands[:2]) == [0.5, 1.0]
    assert [c.direct_response for c in cands[2:]] == [0, 0, 0]
    asked = [c.prompt for c in helper.calls if not c.prompt.startswith("Here is a list")]
    assert len(asked) == 2 and all("pizza" in p for p in asked)  # the helper wrote texts for the two kept only
    back = ExplainResult.from_json(res.to_json())
    assert back == res and back.units[0].candidates[0].direct_response == cands[0].direct_response
    assert "unscored: the module responds less" in format_result(res)

    # 0 or at least as many as the candidates: every candidate is scored
    every = sasc.explain(keyword_module, corpus=FOOD_CORPUS, generic=GENERIC, helper=ScriptedLLM(topical_reply),
                         config=dataclasses.replace(SMALL, direct_screen=3))
    assert all(c.score.n_related == 5 and np.isfinite(c.direct_response) for c in every.units[0].candidates)
    with pytest.raises(sasc.ConfigError, match="direct_screen must be >= 0"):
        dataclasses.replace(SMALL, direct_screen=-1)


@pytest.mark.parametrize("k,n,expected", [(2, [0.1, 0.9, 0.5, 0.9], [1, 3]), (0, [0.1, 0.9], [0, 1]),
                                          (3, [0.2, 0.1], [0, 1]), (1, [0.5, 0.5], [0])])
def test_direct_screen_keeps_the_highest_in_candidate_order(k, n, expected):
    from sasc.explain import direct_screen

    assert direct_screen(np.array(n), k) == expected


@pytest.mark.parametrize("argv", [["explain"], ["benchmark", "d3"], ["fmri", "explain", "model.npz"]])
def test_method_options_reach_the_config_of_every_command(argv):
    from sasc.cli import build_parser, method_config

    flags = ["--candidates", "3", "--summary-styles", "source", "--synthetic", "7", "--tiebreak", "4",
             "--unrelated", "2", "--generic-size", "50", "--synthetic-style", "example", "--direct-screen", "3",
             "--top-considered", "120", "--per-summary", "40"]
    config = method_config(build_parser().parse_args(argv + flags))
    assert (config.n_candidates, config.summary_styles, config.n_synthetic, config.n_tiebreak, config.n_unrelated,
            config.n_generic, config.synthetic_style, config.direct_screen, config.n_top_considered,
            config.n_per_summary) == (3, ("source",), 7, 4, 2, 50, "example", 3, 120, 40)
    assert method_config(build_parser().parse_args(argv)) == ExplainConfig()  # no flags: the library defaults
    with pytest.raises(ConfigError, match="summary styles"):
        method_config(build_parser().parse_args(argv + ["--summary-styles", "theme,poem"]))
