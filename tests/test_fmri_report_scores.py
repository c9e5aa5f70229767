"""The fMRI HTML report shows predictive scores beside σ when the result has them."""

from __future__ import annotations

from types import SimpleNamespace

from sasc.fmri.explain import VoxelExplanation, VoxelReport
from sasc.fmri.report import render_html
from sasc.results import ExplainResult, ScoredCandidate, SigmaScore, TopNgram, UnitExplanation

MODEL = SimpleNamespace(train_runs=["run1"], test_runs=["run2"], feature_spec={"kind": "words"}, n_voxels=10)
SIM = {"value": 0.62, "ci": [0.41, 0.78], "n": 40, "baseline": 0.05, "undefined_reason": None, "method": "logprobs",
       "details": {}}
UNDEFINED = {"value": None, "ci": [None, None], "n": 0, "baseline": None, "method": "logprobs", "details": {},
             "undefined_reason": "the module's responses are constant over the scoring set"}


def _report(scores):
    units = [UnitExplanation(f"v{i}", [TopNgram("pizza", 1.0, 1)],
                             [ScoredCandidate(f"food {i}", SigmaScore(1.5, 1.0, 2.0, 1.0, 0.5, 4, 0, 8), [], [], [],
                                              scores=s)])
             for i, s in enumerate(scores)]
    rows = [VoxelExplanation(i, f"v{i}", None, None, 0.5, 1.0, f"food {i}", 1.5, ["pizza"]) for i in range(len(scores))]
    return VoxelReport(rows, ExplainResult(units, {"name": "m"}, "fake", {}, {}, {}, {}, {}))


def test_report_shows_scores_with_baseline_and_undefined_reason():
    page = render_html("t", MODEL, _report([{"simulation": SIM}, {"simulation": UNDEFINED}]), [])
    assert "<th>simulation</th>" in page
    assert "<td>0.62 [0.41,0.78] b0.05</td>" in page
    assert "title=\"the module&#x27;s responses are constant over the scoring set\">undefined</td>" in page
    assert "baseline being the same score for a random explanation" in page


def test_report_without_scores_has_no_score_columns():
    page = render_html("t", MODEL, _report([{}, {}]), [])
    assert "simulation" not in page and "baseline" not in page and "<th>σ</th><th>top explanation</th>" in page
