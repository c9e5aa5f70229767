"""D3 benchmark: judging, the ablations, data loading, resumable runs, table and files.

Fast: hand-made data, the scripted helper, a fake similarity embedder; the module is
the real MiniLM embedding-distance bank (loaded once per process).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from sasc.bench.d3 import D3Options, run_d3
from sasc.bench.judging import judge_candidates, noisy_responses, recovers
from sasc.bench.report import PAPER, format_table, summarize_setting
from sasc.bench.responses import D3Responses
from sasc.bench.similarity import SimilarityJudge, cosine_centred
from sasc.bench.tasks import D3Corpora, load_tasks, restricted_partner, select_tasks
from sasc.config import ExplainConfig
from sasc.errors import ConfigError, CorpusError
from sasc.llm import ScriptedLLM, wrap_helper

from d3_records import rec
from fakes import KeywordModule, refuse_nan



@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """MiniLM on a handful of short texts: one thread is faster, and far faster on a busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- judging


def test_recovers_is_a_case_insensitive_search():
    assert recovers("Sarcastic remarks", "irony|sarcas")
    assert recovers("the IRONY of it", "irony|sarcas")
    assert not recovers("humor and jokes", "irony|sarcas")


def test_judge_candidates_top1_versus_any():
    assert judge_candidates(["food", "cooking"], "food") == (True, True)
    assert judge_candidates(["cooking", "food"], "food") == (False, True)
    assert judge_candidates(["sports", "weather"], "food") == (False, False)
    assert judge_candidates([], "food") == (False, False)


# --------------------------------------------------------------------------- noisy module


def test_noise_is_seeded_pure_and_scaled_by_top100_std():
    rng = np.random.default_rng(1)
    values = rng.normal(size=20000).astype(np.float32)
    copy = values.copy()
    a = noisy_responses(values, scale=3.0, n_top=100, seed=7)
    b = noisy_responses(values, scale=3.0, n_top=100, seed=7)
    c = noisy_responses(values, scale=3.0, n_top=100, seed=8)
    np.testing.assert_array_equal(values, copy)  # input untouched
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    want_sd = 3.0 * np.std(np.sort(values.astype(np.float64))[-100:])
    assert np.std(a - values) == pytest.approx(want_sd, rel=0.03)
    np.testing.assert_allclose(noisy_responses(values, scale=0.0), values, atol=1e-6)


def test_noise_hand_made_top_std():
    values = np.array([0.0, 1.0, 3.0, 5.0])  # top-2 = {5, 3}: std 1
    diff = noisy_responses(values, scale=2.0, n_top=2, seed=0) - values
    np.testing.assert_allclose(diff, np.random.default_rng(0).normal(0.0, 2.0, size=4), atol=1e-5)


def test_noise_rejects_bad_parameters():
    with pytest.raises(ConfigError, match="scale"):
        noisy_responses(np.ones(3), scale=-1)
    with pytest.raises(ConfigError, match="n_top"):
        noisy_responses(np.ones(3), n_top=0)


# --------------------------------------------------------------------------- data


def make_data(root: Path) -> Path:
    """Three tasks: two with corpora (food, sports), one without (pooled)."""
    tasks = [
        {"task": "d3_0_food", "index": 0, "name": "food", "groundtruth_explanation": "is about food",
         "check_regex": "food|cook|meal"},
        {"task": "d3_1_sport", "index": 1, "name": "sport", "groundtruth_explanation": "is related to sports",
         "check_regex": "sport"},
        {"task": "d3_2_weather", "index": 2, "name": "weather", "groundtruth_explanation": "is about the weather",
         "check_regex": "weather|rain"},
    ]
    (root / "corpora").mkdir(parents=True)
    (root / "tasks.json").write_text(json.dumps(tasks))
    rows = {0: ["Good food and home cooking", "The meal was delicious food", "Stock prices fell today"],
            1: ["The team won the football match", "She scored a goal in the final", "It rained all week"]}
    for i, texts in rows.items():
        with (root / "corpora" / f"d3_{i}.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["input", "label"])
            w.writerows([t, 1] for t in texts)
    return root


def test_load_tasks_and_pooled_corpus(tmp_path):
    data = make_data(tmp_path / "d3")
    tasks = load_tasks(data)
    assert [t.index for t in tasks] == [0, 1, 2]
    assert tasks[2].corpus_file is None and tasks[0].corpus_file.endswith("d3_0.csv")
    corpora = D3Corpora(tasks)
    assert corpora.texts(tasks[2]) == corpora.texts(tasks[0]) + corpora.texts(tasks[1])
    assert corpora.source(tasks[2]) == "pooled"
    assert D3Corpora(tasks, max_texts=1).texts(tasks[1]) == ["The team won the football match"]
    assert [t.index for t in select_tasks(tasks, [2, 0])] == [2, 0]
    with pytest.raises(ConfigError, match="unknown D3 task"):
        select_tasks(tasks, [7])


def test_load_tasks_errors(tmp_path):
    with pytest.raises(CorpusError, match="tasks.json"):
        load_tasks(tmp_path)
    (tmp_path / "tasks.json").write_text(json.dumps([{"index": 0}]))
    with pytest.raises(CorpusError, match="groundtruth_explanation"):
        load_tasks(tmp_path)


def test_restricted_partner_is_next_task_with_a_corpus(tmp_path):
    tasks = load_tasks(make_data(tmp_path / "d3"))
    assert [restricted_partner(tasks, t).index for t in tasks] == [1, 0, 0]


def test_run_keys_of_earlier_records_stay_valid():
    """Keys computed by the version before ``synthetic_style`` existed (commit 13ef3eb): a setting
    added at its former behaviour must not make finished runs be redone; any other value must."""
    import dataclasses

    from sasc.bench.d3 import run_key
    from sasc.bench.tasks import D3Task

    task = D3Task(index=3, task="x", name="x", keyphrase="x", check_regex="x", corpus_file="x")
    helper = "llama.cpp:qwen2.5-coder-1.5b-instruct-q4_k_m"
    about = ExplainConfig(synthetic_style="about", direct_screen=0, n_candidates=5,
                          summary_styles=("theme", "source"), form_repair=False,
                          readable_ranking=False)  # the defaults of that version
    assert run_key(task, "default", 0, helper, about, D3Options(), cleaning=1) == "8e653a903ba95a99"
    assert run_key(task, "noisy", 0, helper, about, D3Options(), cleaning=1) == "2ab7c19a73a91cef"
    keys = {run_key(task, "default", 0, helper, dataclasses.replace(about, **change), D3Options(), cleaning=1)
            for change in ({"synthetic_style": "example"}, {"synthetic_style": "mixed"}, {"direct_screen": 2},
                           {"direct_screen": 3}, {"form_repair": True}, {"readable_ranking": True},
                           {"readable_ranking": True, "fluency_model": ""})}
    assert len(keys) == 7 and "8e653a903ba95a99" not in keys


def test_run_keys_change_with_the_cleaning_rules():
    """Version 1 of the cleaning rules keeps the earlier keys; later versions clean some replies
    into other candidates, so their runs are new runs."""
    from sasc.bench.d3 import run_key
    from sasc.bench.tasks import D3Task
    from sasc.summarize import CLEANING_VERSION

    task = D3Task(index=3, task="x", name="x", keyphrase="x", check_regex="x", corpus_file="x")
    helper = "llama.cpp:qwen2.5-coder-1.5b-instruct-q4_k_m"
    about = ExplainConfig(synthetic_style="about", direct_screen=0, n_candidates=5, summary_styles=("theme", "source"),
                          form_repair=False, readable_ranking=False)
    assert run_key(task, "default", 0, helper, about, D3Options(), cleaning=1) == "8e653a903ba95a99"
    assert CLEANING_VERSION >= 3
    by_version = {v: run_key(task, "default", 0, helper, about, D3Options(), cleaning=v) for v in (1, 2, 3, 4)}
    assert len(set(by_version.values())) == 4
    assert run_key(task, "default", 0, helper, about, D3Options()) == by_version[CLEANING_VERSION]


def test_task_and_seed_lists_parse_with_a_clear_error(capsys):
    import argparse

    from sasc.cli import main, parse_ints

    assert parse_ints("0,3, 5-7", "--tasks") == [0, 3, 5, 6, 7]
    assert parse_ints("  ", "--tasks") is None
    with pytest.raises(argparse.ArgumentTypeError, match="--seeds must be integers or ranges like 0,1,5-9"):
        parse_ints("1-x", "--seeds")
    assert main(["benchmark", "d3", "--tasks", "1-x", "--helper", "fake"]) == 2
    assert "sasc: error: --tasks must be integers or ranges" in capsys.readouterr().err


def test_options_validation():
    with pytest.raises(ConfigError, match="accepted: default, restricted, noisy"):
        D3Options(settings=("default", "loud"))
    with pytest.raises(ConfigError, match="seed"):
        D3Options(seeds=())


# --------------------------------------------------------------------------- similarity


def test_cosine_centred_by_hand():
    a = np.array([[2.0, 1.0], [1.0, 2.0]])
    b = np.array([[2.0, 1.0], [2.0, 1.0]])
    np.testing.assert_allclose(cosine_centred(a, b, np.array([1.0, 1.0])), [1.0, 0.0], atol=1e-12)


def letters(texts):
    """A fake embedder: letter counts."""
    return np.array([[t.lower().count(c) for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts], dtype=float)


def test_similarity_judge_prefers_the_matching_phrase():
    judge = SimilarityJudge(letters, ["is about food", "is related to sports", "the weather"], name="letters")
    same, other = judge.similarity(["is about food", "weather"], ["is about food", "is about food"])
    assert same == pytest.approx(1.0) and other < 0.5


# --------------------------------------------------------------------------- records and table


def test_summarize_setting_by_hand():
    records = [rec("default", 0, 0, ["food", "sport"], [2.0, 1.0], "food", 0.8),
               rec("default", 0, 1, ["rain", "sport"], [1.5, 0.5], "sport", 0.2),
               rec("default", 1, 0, ["cooking"], [0.0], "food", float("nan")),
               rec("noisy", 0, 0, ["food"], [9.0], "food")]
    s = summarize_setting("default", records)
    assert (s.n_tasks, s.n_runs) == (2, 3)
    assert s.top1 == pytest.approx(100 / 3) and s.any_candidate == pytest.approx(200 / 3)
    assert s.top1_seed_sd == pytest.approx(np.std([50.0, 0.0], ddof=1))
    assert s.similarity == pytest.approx(0.5)  # NaN skipped
    assert s.sigma_correct == pytest.approx((2.0 + 0.5) / 2)
    assert s.sigma_incorrect == pytest.approx((1.0 + 1.5 + 0.0) / 3)
    assert (s.paper_top1, s.paper_any_candidate) == (PAPER["default"]["top1"], PAPER["default"]["any_candidate"])
    assert (s.llm_calls, s.llm_cached_calls, s.tokens, s.seconds) == (9, 3, 45, 6.0)
    assert (s.seeds, s.top1_by_seed) == ((0, 1), (50.0, 0.0))
    table = format_table([s])
    assert "88.3" in table and "33.3" in table and "66.7" in table
    assert "default top-1 % by seed: 50.0 (seed 0), 0.0 (seed 1); sd 35.4" in table
    assert "by seed" not in format_table([summarize_setting("noisy", records)])  # one seed


# --------------------------------------------------------------------------- end to end (scripted helper)


def themed_reply(prompt: str) -> str:
    """Summaries name the first listed phrase; synthetic texts mention the theme."""
    if prompt.startswith("Here is a list of phrases"):  # either summary style
        return prompt.split("\n")[1].removeprefix("- ")
    m = re.search(r"(?:about|nothing to do with): (.*)\.\n", prompt)
    topic = m.group(1) if m else "things"
    if "nothing to do with" in prompt:
        return json.dumps({"sentences": [f"A quiet note number {i} on the calendar." for i in range(4)]})
    return json.dumps({"sentences": [f"Sentence {i} about {topic}." for i in range(4)]})


SMALL = ExplainConfig(n_candidates=2, n_synthetic=3, n_generic=4, n_bootstrap=50, n_per_summary=3,
                      n_top_considered=5)
GENERIC = ["A man walks his dog.", "The meeting starts at noon.", "Books line the shelf.", "Cars pass by."]


def run(data, out, helper, **kw):
    judge = SimilarityJudge(letters, ["is about food", "is related to sports", "is about the weather"], "letters")
    return run_d3(data, helper=helper, config=kw.pop("config", SMALL), out=out, cache_dir=out.parent / "cache",
                  judge=judge, generic=GENERIC, **kw)


def test_run_d3_writes_table_files_and_traceable_records(tmp_path):
    data = make_data(tmp_path / "d3")
    helper = wrap_helper(ScriptedLLM(themed_reply))
    report = run(data, tmp_path / "out", helper)
    assert [(r.setting, r.index) for r in report.records] == [
        (s, i) for s in ("default", "restricted", "noisy") for i in (0, 1, 2)]
    by = {(r.setting, r.index): r for r in report.records}
    assert by[("default", 2)].corpus == "pooled"
    assert by[("restricted", 0)].corpus == "d3_1.csv" and by[("restricted", 1)].corpus == "d3_0.csv"
    for r in report.records:
        assert r.explanations and r.top1 == r.matches[0] and r.any_candidate == any(r.matches)
        assert r.unit["top_ngrams"] and r.unit["candidates"][0]["related_texts"]
        assert r.llm_calls > 0 and np.isfinite(r.similarity) and r.similarity_judge == "letters"
    # the food module's top n-gram in its own corpus names food; restricted to sports texts it cannot
    assert by[("default", 0)].top1 and not by[("restricted", 0)].any_candidate
    # noise reorders the n-grams the summaries see
    assert by[("noisy", 0)].unit["top_ngrams"] != by[("default", 0)].unit["top_ngrams"]
    doc = json.loads(report.files["summary_json"].read_text(), parse_constant=refuse_nan)  # strict JSON
    assert [s["setting"] for s in doc["settings"]] == ["default", "restricted", "noisy"]
    assert doc["settings"][0]["top1_seed_sd"] is None  # one seed: no spread, written as null
    records = list((tmp_path / "out" / "records").rglob("*.json"))
    assert len(records) == 9 and all(json.loads(p.read_text(), parse_constant=refuse_nan) for p in records)
    assert doc["meta"]["usage"]["calls"] == sum(r.llm_calls for r in report.records)
    rows = list(csv.DictReader(report.files["tasks_csv"].open()))
    assert len(rows) == 9 and rows[0]["best_explanation"] == report.records[0].explanations[0]
    summary_rows = list(csv.DictReader(report.files["summary_csv"].open()))
    assert float(summary_rows[0]["top1"]) == pytest.approx(report.summaries[0].top1)
    assert summary_rows[0]["seeds"] == "0" and float(summary_rows[0]["top1_by_seed"]) == pytest.approx(
        report.summaries[0].top1, abs=1e-3)  # per-seed tuples as space-separated numbers
    assert report.files["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "default" in report.table and "88.3" in report.table
    assert len(list((tmp_path / "out" / "records").rglob("*.json"))) == 9


def test_rerun_resumes_finished_tasks_without_helper_calls(tmp_path):
    data = make_data(tmp_path / "d3")
    first = run(data, tmp_path / "out", wrap_helper(ScriptedLLM(themed_reply)), tasks=[0, 1],
                options=D3Options(settings=("default",)))
    # a helper with no replies at all: any call would raise
    second = run(data, tmp_path / "out", wrap_helper(ScriptedLLM([])), tasks=[0, 1],
                 options=D3Options(settings=("default",)))
    assert [r.explanations for r in second.records] == [r.explanations for r in first.records]
    assert second.usage["calls"] == 0
    # an interrupted run: one record missing, and one left by another config, are redone
    (tmp_path / "out" / "records" / "default" / "seed0" / "d3_1_sport.json").unlink()
    third = run(data, tmp_path / "out", wrap_helper(ScriptedLLM(themed_reply)), tasks=[0, 1],
                options=D3Options(settings=("default",)))
    assert third.usage["calls"] == third.records[1].llm_calls > 0 and third.records[0].llm_calls == first.records[0].llm_calls
    fourth = run(data, tmp_path / "out", wrap_helper(ScriptedLLM(themed_reply)), tasks=[0],
                 options=D3Options(settings=("default",)), config=ExplainConfig(**{**SMALL.__dict__, "n_candidates": 1}))
    assert fourth.usage["calls"] > 0 and len(fourth.records[0].explanations) == 1


def test_shared_and_per_corpus_responses_agree(tmp_path):
    data = make_data(tmp_path / "d3")
    a = run(data, tmp_path / "a", wrap_helper(ScriptedLLM(themed_reply)), options=D3Options(settings=("default",)))
    b = run(data, tmp_path / "b", wrap_helper(ScriptedLLM(themed_reply)),
            options=D3Options(settings=("default",), shared_responses=False))
    for ra, rb in zip(a.records, b.records):
        ga = [t["ngram"] for t in ra.unit["top_ngrams"]]
        gb = [t["ngram"] for t in rb.unit["top_ngrams"]]
        assert ga[:5] == gb[:5]
        np.testing.assert_allclose([t["response"] for t in ra.unit["top_ngrams"]],
                                   [t["response"] for t in rb.unit["top_ngrams"]], atol=1e-5)


def test_response_tables_stay_in_memory_for_the_last_corpora_only(tmp_path):
    tasks = load_tasks(make_data(tmp_path / "d3"))
    module = KeywordModule()
    resp = D3Responses(module, D3Corpora(tasks), ExplainConfig().ngrams, cache=None, keep=2)
    first = resp.for_task(tasks[0])
    assert resp.for_task(tasks[0])[1] is first[1]  # kept: no recount
    resp.for_task(tasks[1])
    resp.for_task(tasks[2])  # the pooled corpus: tasks[0]'s table is now the least recently used, dropped
    again = resp.for_task(tasks[0])
    assert again[1] is not first[1] and again[0].ngrams == first[0].ngrams
    np.testing.assert_array_equal(again[1], first[1])
    with pytest.raises(ConfigError, match="keep"):
        D3Responses(module, D3Corpora(tasks), ExplainConfig().ngrams, cache=None, keep=0)


def test_cli_benchmark_d3_with_fake_helper(tmp_path, capsys):
    from sasc.cli import main

    data = make_data(tmp_path / "d3")
    out = tmp_path / "out"
    code = main(["benchmark", "d3", "--data", str(data), "--tasks", "0-1", "--settings", "default,noisy",
                 "--helper", "fake", "--no-similarity", "--candidates", "1", "--synthetic", "2",
                 "--generic-size", "20", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "-q"])
    text = capsys.readouterr().out
    assert code == 0
    assert "paper" in text and "noisy" in text and "helper calls:" in text
    assert (out / "summary.json").exists() and (out / "accuracy.png").exists()
    assert len(list((out / "records").rglob("*.json"))) == 4


def test_workers_give_the_serial_records_and_resume(tmp_path):
    """Two spawned worker processes (the 'fake' spec, rebuilt in each) produce the records a
    serial run produces, and a rerun finds them all on disk without starting any worker."""
    data = make_data(tmp_path / "d3")
    opts = D3Options(settings=("default", "restricted"))
    kw = dict(helper="fake", config=SMALL, options=opts, judge=None, generic=GENERIC)
    serial = run_d3(data, out=tmp_path / "serial", cache_dir=tmp_path / "cache1", **kw)
    parallel = run_d3(data, out=tmp_path / "par", cache_dir=tmp_path / "cache2", workers=2, **kw)
    assert [(r.setting, r.index) for r in parallel.records] == [(r.setting, r.index) for r in serial.records]
    for a, b in zip(serial.records, parallel.records):
        assert a.explanations == b.explanations and a.run_key == b.run_key
        np.testing.assert_allclose(a.sigmas, b.sigmas, rtol=1e-4, atol=1e-4)
    assert parallel.usage["calls"] == sum(r.llm_calls for r in parallel.records) > 0
    doc = json.loads(parallel.files["summary_json"].read_text(), parse_constant=refuse_nan)
    assert doc["meta"]["workers"] == 2 and doc["meta"]["usage"]["calls"] == parallel.usage["calls"]
    again = run_d3(data, out=tmp_path / "par", cache_dir=tmp_path / "cache2", workers=2, **kw)
    assert again.usage["calls"] == 0 and [r.explanations for r in again.records] == [
        r.explanations for r in parallel.records]


def test_workers_need_specs_they_can_rebuild(tmp_path):
    data = make_data(tmp_path / "d3")
    with pytest.raises(ConfigError, match="spec string"):
        run_d3(data, helper=wrap_helper(ScriptedLLM(themed_reply)), out=tmp_path / "o", judge=None, workers=2)
    with pytest.raises(ConfigError, match="spec string"):
        judge = SimilarityJudge(letters, ["is about food"], "letters")
        run_d3(data, helper="fake", out=tmp_path / "o", judge=judge, workers=2)
    with pytest.raises(ConfigError, match="workers"):
        run_d3(data, helper="fake", out=tmp_path / "o", judge=None, workers=0)


def test_cli_benchmark_d3_runs_methods_side_by_side(tmp_path, capsys):
    from sasc.cli import main

    data = make_data(tmp_path / "d3")
    out = tmp_path / "out"
    common = ["benchmark", "d3", "--data", str(data), "--tasks", "0", "--settings", "default", "--helper", "fake",
              "--no-similarity", "--candidates", "1", "--synthetic", "2", "--generic-size", "20",
              "--iter-rounds", "2", "--fluency-model", "", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
              "-q"]
    assert main(common + ["--method", "single,iterative"]) == 0
    text = capsys.readouterr().out
    assert "== method single" in text and "== method iterative" in text and "== single vs iterative" in text
    assert "sign test" in text
    single = json.loads(next((out / "single" / "records").rglob("*.json")).read_text())
    iterative = json.loads(next((out / "iterative" / "records").rglob("*.json")).read_text())
    assert not single["unit"].get("experiment") and iterative["unit"]["experiment"]["rounds"] >= 1
    assert main(common + ["--method", "single,bogus"]) == 2  # refused before any work
    assert "bogus" in capsys.readouterr().err
