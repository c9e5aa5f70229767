"""The iterative explainer: the action grammar on fixed strings, the loop with a scripted helper on a
keyword module (tools, budgets, invalid replies), explain(method="iterative") end to end, and a job."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fakes import FOOD_CORPUS, SMALL_GENERIC, KeywordModule, topical_reply

from sasc.config import ExplainConfig
from sasc.iterative import ActionError, Budget, Experimenter, iterative_candidates, parse_action
from sasc.llm import ScriptedLLM

# ------------------------------------------------------------------ the grammar


def test_parse_action_reads_one_json_object_and_checks_every_field():
    a = parse_action('{"action": "write", "hypothesis": "  food and   cooking "}')
    assert a.name == "write" and a.hypothesis == "food and cooking"
    a = parse_action('Sure! ```json\n{"action": "run", "texts": ["I ate soup.", "Rain fell."]}\n```')
    assert a.name == "run" and a.texts == ("I ate soup.", "Rain fell.")
    a = parse_action(json.dumps({"action": "run", "texts": [f"text {i}" for i in range(9)]}))
    assert len(a.texts) == 6  # at most MAX_RUN_TEXTS
    a = parse_action('{"action": "edit", "text": "The soup was hot.", "property": "sarcasm", "change": "add"}')
    assert (a.text, a.property, a.change) == ("The soup was hot.", "sarcasm", "add")
    assert parse_action('{"action": "exemplars", "kind": "bottom"}').kind == "bottom"
    assert parse_action('{"action": "hypothesize", "hypotheses": ["food", "meals"]}').hypotheses == ("food", "meals")
    for bad, message in [("no json here", "no JSON object"), ('{"action": "write"', "no JSON object"),
                         ('{"action": "delete", "hypothesis": "x"}', "unknown action"),
                         ('{"action": "write"}', '"write" needs "hypothesis"'),
                         ('{"action": "write", "hypothesis": "  "}', "non-empty string"),
                         ('{"action": "run", "texts": []}', "list of 1 to 6"),
                         ('{"action": "run", "texts": "one text"}', "list of 1 to 6"),
                         ('{"action": "edit", "text": "a", "property": "b", "change": "flip"}', "add"),
                         ('{"action": "exemplars", "kind": "middle"}', "top"),
                         ('{"action": "write", "hypothesis": "x",}', "does not parse"),
                         ('["action", "write"]', "no JSON object")]:
        with pytest.raises(ActionError, match=message):
            parse_action(bad)


# ------------------------------------------------------------------ the loop, scripted

GENERIC = ["The committee met on Tuesday to discuss the budget.", "Rain is expected later this week.",
           "He drove to the office early.", "The film was long but moving.", "Pizza night at the office."] * 6

FOOD_FITS = ["I cooked pasta and soup for dinner.", "Fresh bread and cheese make a meal.",
             "We eat pizza at dinner.", "Cooking soup is a simple meal.", "Pasta with cheese for dinner."]
NEAR = ["The kitchen was painted blue.", "She bought a new table.", "The restaurant opened on Monday.",
        "He washed the plates.", "The recipe book fell off the shelf."]


def scripted(actions):
    """A helper that plays ``actions`` (replies to the loop's prompts, in order) and answers the
    write and edit prompts sensibly; everything else as the topical helper."""
    queue = list(actions)

    def reply(prompt: str) -> str:
        if prompt.startswith("You are studying one unit"):
            return queue.pop(0) if queue else '{"action": "finish", "hypothesis": "food and meals"}'
        if prompt.startswith("Write 5 short sentences"):
            return json.dumps({"fits": FOOD_FITS, "near_misses": NEAR + [FOOD_FITS[0].upper()]})  # a copy: dropped
        if prompt.startswith("Rewrite this text"):
            return json.dumps({"text": "The soup and bread were hot."})
        return topical_reply(prompt)

    return ScriptedLLM(reply)


def _experimenter(helper, budget=Budget(8, 100_000, 600.0, 50.0), clock=None):
    module = KeywordModule()
    generic = module(GENERIC)
    ranked = [("pizza", 1.0), ("soup and bread", 1.0), ("the meal", 0.5)]
    bottom = [("the council", 0.0), ("stock markets", 0.0)]
    kw = {"clock": clock} if clock else {}
    return Experimenter(lambda t: module(t), helper, generic, ranked, bottom, GENERIC, budget, seed=0, **kw)


def test_the_loop_runs_every_tool_logs_numbers_and_finishes():
    helper = scripted(['{"action": "exemplars", "kind": "bottom"}',
                       '{"action": "write", "hypothesis": "food and meals"}',
                       '{"action": "edit", "text": "The council met today.", "property": "food", "change": "add"}',
                       '{"action": "run", "texts": ["Pizza and pasta.", "The train was late."]}',
                       "I think it is about food",  # invalid ...
                       '{"action": "hypothesize", "hypotheses": ["food and meals", "kitchens"]}',  # ... the retry
                       '{"action": "log", "note": "food words matter, kitchens do not"}',
                       '{"action": "exemplars", "kind": "texts"}',
                       '{"action": "finish", "hypothesis": "food and meals"}'])
    x = _experimenter(helper).explore(["food", "meals"])
    assert x.status == "finished" and x.rounds == 8
    assert x.counts["invalid_replies"] == 1 and x.counts["skipped_rounds"] == 0
    for name in ("exemplars", "write", "edit", "run", "hypothesize", "log", "finish"):
        assert x.counts[f"action.{name}"] >= 1, name
    ev = x.evidence["food and meals"]
    assert ev.fits > 2.0 and ev.near_misses < 0.5 and ev.n == 5
    assert ev.contrast == pytest.approx(ev.fits - ev.near_misses)  # food texts, not their near misses, drive it
    write = next(s for s in x.steps if s["action"] == "write")
    assert write["fits"] == FOOD_FITS and len(write["fits_sigma"]) == 5 and write["near_misses"] == NEAR
    edit = next(s for s in x.steps if s["action"] == "edit")
    assert edit["edited"] == "The soup and bread were hot." and edit["sigma"][1] > edit["sigma"][0]
    assert any("phrases it responds to least" in line for line in x.log)
    assert any(line.startswith("[4] run:") for line in x.log)
    assert any("note: food words matter" in line for line in x.log)
    (cand,) = iterative_candidates(x)[:1]
    assert cand.explanation == "food and meals" and cand.style == "iterative"
    d = x.to_dict()
    assert json.loads(json.dumps(d))["ranked"][0] == "food and meals"


def test_a_helper_that_never_writes_a_valid_action_ends_the_unit_with_a_status():
    helper = ScriptedLLM(lambda p: "no idea, sorry")
    x = _experimenter(helper).explore(["food"])
    assert x.status == "no_valid_action" and x.rounds == 3 and x.counts["invalid_replies"] == 6
    assert len(helper.calls) == 6 and not x.evidence
    assert [c.explanation for c in iterative_candidates(x)] == ["food"]  # the current hypotheses stand


def test_budgets_stop_the_loop():
    looping = ['{"action": "run", "texts": ["soup"]}'] * 50
    x = _experimenter(scripted(looping), Budget(3, 100_000, 600.0, 50.0)).explore(["food"])
    assert x.status == "rounds" and x.rounds == 3
    x = _experimenter(scripted(looping), Budget(50, 1, 600.0, 50.0)).explore(["food"])
    assert x.status == "tokens" and x.rounds == 1  # whitespace words count as tokens in the fake
    ticks = iter(range(1000))
    x = _experimenter(scripted(looping), Budget(50, 100_000, 5.0, 50.0), clock=lambda: next(ticks)).explore(["food"])
    assert x.status == "time" and x.rounds < 10
    repeated = ['{"action": "write", "hypothesis": "food and meals"}'] * 3
    x = _experimenter(scripted(repeated), Budget(3, 100_000, 600.0, 50.0)).explore(["food"])
    assert x.counts["write.repeated"] == 2 and x.counts["helper_calls"] == 4  # 3 actions, 1 write: no repeat paid
    assert "already tested" in x.log[-1]
    reruns = ['{"action": "run", "texts": ["Pizza and soup.", "Rain."]}', '{"action": "run", "texts": ["Rain.", "Bread."]}',
              '{"action": "run", "texts": ["Bread.", "Rain."]}']
    x = _experimenter(scripted(reruns), Budget(3, 100_000, 600.0, 50.0)).explore(["food"])
    assert x.counts["run.repeated"] == 1 and [len(s.get("sigma", [])) for s in x.steps] == [2, 1, 0]
    assert x.steps[1]["texts"] == ["Bread."]  # only the new text was run
    assert "already run" in x.log[-1]
    strong = ['{"action": "write", "hypothesis": "food and meals"}'] + looping
    x = _experimenter(scripted(strong), Budget(50, 100_000, 600.0, 2.0)).explore(["food"])
    assert x.status == "strong_evidence" and x.rounds == 1


# ------------------------------------------------------------------ explain(method="iterative")

CONFIG = ExplainConfig(n_candidates=3, n_synthetic=4, n_generic=20, n_bootstrap=100, direct_screen=1,
                       fluency_model="", method="iterative", iter_rounds=4, iter_stop_sigma=1000.0)


def test_explain_iterative_scores_the_experiments_hypotheses_with_sigma(tmp_path):
    import sasc
    from sasc.results import ExplainResult

    helper = scripted(['{"action": "write", "hypothesis": "cooking and eating meals"}',
                       '{"action": "finish", "hypothesis": "cooking and eating meals"}'])
    events = []
    res = sasc.explain(KeywordModule(), corpus=FOOD_CORPUS, generic=GENERIC, helper=helper, config=CONFIG,
                       cache_dir=tmp_path, progress=events.append)
    (u,) = res.units
    assert u.experiment["status"] == "finished" and u.experiment["ranked"] == ["cooking and eating meals"]
    scored = [c.explanation for c in u.candidates if c.score.n_related]
    assert "cooking and eating meals" in scored  # scored although the direct screen keeps one single-pass candidate
    assert len(scored) == 2
    assert any(e.stage == "experiment" and e.detail == "best: cooking and eating meals" for e in events)
    assert ExplainResult.from_json(res.to_json()).units[0].experiment == u.experiment
    from sasc.cli import format_result

    assert "experiment: 2 rounds (finish 1, write 1), stopped: finished" in format_result(res)
    # single-pass: no experiment, no loop prompt
    single = sasc.explain(KeywordModule(), corpus=FOOD_CORPUS, generic=GENERIC, helper=scripted([]),
                          config=ExplainConfig(n_candidates=3, n_synthetic=4, n_generic=20, n_bootstrap=100,
                                               fluency_model=""), cache_dir=tmp_path / "single")
    assert not single.units[0].experiment


SERVER_SETTINGS = {"allowed_helpers": "fake,iterscript"}


def test_iterative_job_over_grpc_carries_the_experiment(client):
    from sasc.llm.factory import HELPER_BACKENDS
    from sasc.modules import register_kind

    register_kind("test_keyword_iter", lambda: KeywordModule(), replace=True)
    HELPER_BACKENDS.register("iterscript", lambda arg, **_: scripted(
        ['{"action": "write", "hypothesis": "cooking and eating meals"}']), replace=True)
    module = client.register_module("test_keyword_iter")
    settings = {"n_candidates": 3, "n_synthetic": 4, "n_generic": 5, "n_bootstrap": 50, "direct_screen": 1,
                "fluency_model": "", "method": "iterative", "iter_rounds": 2, "iter_stop_sigma": 1000.0}
    result = client.explain(module.id, corpus=FOOD_CORPUS, generic=SMALL_GENERIC, helper="iterscript",
                            settings=settings, progress=False)
    x = result.units[0].experiment
    assert x["rounds"] == 2 and x["status"] in ("rounds", "finished") and "cooking and eating meals" in x["evidence"]
    assert client.result(client.list_jobs()[0].id) == result
    with pytest.raises(Exception, match="method"):
        client.submit_job(module.id, corpus=FOOD_CORPUS, helper="iterscript", settings={"method": "maia"})


def test_the_fmri_report_shows_each_units_experiment():
    from sasc.html_report import experiments_html
    from sasc.results import UnitExplanation

    x = _experimenter(scripted(['{"action": "write", "hypothesis": "food & meals"}'])).explore(["food"])
    units = [UnitExplanation("v1", [], [], experiment=x.to_dict()), UnitExplanation("v2", [], [])]
    page = experiments_html(units)
    assert page.count("<details>") == 1 and "v1: " in page and "food &amp; meals: fitting texts" in page
    assert experiments_html(units[1:]) == ""


# ------------------------------------------------------------------ the explainer registry

def test_a_registered_explainer_method_is_one_function(tmp_path):
    """A plug-in method (sasc.explainers.EXPLAINERS) gets the unit's evidence and the single-pass
    candidates; its candidates are always scored, its record is the unit's experiment; an unknown
    method names the known ones."""
    import sasc
    from sasc.errors import ConfigError
    from sasc.explainers import EXPLAINERS
    from sasc.summarize import Candidate

    seen = {}

    def opposite(unit, initial, helper, config, progress):
        seen.update(initial=list(initial), top=[unit.table.ngrams[i] for i in unit.top[:3]],
                    run=unit.run(["pizza and pasta", "the weather"]).tolist())
        return [Candidate("bread and soup for dinner", [], "", "ignored")], {"asked": len(initial)}

    EXPLAINERS.register("opposite", opposite, replace=True)
    try:
        config = ExplainConfig(n_candidates=3, n_synthetic=4, n_generic=20, n_bootstrap=100, direct_screen=1,
                               fluency_model="", method="opposite")
        res = sasc.explain(KeywordModule(), corpus=FOOD_CORPUS, generic=GENERIC, helper=scripted([]), config=config,
                           cache_dir=tmp_path)
    finally:
        EXPLAINERS.unregister("opposite")
    (u,) = res.units
    assert u.experiment == {"asked": len(seen["initial"])} and len(seen["initial"]) >= 1
    assert seen["run"][0] > seen["run"][1]  # the keyword module responds to food words
    scored = [c.explanation for c in u.candidates if c.score.n_related]
    assert "bread and soup for dinner" in scored and len(scored) == 2  # forced past the direct screen of 1
    assert "opposite" not in EXPLAINERS.names()
    with pytest.raises(ConfigError, match="method must be one of .*'iterative'.*'single'.*got 'maia'"):
        ExplainConfig(method="maia")
