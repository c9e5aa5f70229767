"""The built-in embedding-distance module with the real all-MiniLM-L6-v2."""

import re

import numpy as np
import pytest

import sasc
from sasc.modules import check_module
from sasc.modules.embedding import distance_responses
from sasc.ngrams import NgramSettings, count_ngrams
from sasc.responses import ngram_responses

pytestmark = pytest.mark.slow


def test_conformance(minilm_food):
    check_module(minilm_food)
    assert minilm_food.units == ["food", "violence"]


def test_padding_free_encoding_equals_sentence_transformers():
    from sasc.modules.embedding import EmbeddingDistanceBank

    exact = EmbeddingDistanceBank(["food", "violence"], dtype="float32")
    texts = ["food", "a delicious hot bowl of soup", "Stock markets fell", "x", "the knife attack downtown"] * 3
    ours = exact.encoder.encode(texts)
    ref = exact.encoder.st.encode(texts, batch_size=4, convert_to_numpy=True)  # padded route
    np.testing.assert_allclose(ours, ref, atol=2e-5)
    expected = -np.linalg.norm(ref[:, None, :] - exact.encoder.st.encode(["food", "violence"])[None], axis=2)
    np.testing.assert_allclose(exact.responses(texts), expected, atol=1e-4)


def test_bf16_keeps_the_ranking_and_is_in_the_fingerprint():
    from sasc.errors import ConfigError
    from sasc.modules.embedding import EmbeddingDistanceBank

    exact = EmbeddingDistanceBank("food", dtype="float32")
    fast = EmbeddingDistanceBank("food", dtype="bfloat16")
    assert exact.fingerprint != fast.fingerprint
    texts = sasc.load_corpus("headlines").texts[:300]
    a, b = exact.responses(texts)[:, 0], fast.responses(texts)[:, 0]
    assert np.abs(a - b).max() < 1e-2
    assert set(np.argsort(-a)[:10]) == set(np.argsort(-b)[:10])
    with pytest.raises(ConfigError, match="dtype"):
        EmbeddingDistanceBank("food", dtype="int8")


def test_distance_math():
    emb = np.array([[0.0, 0.0], [3.0, 4.0]], dtype=np.float32)
    tgt = np.array([[0.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(distance_responses(emb, tgt), [[0.0], [-5.0]], atol=1e-6)


def test_uncased_duplicates_share_a_key(minilm_food):
    keys = minilm_food.dedupe_keys(["Food court", "food Court", "food courts"])
    assert keys[0] == keys[1] != keys[2]


def test_ngram_stage_tokenizes_once_and_equals_direct_responses():
    from sasc.modules.embedding import EmbeddingDistanceBank

    bank = EmbeddingDistanceBank(["food"], device="cpu", dtype="float32")
    table = count_ngrams(["Pizza and pasta for dinner. The soup was cold, the PIZZA hot."])
    tokenized, tokenize = [], bank.encoder._tokenize
    bank.encoder._tokenize = lambda texts: tokenized.append(len(texts)) or tokenize(texts)
    res = ngram_responses(bank, table, shard_size=4)
    assert sum(tokenized) == len(table)  # once, when the shards are planned
    np.testing.assert_allclose(res.values, bank.responses(table.ngrams), rtol=1e-5, atol=1e-6)


def test_top_ngrams_are_on_topic(minilm_food):
    corpus = sasc.load_corpus("news100").texts[:30]
    table = count_ngrams(corpus, NgramSettings(max_n=2))
    res = ngram_responses(minilm_food, table)
    for col, pattern in [(0, r"food|eat|meal|dinner|restaurant|cook|chef|kitchen|snack|drink"),
                         (1, r"violen|kill|attack|shoot|murder|war|assault|fight|gun|crime|abuse|terror")]:
        top = [table.ngrams[i] for i in np.argsort(-res.values[:, col])[:10]]
        hits = sum(bool(re.search(pattern, t, re.I)) for t in top)
        assert hits >= 5, top


def test_spec_builds_the_module():
    m = sasc.module_from_spec("embedding_distance:keyphrase=food")
    assert m.units == ["food"] and m.fingerprint
    other = sasc.module_from_spec("embedding_distance:keyphrase=sports")
    assert other.fingerprint != m.fingerprint
    with pytest.raises(sasc.ConfigError, match="non-empty keyphrase"):
        sasc.module_from_spec('{"kind": "embedding_distance", "keyphrases": [""]}')
