"""Dictionary-factor banks on the real MiniLM encoder: responses, round trips, learning, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from neurons_fixtures import minilm_encoder  # noqa: F401

from sasc.errors import ConfigError
from sasc.modules import check_module, module_from_spec
from sasc.modules.dictionary import (
    DictionaryFactorBank, build_dictionary_factor_bank, dictionary_metadata, learn_dictionary, load_array,
    save_dictionary,
)
from sasc.modules.sparse_coding import fista

pytestmark = pytest.mark.slow
TEXTS = ["the cat sat on the mat", "I love pizza", "Stock prices fell sharply", "a", ""]


@pytest.fixture(scope="module")
def phi():
    rng = np.random.default_rng(0)
    d = rng.normal(size=(384, 24)).astype(np.float32)
    return d / np.linalg.norm(d, axis=0)


def test_response_is_the_mean_code_over_non_special_tokens(minilm_encoder, phi):
    from transformers import AutoModel

    bank = DictionaryFactorBank(minilm_encoder, 3, phi, lam=0.3, n_iter=60)
    out = bank.responses(TEXTS)
    assert out.shape == (5, 24) and out.dtype == np.float32
    assert bank.units[:2] == ["L3.F0", "L3.F1"] and bank.kind == "dictionary_factor"
    np.testing.assert_array_equal(out[4], 0.0)  # no tokens
    # by hand: hidden states of layer 3 with [CLS]/[SEP] dropped, FISTA, mean over tokens
    from sasc.modules.embedding import default_encoder_path

    model = AutoModel.from_pretrained(default_encoder_path()).eval()
    tok = minilm_encoder.tokenizer
    for i, text in enumerate(TEXTS[:4]):
        ids = tok(text, return_tensors="pt")
        with torch.no_grad():
            hs = model(**ids, output_hidden_states=True).hidden_states[3][0, 1:-1]
        codes = fista(hs, torch.from_numpy(phi), 0.3, n_iter=60)
        np.testing.assert_allclose(out[i], codes.mean(0).numpy(), rtol=1e-4, atol=1e-5)
    assert (out[:4] > 0).any() and (out[:4] == 0).any()


def test_bank_conforms_and_selects_factors(minilm_encoder, phi):
    bank = DictionaryFactorBank(minilm_encoder, 4, phi, n_iter=40)
    check_module(bank)
    sub = DictionaryFactorBank(minilm_encoder, 4, phi, n_iter=40, factors="3-5")
    assert sub.units == ["L4.F3", "L4.F4", "L4.F5"]
    np.testing.assert_allclose(sub.responses(TEXTS), bank.responses(TEXTS)[:, 3:6], rtol=1e-5, atol=1e-6)
    assert bank.dedupe_keys(["Pizza"]) == bank.dedupe_keys(["pizza"])  # uncased encoder


@pytest.mark.parametrize("suffix", [".npy", ".safetensors"])
def test_dictionary_round_trip_and_spec(minilm_encoder, phi, tmp_path, suffix):
    path = save_dictionary(tmp_path / f"phi{suffix}", phi, encoder="all-MiniLM-L6-v2", layer=2, lam=0.5)
    np.testing.assert_array_equal(load_array(path), phi)
    if suffix == ".safetensors":
        assert dictionary_metadata(path) == {"encoder": "all-MiniLM-L6-v2", "layer": 2, "lam": 0.5}
        bank = module_from_spec(f"dictionary_factor:dictionary={path},n_iter=30,device=cpu")
        assert bank.layer == 2 and bank.lam == 0.5  # defaults read from the file
    else:
        assert dictionary_metadata(path) == {}
        bank = module_from_spec(f"dictionary_factor:dictionary={path},layer=2,lam=0.5,n_iter=30,device=cpu")
    direct = DictionaryFactorBank(minilm_encoder, 2, phi, lam=0.5, n_iter=30)
    assert bank.fingerprint == direct.fingerprint
    np.testing.assert_allclose(bank.responses(TEXTS), direct.responses(TEXTS))


def test_reference_and_sklearn_layouts_are_both_accepted(minilm_encoder, phi, tmp_path):
    np.save(tmp_path / "kd.npy", phi.T)  # (K, d): scikit-learn's components_
    a = build_dictionary_factor_bank(str(tmp_path / "kd.npy"), layer=1, n_iter=20, device="cpu")
    b = build_dictionary_factor_bank(phi.tolist(), layer=1, n_iter=20, device="cpu")
    np.testing.assert_array_equal(a.dictionary, phi)
    assert a.fingerprint == b.fingerprint
    other = build_dictionary_factor_bank(phi[:, :10].tolist(), layer=1, n_iter=20, device="cpu")
    assert other.fingerprint != a.fingerprint


def test_learned_dictionary_has_unit_atoms_and_codes_sparsely(minilm_encoder, tmp_path):
    texts = ["The cat sat on the mat.", "Stock prices fell sharply on Monday.", "I love pizza and pasta.",
             "Police arrested the suspect.", "The weather was cold and rainy."] * 4
    phi = learn_dictionary(texts, 16, encoder=minilm_encoder, layer=4, max_tokens=400, n_epochs=1)
    assert phi.shape == (384, 16)
    np.testing.assert_allclose(np.linalg.norm(phi, axis=0), 1.0, atol=1e-4)
    path = save_dictionary(tmp_path / "learned.safetensors", phi, encoder="all-MiniLM-L6-v2", layer=4, lam=0.3)
    bank = build_dictionary_factor_bank(str(path), n_iter=100, device="cpu")
    out = bank.responses(texts[:5])
    assert 0 < (out > 0).mean() < 1


def test_bad_specs_raise_clear_config_errors(minilm_encoder, phi, tmp_path):
    with pytest.raises(ConfigError, match=r"does not match the encoder's hidden width 384: expected \(384, K\)"):
        DictionaryFactorBank(minilm_encoder, 3, np.ones((100, 24), np.float32))
    with pytest.raises(ConfigError, match=r"layer 7 out of range: the encoder has hidden states 0\.\.6"):
        DictionaryFactorBank(minilm_encoder, 7, phi)
    with pytest.raises(ConfigError, match=r"factor 24 out of range"):
        DictionaryFactorBank(minilm_encoder, 3, phi, factors=[24])
    with pytest.raises(ConfigError, match="does not exist"):
        build_dictionary_factor_bank(str(tmp_path / "missing.npy"), layer=1)
    with pytest.raises(ConfigError, match="needs a layer"):
        build_dictionary_factor_bank(phi.tolist())
    with pytest.raises(ConfigError, match="needs a dictionary"):
        build_dictionary_factor_bank(layer=1)
    with pytest.raises(ConfigError, match="unknown parameter"):
        build_dictionary_factor_bank(phi.tolist(), layer=1, lamda=0.3)
    (tmp_path / "phi.txt").write_text("1 2 3")
    with pytest.raises(ConfigError, match="accepted .npy and .safetensors"):
        build_dictionary_factor_bank(str(tmp_path / "phi.txt"), layer=1)


def test_token_responses_are_the_codes_responses_average(minilm_encoder, phi):
    bank = DictionaryFactorBank(minilm_encoder, 3, phi, lam=0.3, n_iter=60, factors="0-5")
    texts = ["Pizza and pasta for dinner", "unbelievably tasty", ""]
    per_token = bank.token_responses(texts)
    pooled = bank.responses(texts)
    assert per_token[0].tokens[:2] == ("pizza", " and")  # word pieces join into the (lower-cased) text
    assert "".join(per_token[1].tokens) == "unbelievably tasty"
    assert per_token[2].tokens == () and per_token[2].values.shape == (0, 6)
    for r, row in zip(per_token[:2], pooled[:2]):
        assert r.values.shape == (len(r.tokens), 6)
        np.testing.assert_allclose(r.values.mean(0), row, rtol=1e-4, atol=1e-5)
