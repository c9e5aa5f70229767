"""The analyses on top of explanations: factors as classifier features (sasc.classify, `sasc dictionary
classify`) and topics of explanations (sasc.topics, `sasc topics`). Pure parts on fixed inputs, a fake
factor bank for the whole classify flow, and bad input rejected before any model work."""

import json
import math

import numpy as np
import pytest

import sasc
from sasc.classify import (Coefficient, FactorExplanation, LabelledTexts, check_classifiable, classify,
                           cross_validate, load_labelled, plot_coefficients, pool_codes, read_labelled_file,
                           subsample, top_coefficients, top_features)
from sasc.cli import main
from sasc.config import ExplainConfig
from sasc.errors import ConfigError, DatasetError, ResultFormatError
from sasc.many_units import summarize_units, write_summary_json
from sasc.topics import (ExplainedUnit, ExplanationSet, fit_topics, normalize_rows, plot_topic_shares,
                         read_explanations, top_words, topic_shares)

from fakes import FOOD_CORPUS

# -- pooling, coefficients, shares: fixed inputs, known answers ------------------------------------


def test_pool_codes_mean_sum_max_and_empty_text():
    codes = np.array([[1.0, 0.0], [3.0, 2.0],   # text 0: two tokens
                      [0.0, 5.0]])               # text 2: one token; text 1 has none
    counts = [2, 0, 1]
    assert pool_codes(codes, counts, "mean").tolist() == [[2.0, 1.0], [0.0, 0.0], [0.0, 5.0]]
    assert pool_codes(codes, counts, "sum").tolist() == [[4.0, 2.0], [0.0, 0.0], [0.0, 5.0]]
    assert pool_codes(codes, counts, "max").tolist() == [[3.0, 2.0], [0.0, 0.0], [0.0, 5.0]]
    with pytest.raises(ConfigError, match="do not match"):
        pool_codes(codes, [1, 1], "mean")
    with pytest.raises(ConfigError, match="unknown pooling"):
        pool_codes(codes, counts, "median")


def test_top_coefficients_binary_and_multiclass():
    coef = np.array([[0.5, -2.0, 1.5, 0.0]])  # two classes: positive -> classes[1]
    top = top_coefficients(coef, ["neg", "pos"], k=2)
    assert top["pos"] == [Coefficient(2, 1.5), Coefficient(0, 0.5)]
    assert top["neg"] == [Coefficient(1, 2.0), Coefficient(3, -0.0)]
    multi = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, -1.0], [-1.0, 1.0, 0.5]])
    top = top_coefficients(multi, ["a", "b", "c"], k=1)
    assert {c: [x.factor for x in v] for c, v in top.items()} == {"a": [2], "b": [1], "c": [1]}
    with pytest.raises(ConfigError, match="3 row.s. for 2 classes"):
        top_coefficients(multi, ["a", "b"])
    assert top_features(np.array([[0.1, -3.0, 0.2, 2.0]]), 2).tolist() == [1, 3]


def test_topic_shares_normalize_rows_and_top_words():
    doc_topic = np.array([[2.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 4.0]])
    assert normalize_rows(doc_topic).tolist() == [[1.0, 0.0], [0.5, 0.5], [0.0, 0.0], [0.0, 1.0]]
    # set 0: docs 0, 1 -> mean (0.75, 0.25); set 1: doc 2 has no weight (left out), doc 3 -> (0, 1); set 2: empty
    shares = topic_shares(doc_topic, [0, 0, 1, 1], 3)
    assert shares.tolist() == [[0.75, 0.25], [0.0, 1.0], [0.0, 0.0]]
    assert top_words(np.array([[0.1, 0.9, 0.5], [1.0, 0.0, 0.0]]), ["a", "b", "c"], 2) == [["b", "c"], ["a", "b"]]


def test_subsample_keeps_class_proportions_and_is_seeded():
    data = LabelledTexts("x", [f"t{i}" for i in range(100)], ["a"] * 80 + ["b"] * 20)
    s = subsample(data, 10, seed=1)
    assert sorted(s.labels) == ["a"] * 8 + ["b"] * 2
    assert s.texts == subsample(data, 10, seed=1).texts and s.texts != subsample(data, 10, seed=2).texts
    assert subsample(data, 0) is data


# -- cross-validation on features with a known answer -------------------------------------------------


def _separable(n=120, k=30, informative=(3, 17), seed=0):
    rng = np.random.default_rng(seed)
    y = np.array(["a", "b"] * (n // 2))
    x = rng.normal(size=(n, k))
    for j in informative:
        x[:, j] += np.where(y == "b", 2.5, -2.5)
    texts = [f"word{i % 7} thing{i % 5}" for i in range(n)]  # carries no label information
    return x, texts, y


def test_cross_validate_finds_the_informative_factors():
    x, texts, y = _separable()
    cv = cross_validate(x, texts, list(y), folds=5, top_k=2, seed=0)
    acc = cv["accuracy"]
    assert acc["all_factors"] >= 0.9 and acc["top_factors"] >= 0.95
    assert acc["majority"] <= 0.55 and acc["bag_of_words"] <= 0.75  # the texts say nothing about the label
    assert len(cv["per_fold"]["all_factors"]) == 5
    top = top_coefficients(cv["coef"], cv["classes"], 2)
    assert {c.factor for c in top["b"]} == {3, 17}


class FakeEncoder:
    """Per text, one 'hidden state' per word: a one-hot row over a fixed vocabulary."""

    def __init__(self, vocab):
        self.vocab = vocab

    def hidden_states(self, texts, layer):
        import torch

        out = []
        for t in texts:
            rows = [[1.0 if w == v else 0.0 for v in self.vocab] for w in t.split() if w in self.vocab]
            out.append(torch.tensor(rows, dtype=torch.float32).reshape(-1, len(self.vocab)))
        return out


class FakeBank:
    """A factor bank whose codes are the hidden states themselves (identity dictionary)."""

    def __init__(self, vocab):
        self.encoder = FakeEncoder(vocab)
        self.layer = 4
        self.dictionary = np.eye(len(vocab), dtype=np.float32)
        self.lam, self.n_iter = 0.3, 500
        self.name = "fake dictionary"

    def codes(self, states):
        return states


def test_classify_flow_with_fake_bank_explains_only_the_allowed_number():
    vocab = ["good", "great", "bad", "awful", "film", "plot", "the"]
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for i in range(60):
        pos = i % 2 == 0
        words = list(rng.choice(["good", "great"] if pos else ["bad", "awful"], 2))
        words += ["the", "film", "plot"][: 1 + i % 3]
        texts.append(" ".join(words))
        labels.append("fresh" if pos else "rotten")
    asked = []

    def explain_fn(factors):
        asked.append(list(factors))
        return {f"L4.F{k}": FactorExplanation(f"word {vocab[k]}", 1.5) for k in factors}

    known = {"L4.F0": FactorExplanation("praise", 2.0)}
    report = classify(LabelledTexts("toy", texts, labels), FakeBank(vocab), folds=3, top_k=3, seed=0,
                      explanations=known, explain_missing=2, explain_fn=explain_fn)
    assert report.accuracy["all_factors"] == 1.0 and report.accuracy["majority"] == pytest.approx(0.5)
    assert [len(a) for a in asked] == [2] and "L4.F0" not in [f"L4.F{k}" for k in asked[0]]
    fresh = {r["unit"] for r in report.top["fresh"]}
    assert fresh >= {"L4.F0", "L4.F1"}  # good, great weigh toward fresh
    assert {r["unit"] for r in report.top["rotten"]} >= {"L4.F2", "L4.F3"}
    row0 = next(r for r in report.top["fresh"] if r["unit"] == "L4.F0")
    assert (row0["explanation"], row0["sigma"]) == ("praise", 2.0)
    assert sorted(report.explained) == sorted(f"L4.F{k}" for k in asked[0])
    unexplained = [r for rows in report.top.values() for r in rows if not r["explanation"]]
    assert all(math.isnan(r["sigma"]) for r in unexplained)
    assert report.timings["features_per_1000_texts_s"] > 0


def test_plot_coefficients_writes_png(tmp_path):
    vocab = ["good", "bad", "the"]
    texts = ["good the", "bad the", "good", "bad"] * 5
    labels = ["p", "n", "p", "n"] * 5
    report = classify(LabelledTexts("toy", texts, labels), FakeBank(vocab), folds=2, top_k=2)
    p = plot_coefficients(report, tmp_path / "c.png")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- labelled datasets and their errors ---------------------------------------------------------------


def test_read_csv_and_jsonl_datasets(tmp_path):
    (tmp_path / "d.csv").write_text("sentence,y\nI liked it,pos\n,neg\nawful,neg\n", encoding="utf-8")
    d = read_labelled_file(tmp_path / "d.csv", "sentence", "y")
    assert d.texts == ["I liked it", "awful"] and d.labels == ["pos", "neg"] and d.classes == ["neg", "pos"]
    (tmp_path / "d.jsonl").write_text('{"text": "a b", "label": 1}\n\n{"text": "c", "label": 0}\n', encoding="utf-8")
    d = load_labelled(tmp_path / "d.jsonl")
    assert d.texts == ["a b", "c"] and d.labels == ["1", "0"]


@pytest.mark.parametrize("name,content,match", [
    ("d.csv", "sentence,y\nhi,1\n", "no column"),
    ("d.jsonl", '{"text": "hi"}\n', "no column\\(s\\) 'label'"),
    ("d.jsonl", "not json\n", "not JSON"),
    ("d.txt", "hello\n", "unsupported dataset file"),
])
def test_dataset_errors(tmp_path, name, content, match):
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError, match=match):
        load_labelled(tmp_path / name)


def test_one_class_and_too_few_texts_for_the_folds():
    with pytest.raises(DatasetError, match="two classes; found 1 \\(only 'a'\\)"):
        check_classifiable(LabelledTexts("x", ["t"] * 10, ["a"] * 10), 5)
    with pytest.raises(DatasetError, match="'b' has 3"):
        check_classifiable(LabelledTexts("x", ["t"] * 13, ["a"] * 10 + ["b"] * 3), 5)
    with pytest.raises(ConfigError, match="folds"):
        check_classifiable(LabelledTexts("x", ["t"] * 4, ["a", "b"] * 2), 1)
    check_classifiable(LabelledTexts("x", ["t"] * 10, ["a", "b"] * 5), 5)


def test_d3_dataset_names(tmp_path):
    (tmp_path / "corpora").mkdir()
    (tmp_path / "corpora" / "d3_7.csv").write_text("input,label\nyes it is,1\nno,0\n", encoding="utf-8")
    d = load_labelled("d3:7", d3_data=tmp_path)
    assert d.name == "d3:7" and d.labels == ["1", "0"]
    with pytest.raises(DatasetError, match="no D3 corpus"):
        load_labelled("d3:8", d3_data=tmp_path)
    with pytest.raises(DatasetError, match="d3:N"):
        load_labelled("d3:x")


@pytest.mark.parametrize("content,match", [
    ("text,category\nhi,a\nho,b\n", "no column\\(s\\) 'label'"),
    ("text,label\n" + "hi,a\n" * 10, "two classes"),
    ("text,label\n" + "hi,a\nho,b\n" * 2, "5-fold"),
])
def test_cli_classify_rejects_bad_data_before_loading_anything(tmp_path, capsys, content, match):
    (tmp_path / "d.csv").write_text(content, encoding="utf-8")
    # the dictionary file does not exist: had the encoder or dictionary been loaded first, the error would name it
    rc = main(["dictionary", "classify", str(tmp_path / "d.csv"), "-d", str(tmp_path / "missing.npy"),
               "-o", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "missing.npy" not in err
    assert __import__("re").search(match, err)
    assert not (tmp_path / "out").exists()


# -- result files for topics ---------------------------------------------------------------------------


def _explain_result(tmp_path):
    from sasc.llm import ScriptedLLM

    from fakes import KeywordModule, topical_reply

    config = ExplainConfig(n_candidates=2, n_synthetic=3, n_generic=10, n_bootstrap=50, direct_screen=0)
    return sasc.explain(KeywordModule(), corpus=FOOD_CORPUS, generic=["The bus was late today."] * 12,
                        helper=ScriptedLLM(topical_reply), config=config, cache_dir=tmp_path)


def test_read_explanations_of_each_format(tmp_path):
    result = _explain_result(tmp_path)
    result.to_json(tmp_path / "r.json")
    s = read_explanations(tmp_path / "r.json")
    assert s.kind == "explain_result" and s.name == "r"
    assert [(i.unit, i.explanation) for i in s.items] == [("food-words", result.units[0].best.explanation)]
    assert s.items[0].sigma == pytest.approx(result.units[0].best.score.sigma, nan_ok=True)
    (tmp_path / "report").mkdir()
    result.to_json(tmp_path / "report" / "explanations.json")  # an fMRI report folder
    assert read_explanations(tmp_path / "report").name == "report"
    write_summary_json(summarize_units(result), tmp_path / "r.summary.json")
    s = read_explanations(tmp_path / "r.summary.json", name="bert")
    assert (s.kind, s.name, s.items[0].explanation) == ("units_summary", "bert", result.units[0].best.explanation)
    d3 = {"meta": {}, "settings": [], "tasks": [{"setting": "default", "seed": 0, "task": "d3_0_irony",
                                                "best_explanation": "sarcasm", "best_sigma": 1.2}]}
    (tmp_path / "summary.json").write_text(json.dumps(d3), encoding="utf-8")
    s = read_explanations(tmp_path / "summary.json")
    assert s.kind == "d3_summary" and s.items == [ExplainedUnit("default/0/d3_0_irony", "sarcasm", 1.2)]
    rec = {"task": "d3_1", "explanations": ["tweets", "other"], "sigmas": [0.5, 0.1]}
    (tmp_path / "d3_1.json").write_text(json.dumps(rec), encoding="utf-8")
    assert read_explanations(tmp_path / "d3_1.json").items == [ExplainedUnit("d3_1", "tweets", 0.5)]


@pytest.mark.parametrize("content,match", [
    (json.dumps([{"task": "d3_0_irony", "index": 0}]), "not a result sasc reads"),  # D3 tasks.json
    (json.dumps({"units": [1, 2]}), "not a result sasc reads"),
    (json.dumps({"units": [1], "module": {}}), "not an object"),
    ("unit,explanation\nL1,x\n", "not a JSON result file"),
])
def test_read_explanations_rejects_other_formats(tmp_path, content, match):
    (tmp_path / "x.json").write_text(content, encoding="utf-8")
    with pytest.raises(ResultFormatError, match=match):
        read_explanations(tmp_path / "x.json")


def test_read_explanations_missing_paths(tmp_path):
    with pytest.raises(ResultFormatError, match="no such result file"):
        read_explanations(tmp_path / "nope.json")
    with pytest.raises(ResultFormatError, match="without explanations.json"):
        read_explanations(tmp_path)


SPORTS = ["professional sports teams", "football and soccer matches", "basketball players and coaches",
          "sports teams winning games", "soccer players scoring goals"]
FOODS = ["cooking food in the kitchen", "recipes for cooking dinner", "food and restaurants",
         "baking bread and cooking", "restaurants serving food"]


def _set(name, texts):
    return ExplanationSet(name, "units_summary", [ExplainedUnit(f"{name}{i}", t, 1.0) for i, t in enumerate(texts)])


def test_fit_topics_separates_two_themes_and_is_seeded():
    sets = [_set("bert", SPORTS + FOODS[:1]), _set("fmri", FOODS + SPORTS[:1] + [""])]
    r = fit_topics(sets, 2, seed=0)
    sport = next(t for t in r.topics if {"sports", "players", "soccer", "teams"} & set(t["words"][:3]))
    food = 1 - sport["topic"]
    assert "cooking" in r.topics[food]["words"][:3] or "food" in r.topics[food]["words"][:3]
    assert r.shares[0][sport["topic"]] > 0.5 > r.shares[1][sport["topic"]]
    assert r.shares[1][food] > 0.5 > r.shares[0][food]
    assert all(sum(row) == pytest.approx(1.0) for row in r.shares)
    assert r.sets[1]["units"] == 7 and r.sets[1]["explanations"] == 6  # the empty explanation is left out
    assert sport["nearest"][0]["explanation"] in SPORTS
    assert fit_topics(sets, 2, seed=0).to_dict() == r.to_dict()
    assert fit_topics(sets, 2, method="lda", seed=0).method == "lda"
    with pytest.raises(ConfigError, match="fewer than 20 topics"):
        fit_topics(sets, 20)
    with pytest.raises(ConfigError, match="unknown topic method"):
        fit_topics(sets, 2, method="pca")


def test_cli_topics_writes_table_json_and_plot(tmp_path, capsys):
    for name, texts in (("bert", SPORTS), ("fmri", FOODS)):
        rows = [{"unit": f"{name}{i}", "explanation": t, "sigma": 1.0} for i, t in enumerate(texts)]
        (tmp_path / f"{name}.summary.json").write_text(json.dumps(rows), encoding="utf-8")
    out = tmp_path / "t"
    assert main(["topics", str(tmp_path / "bert.summary.json"), str(tmp_path / "fmri.summary.json"),
                 "--names", "BERT,fMRI", "-k", "2", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "BERT" in text and "fMRI" in text and "== topic 0" in text
    doc = json.loads((out / "topics.json").read_text())
    assert [s["name"] for s in doc["sets"]] == ["BERT", "fMRI"] and len(doc["shares"][0]) == 2
    assert (out / "topic_shares.png").read_bytes()[:4] == b"\x89PNG"
    p = plot_topic_shares(fit_topics([_set("a", SPORTS)], 1), tmp_path / "one.png")
    assert p.is_file()
    (tmp_path / "tasks.json").write_text(json.dumps([{"task": "x"}]), encoding="utf-8")
    assert main(["topics", str(tmp_path / "tasks.json"), "-o", str(tmp_path / "t2")]) == 2
    assert "not a result sasc reads" in capsys.readouterr().err
