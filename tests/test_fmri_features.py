"""Feature math (Lanczos, delays, z-scoring), the one text -> features definition, and voxel banks."""

from __future__ import annotations

import json

import numpy as np
import pytest

import sasc
from sasc.errors import ConfigError
from sasc.fmri import EncodingConfig, EncodingModel, FeatureModel, VoxelBank, select_voxels
from sasc.fmri.features import lanczos_matrix, lanczos_downsample, make_delayed, tr_times, trim, zscore


def test_lanczos_kernel_and_downsampling():
    m = lanczos_matrix(np.array([0.0, 1.0, 2.0, 8.0]), np.array([1.0, 3.0]), window=3)
    assert m[0, 1] == 1.0  # L(0) = 1
    assert m[0, 3] == 0.0  # beyond 3 lobes of the 2-s cutoff period
    np.testing.assert_allclose(m[0, 0], 3 * np.sin(np.pi * -0.5) * np.sin(np.pi * -0.5 / 3) / (np.pi**2 * 0.25))
    t_old = np.arange(0, 200, 0.25)
    slow = np.sin(2 * np.pi * t_old / 40.0)[:, None]  # 40-s period, far below the 0.25-Hz cutoff
    out = lanczos_downsample(slow, t_old, tr_times(100, 2.0))
    truth = np.sin(2 * np.pi * tr_times(100, 2.0) / 40.0)
    assert np.corrcoef(out[10:-10, 0], truth[10:-10])[0, 1] > 0.999


def test_delays_zscore_trim():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    d = make_delayed(x, (0, 2))
    np.testing.assert_array_equal(d[:, :2], x)
    np.testing.assert_array_equal(d[:2, 2:], 0)
    np.testing.assert_array_equal(d[2:, 2:], x[:4])
    z = zscore(np.c_[np.arange(5.0), np.full(5, 3.0)])
    np.testing.assert_allclose(z[:, 0].mean(), 0, atol=1e-6)
    np.testing.assert_allclose(z[:, 0].std(), 1, atol=1e-6)
    np.testing.assert_array_equal(z[:, 1], 0)
    np.testing.assert_array_equal(trim(x, 1, 2), x[1:4])


@pytest.fixture(scope="module")
def features():
    return FeatureModel("words", context=4, decay=0.7)


def test_text_features_are_the_last_words_feature_without_context(features):
    words = "the chef cooked a pizza for her little brother".split()
    wf = features.word_features(words)
    assert wf.shape == (9, features.dim) and wf.dtype == np.float32
    # a text's features = its last word's features with the text as the whole story so far
    np.testing.assert_allclose(features.text_features([" ".join(words)])[0], wf[-1], atol=1e-6)
    np.testing.assert_allclose(features.text_features(["the chef"])[0], wf[1], atol=1e-6)
    np.testing.assert_allclose(features.text_features(["Pizza!"])[0], features.word_vectors(["pizza"])[0], atol=1e-6)
    # only the last context + 1 = 5 words matter
    assert features.text_keys(["one two three four five six"]) == [("two", "three", "four", "five", "six")]
    w = 0.7 ** np.arange(2)
    v = features.word_vectors(["chef", "the"])
    np.testing.assert_allclose(wf[1], (w[0] * v[0] + w[1] * v[1]) / w.sum(), atol=1e-6)


def test_window_kind_uses_the_same_definition(features):
    win = FeatureModel("window", context=2)
    words = ["violent", "storms", "hit", "the", "coast"]
    np.testing.assert_allclose(win.text_features(["violent storms hit the coast"])[0], win.word_features(words)[-1],
                               atol=1e-5)
    assert win.identity != features.identity
    with pytest.raises(ConfigError, match="unknown feature model kind"):
        FeatureModel("bag")


def random_model(dim, n_voxels, seed=0, n_delays=2):
    rng = np.random.default_rng(seed)
    return EncodingModel(
        weights=rng.standard_normal((n_delays * dim, n_voxels)).astype(np.float32),
        alphas=np.ones(n_voxels, np.float32), test_r=np.linspace(-0.1, 0.5, n_voxels).astype(np.float32),
        feature_spec={"kind": "words", "model": None, "context": 4, "decay": 0.7},
        feature_mean=rng.standard_normal(dim).astype(np.float32) * 0.01,
        feature_scale=np.abs(rng.standard_normal(dim)).astype(np.float32) + 0.5,
        config=EncodingConfig(), tr=2.0, train_runs=["a", "b"], test_runs=["c"])


def test_voxel_bank_conforms_and_matches_the_formula(features):
    model = random_model(features.dim, 5, n_delays=len(EncodingConfig().features.delays))
    bank = VoxelBank(model, features=features)
    sasc.check_module(bank)
    texts = ["I love pizza", "the war killed many"]
    w = model.summed_weights() / model.feature_scale[:, None]
    expected = (features.text_features(texts) - model.feature_mean) @ w
    np.testing.assert_allclose(bank.responses(texts), expected, rtol=1e-4, atol=1e-4)
    assert bank.units == [f"v{i}" for i in range(5)] and bank.kind == "fmri_voxels"
    other = VoxelBank(random_model(features.dim, 5, seed=1, n_delays=4), features=features)
    assert other.fingerprint != bank.fingerprint
    assert VoxelBank(model, [4, 2], features=features).fingerprint != bank.fingerprint


def test_one_feature_pass_for_any_number_of_voxels(features):
    calls = []

    class Counting(FeatureModel):
        def text_features(self, texts):
            calls.append(len(texts))
            return super().text_features(texts)

    counting = Counting()
    big = VoxelBank(random_model(features.dim, 1000, n_delays=4), features=counting)
    out = big.responses(["pasta with cheese", "soldiers fought", "my mother"])
    assert out.shape == (3, 1000) and out.dtype == np.float32 and calls == [3]


def test_select_voxels_and_registry(tmp_path, features):
    r = np.array([0.1, np.nan, 0.5, 0.3, -0.2], np.float32)
    assert select_voxels(r, top_k=2) == [2, 3]
    assert select_voxels(r, min_r=0.1) == [2, 3, 0]
    assert select_voxels(r) == [2, 3, 0, 4]
    with pytest.raises(ConfigError, match="no voxel selected .* the best test r is 0.500"):
        select_voxels(r, min_r=0.9)
    model = random_model(features.dim, 5, n_delays=4)
    path = model.save(tmp_path / "m.npz")
    loaded = EncodingModel.load(path)
    np.testing.assert_array_equal(loaded.weights, model.weights)
    assert loaded.config == model.config and loaded.feature_spec == model.feature_spec
    bank = sasc.build_module("fmri_voxels", model=str(path), top_k=2)
    assert bank.units == ["v4", "v3"]
    spec = sasc.module_from_spec(json.dumps({"kind": "fmri_voxels", "model": str(path), "voxels": [1, 0]}))
    assert spec.units == ["v1", "v0"]
    with pytest.raises(ConfigError, match="voxel indices must be in"):
        VoxelBank(model, [7], features=features)
    with pytest.raises(ConfigError, match="is not an encoding model saved by sasc"):
        EncodingModel.load((tmp_path / "x.npz").write_bytes(b"junk") and tmp_path / "x.npz")
