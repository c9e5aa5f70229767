"""Explaining many units: a real SmolLM2 bank end to end with the scripted helper, summary table, plot."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from fakes import FOOD_CORPUS, topical_reply
from neurons_fixtures import smollm2  # noqa: F401

import sasc
from sasc.config import ExplainConfig
from sasc.llm import ScriptedLLM
from sasc.many_units import (
    UnitSummary, parse_unit_name, plot_sigma, write_summary, write_summary_csv, write_summary_json,
)

GENERIC = ["The weather report says rain tomorrow.", "He walked to the station in the morning.",
           "They painted the fence blue.", "The meeting ran late again.", "She read a book about trains.",
           "Our neighbour fixed the old bicycle.", "The museum opens at nine.", "A storm knocked out power."]
SMALL = ExplainConfig(n_candidates=2, n_synthetic=4, n_generic=8, n_bootstrap=50, n_top_reported=10,
                      n_top_considered=10, n_per_summary=5)


def test_parse_unit_names():
    assert parse_unit_name("L5.N1204") == (5, 1204)
    assert parse_unit_name("L4.F17") == (4, 17)
    assert parse_unit_name("L3.mlp.D2") == (3, 2)
    assert parse_unit_name("food") == (None, None)


@pytest.mark.slow
def test_explain_three_neurons_end_to_end(smollm2, tmp_path):
    helper = ScriptedLLM(topical_reply)
    bank = sasc.build_module("llm_neuron", model="smollm2", layer=4, units=[3, 100, 1204], device="cpu")
    result = sasc.explain(bank, corpus=FOOD_CORPUS, generic=GENERIC, helper=helper, config=SMALL,
                          cache_dir=tmp_path / "cache")
    assert [u.unit for u in result.units] == ["L4.N3", "L4.N100", "L4.N1204"]
    assert result.module["kind"] == "llm_neuron" and result.module["n_units"] == 3
    for u in result.units:
        # the helper names the top n-gram, so the best explanation comes from the unit's own ranking
        assert u.best is not None and math.isfinite(u.best.score.sigma)
        assert u.best.explanation in [t.ngram for t in u.top_ngrams]
    files = write_summary(result, tmp_path / "run")
    with open(files["csv"], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["unit"] for r in rows] == ["L4.N3", "L4.N100", "L4.N1204"]
    assert rows[2]["layer"] == "4" and rows[2]["index"] == "1204"
    assert float(rows[0]["sigma"]) == pytest.approx(result.units[0].best.score.sigma, rel=1e-6)
    data = json.loads(files["json"].read_text())
    assert data[1]["explanation"] == result.units[1].best.explanation
    assert files["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the n-gram stage ran once for all units and is cached together: a second request is free
    again = sasc.explain(bank, units=["L4.N100"], corpus=FOOD_CORPUS, generic=GENERIC, helper=helper,
                         config=SMALL, cache_dir=tmp_path / "cache")
    assert again.reference_corpus["responses_from_cache"]
    assert again.units[0].top_ngrams == result.units[1].top_ngrams


def _rows():
    rng = np.random.default_rng(0)
    rows = [UnitSummary(f"L{layer}.N{i}", layer, i, f"theme {i}", float(rng.normal(layer, 1)), 0.0, 1.0, 2, ["a"])
            for layer in range(3) for i in range(5)]
    rows.append(UnitSummary("L1.N99", 1, 99, "", float("nan"), float("nan"), float("nan"), 0, []))
    return rows


def test_summary_files_handle_missing_explanations(tmp_path):
    rows = _rows()
    data = json.loads(write_summary_json(rows, tmp_path / "s.json").read_text())
    assert len(data) == 16 and data[-1]["sigma"] is None and data[0]["top_ngrams"] == ["a"]
    with open(write_summary_csv(rows, tmp_path / "s.csv"), newline="") as f:
        assert list(csv.DictReader(f))[-1]["sigma"] == "nan"


@pytest.mark.parametrize("layers", [3, 1])
def test_sigma_plot_per_layer_or_per_unit(tmp_path, layers):
    rows = [r for r in _rows() if r.layer is not None and r.layer < layers]
    path = plot_sigma(rows, tmp_path / "sigma.png")
    from matplotlib.image import imread

    img = imread(path)
    assert img.shape[:2] == (450, 800) and img.std() > 0


def test_units_summary_cli(tmp_path, capsys):
    from sasc.cli import main
    from sasc.results import ExplainResult, ScoredCandidate, TopNgram, UnitExplanation

    units = [UnitExplanation(f"L2.N{i}", [TopNgram("pizza", 1.0, 3)],
                             [ScoredCandidate(f"food {i}", _sigma(s), ["pizza"], ["r"], ["u"])])
             for i, s in enumerate([0.5, 2.0])]
    result = ExplainResult(units, {"name": "m"}, "fake", {}, {}, {}, {}, {})
    result.to_json(tmp_path / "r.json")
    assert main(["units-summary", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert out.index("L2.N1") < out.index("L2.N0")  # best σ first
    for suffix in (".summary.csv", ".summary.json", ".sigma.png"):
        assert (tmp_path / f"r{suffix}").exists()


def _sigma(value: float):
    from sasc.scoring import score_sigma

    rng = np.random.default_rng(int(value * 10))
    generic = rng.normal(0, 1, 50)
    return score_sigma(generic[:10] * 0 + value, generic, rng.normal(0, 1, 10), n_boot=20, seed=0)


def test_units_summary_shows_predictive_scores(tmp_path, capsys):
    from sasc.cli import main
    from sasc.results import ExplainResult, ScoredCandidate, TopNgram, UnitExplanation

    sim = {"value": 0.62, "ci": [0.41, 0.78], "n": 40, "baseline": 0.05, "undefined_reason": None,
           "method": "logprobs", "details": {}}
    undefined = {"value": None, "ci": [None, None], "n": 0, "baseline": None,
                 "undefined_reason": "the module's responses are constant over the scoring set",
                 "method": "logprobs", "details": {}}
    units = [UnitExplanation(f"L2.N{i}", [TopNgram("pizza", 1.0, 3)],
                             [ScoredCandidate(f"food {i}", _sigma(s), ["pizza"], ["r"], ["u"], scores={"simulation": d})])
             for i, (s, d) in enumerate([(0.5, sim), (2.0, undefined)])]
    ExplainResult(units, {"name": "m"}, "fake", {}, {}, {}, {}, {}).to_json(tmp_path / "r.json")
    assert main(["units-summary", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "simulation" in out and "0.62 [0.41,0.78] b0.05" in out and "undefined" in out and "baseline" in out
    with open(tmp_path / "r.summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["simulation_value"] == "0.62" and rows[0]["simulation_baseline"] == "0.05"
    assert rows[0]["simulation_ci_low"] == "0.41" and rows[0]["simulation_n"] == "40"
    assert rows[1]["simulation_value"] == "" and rows[1]["simulation_n"] == "0"  # undefined: empty, not nan
    data = json.loads((tmp_path / "r.summary.json").read_text())
    assert data[0]["scores"]["simulation"] == sim and data[1]["scores"]["simulation"]["undefined_reason"]


def test_summary_without_scores_has_no_score_columns(tmp_path):
    with open(write_summary_csv(_rows(), tmp_path / "s.csv"), newline="") as f:
        assert not any(k.endswith("_value") for k in csv.DictReader(f).fieldnames)


def test_units_summary_html_shows_winners_flags_scores_and_output_evidence(tmp_path):
    """The page: units by σ, the winner with its form flags and the σ winner it replaced, predictive
    scores with the legend, what the unit makes the model say, the plot, and everything escaped."""
    from sasc.cli import main
    from sasc.form import FormCheck
    from sasc.results import ExplainResult, ScoredCandidate, TopNgram, UnitExplanation

    sim = {"value": 0.62, "ci": [0.41, 0.78], "n": 40, "baseline": 0.05, "undefined_reason": None,
           "method": "logprobs", "details": {}}
    evidence = {"promoted": [[" pizza", 0.9], [" pasta", 0.8]], "suppressed": [[" rain", -0.7]],
                "raised": [[" cheese", 1.2], ["\n", 0.4]], "amplified_by": 3.0}
    units = [
        UnitExplanation("L2.N0", [TopNgram("pizza <b>", 1.0, 3)],
                        [ScoredCandidate("Food and food", _sigma(0.5), [], [], [], form=FormCheck(("repeated_word",), 3),
                                         scores={"simulation": sim}, style="output")], output_evidence=evidence),
        UnitExplanation("L2.N1", [TopNgram("rain", 1.0, 3)],
                        [ScoredCandidate("Weather <i>reports</i>", _sigma(2.0), [], [], [], form=FormCheck((), 2))],
                        reranked_from="Rain rain"),
    ]
    ExplainResult(units, {"name": "m"}, "fake", {"name": "news"}, {"name": "generic"}, {}, {}, {}).to_json(
        tmp_path / "r.json")
    assert main(["units-summary", str(tmp_path / "r.json")]) == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.index("L2.N1") < page.index("L2.N0")  # best σ first
    assert "Weather &lt;i&gt;reports&lt;/i&gt;" in page and "pizza &lt;b&gt;" in page and "<i>reports" not in page
    assert '[repeated_word]</span>' in page and "(over Rain rain)" in page
    assert page.count("(output side)</span>") == 1  # L2.N0's winner summarizes what the unit makes the model say
    assert "0.62 [0.41,0.78] b0.05" in page and "baseline" in page  # the score cell and the legend
    assert "makes the model say" in page and "raises: " in page and ">\\n</span>" in page  # whitespace shown
    assert '<span class="tok" title="+0.9"> pizza</span>' in page and "suppresses: " in page
    assert 'src="data:image/png;base64,' in page


def test_atomic_writes_leave_the_file_whole_with_the_users_permissions(tmp_path):
    import os

    from sasc.cache import atomic_save, atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "d" / "page.html", "<p>é</p>")
        atomic_save(tmp_path / "d" / "v.npy", np.arange(3, dtype=np.float32))
    finally:
        os.umask(old)
    assert (tmp_path / "d" / "page.html").read_text(encoding="utf-8") == "<p>é</p>"
    assert np.load(tmp_path / "d" / "v.npy").tolist() == [0.0, 1.0, 2.0]
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["page.html", "v.npy"]  # no temporary left
    assert {oct(p.stat().st_mode & 0o777) for p in (tmp_path / "d").iterdir()} == {"0o644"}  # not mkstemp's 0600
