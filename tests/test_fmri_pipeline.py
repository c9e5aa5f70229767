"""End to end on a small simulated dataset: simulate -> write NIfTI -> load -> fit -> select ->
explain -> NIfTI maps + PNG + HTML -> reload and check values; the CLI; one real-helper run."""

from __future__ import annotations

import dataclasses
import re

import nibabel as nib
import numpy as np
import pytest
from fakes import topical_reply

from sasc import ExplainConfig
from sasc.cli import main
from sasc.fmri import (
    CONCEPT_PATTERNS, EncodingConfig, EncodingModel, FeatureModel, FeatureSettings, SimulationConfig, explain_voxels,
    fit_encoding, load_bids, simulate, write_report, write_simulation,
)
from sasc.fmri.simulate import read_ground_truth
from sasc.llm import ScriptedLLM

CORPUS = [
    "We cooked pasta and baked bread for dinner. The soup and cheese were delicious.",
    "My mother and father visited my sister and her children. The family had a meal.",
    "Stock prices rose on Monday. The committee will vote next week on the budget.",
    "The weather was cold and rainy. Trains were delayed across the region.",
    "Pizza, rice and chicken are popular foods. The restaurant serves breakfast.",
] * 2
GENERIC = ["A film about a detective in a small town.", "The actors are charming but the plot is thin.",
           "It rained all day in the city.", "She plays the piano every evening.",
           "The museum opened a new exhibit.", "Traffic was heavy on the highway."]
SMALL = ExplainConfig(n_candidates=2, n_synthetic=4, n_generic=6, n_bootstrap=50, n_top_considered=10, n_per_summary=8)
FIT = EncodingConfig(features=FeatureSettings(trim_start=2, trim_end=2), n_folds=3)


@pytest.fixture(scope="module")
def features():
    return FeatureModel()


@pytest.fixture(scope="module")
def study(tmp_path_factory, features):
    """A 5-run simulated subject (food and family voxels, SNR 4) on a 10-mm MNI152 grid, fitted."""
    root = tmp_path_factory.mktemp("sim")
    cfg = SimulationConfig(n_runs=5, words_per_run=160, snr=4.0, voxel_size_mm=10.0, concepts=("food", "family"),
                           voxels_per_concept=3, seed=1)
    write_simulation(simulate(cfg, features), root)
    data = load_bids(root)
    model = fit_encoding(data, features, test_runs=1, config=FIT)
    return root, data, model


def test_simulated_layout_and_fit(study):
    root, data, model = study
    assert len(data.runs) == 5 and data.tr == 2.0
    truth = read_ground_truth(root)
    assert sorted(set(truth.values())) == ["family", "food"] and len(truth) == 6
    planted = np.array(sorted(truth))
    background = np.setdiff1d(np.arange(model.n_voxels), planted)
    assert model.n_voxels == int(np.asarray(data.mask.dataobj).sum()) > 1000
    assert np.median(model.test_r[planted]) > 0.4 > np.quantile(model.test_r[background], 0.99)
    assert model.xyz_mm([planted[0]]).shape == (1, 3) and model.train_runs[0] == "sub-01_task-story01"


def test_model_save_load_roundtrip(study, tmp_path):
    model = study[2]
    back = EncodingModel.load(model.save(tmp_path / "m.npz"))
    for f in ("weights", "alphas", "test_r", "feature_mean", "feature_scale", "voxel_ijk", "affine"):
        np.testing.assert_array_equal(getattr(back, f), getattr(model, f))
    assert (back.config, back.volume_shape, back.test_runs) == (model.config, model.volume_shape, model.test_runs)


def test_explain_select_and_report(study, features, tmp_path):
    root, _, model = study
    helper = ScriptedLLM(topical_reply)
    rep = explain_voxels(model, top_k=3, corpus=CORPUS, generic=GENERIC, helper=helper, config=SMALL,
                         features=features, cache_dir=tmp_path / "cache")
    truth = read_ground_truth(root)
    assert [r.voxel for r in rep.rows] == [int(i) for i in np.argsort(-model.test_r)[:3]]
    assert all(r.voxel in truth for r in rep.rows)  # the best voxels are the planted ones
    for r in rep.rows:
        assert r.explanation and np.isfinite(r.sigma)
        assert re.search(CONCEPT_PATTERNS[truth[r.voxel]], " ".join(r.top_ngrams[:5]), re.I), (truth[r.voxel], r.top_ngrams)
    files = write_report(model, rep, tmp_path / "report")
    sig = nib.load(files.sigma_map)
    rmap = nib.load(files.r_map)
    np.testing.assert_allclose(sig.affine, model.affine)
    vol = np.asarray(sig.dataobj)
    for r in rep.rows:
        assert vol[r.ijk] == pytest.approx(r.sigma, rel=1e-5)
    assert np.count_nonzero(vol) == len(rep.rows)
    ijk = model.voxel_ijk
    np.testing.assert_allclose(np.asarray(rmap.dataobj)[ijk[:, 0], ijk[:, 1], ijk[:, 2]], np.nan_to_num(model.test_r))
    for png in files.images:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    page = files.html.read_text()
    assert page.count("data:image/png;base64,") == 2 and rep.rows[0].explanation in page
    assert files.table.read_text().splitlines()[0].startswith("voxel\tunit\tijk\txyz_mm\ttest_r")


def test_cli_fit_and_explain(study, tmp_path, capsys):
    root = study[0]
    model_path = tmp_path / "m.npz"
    assert main(["fmri", "fit", str(root), "--out", str(model_path), "--trim", "2,2", "--quiet"]) == 0
    assert "fitted" in capsys.readouterr().out
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS))
    generic = tmp_path / "generic.txt"
    generic.write_text("\n".join(GENERIC))
    code = main(["fmri", "explain", str(model_path), "--top-k", "1", "--helper", "fake", "--corpus", str(corpus),
                 "--generic", str(generic), "--candidates", "1", "--synthetic", "2", "--generic-size", "6",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "rep"), "--quiet"])
    assert code == 0 and (tmp_path / "rep" / "report.html").is_file() and (tmp_path / "rep" / "sigma.nii.gz").is_file()
    # with predictive scorers: unknown names are refused first; known ones add a column to the report
    assert main(["fmri", "explain", str(model_path), "--helper", "fake", "--scorers", "fuzz", "--quiet"]) == 2
    assert "known scorers: ablation, detection, fuzzing, maia, simulation, steering" in capsys.readouterr().err
    from fakes import judging_logprobs, judging_reply

    from sasc.llm.factory import HELPER_BACKENDS

    def reply(prompt):
        return judging_reply(prompt) if "A unit of a language-processing model" in prompt else topical_reply(prompt)

    HELPER_BACKENDS.register("judging", lambda arg, **_: ScriptedLLM(reply, logprobs=judging_logprobs, name="judging"),
                             replace=True)
    code = main(["fmri", "explain", str(model_path), "--top-k", "1", "--helper", "judging", "--corpus", str(corpus),
                 "--generic", str(generic), "--candidates", "1", "--synthetic", "2", "--generic-size", "6",
                 "--scorers", "sigma,detection", "--n-top", "3", "--n-random", "3", "--whole-texts",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "rep2"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    page = (tmp_path / "rep2" / "report.html").read_text()
    assert "<th>detection</th>" in page and "the same score for a random explanation" in page
    assert main(["fmri", "fit", str(tmp_path / "nope"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_real_helper_explains_a_planted_voxel(study, features, tmp_path):
    """The embedded helper (Qwen2.5-Coder-1.5B) on the best planted voxel, kept small."""
    root, _, model = study
    truth = read_ground_truth(root)
    best = int(np.argmax(model.test_r))
    config = dataclasses.replace(SMALL, n_candidates=2, n_synthetic=5)
    from sasc.llm import LocalLLM

    # batch-invariant: the same replies whichever requests share a batch (with the default, the two
    # candidates' synthetic texts decode together and the replies vary from run to run; one run in
    # four gave "Food, cuisine, dining" at -0.21σ on 5 synthetic texts instead of "Food" at 0.96σ)
    llm = LocalLLM.default(batch_invariant=True)
    try:
        rep = explain_voxels(model, voxels=[best], corpus=CORPUS, generic=GENERIC, helper=llm, config=config,
                             features=features, cache_dir=tmp_path / "cache")
    finally:
        llm.close()
    row = rep.rows[0]
    assert row.voxel == best and truth[best] in ("food", "family")
    assert row.explanation and row.sigma > 0, (row.explanation, row.sigma)
    assert rep.result.helper.startswith("llama.cpp:qwen2.5-coder-1.5b")
