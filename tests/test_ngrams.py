import numpy as np
import pytest

from sasc.errors import ConfigError, CorpusError
from sasc.ngrams import NgramSettings, count_ngrams, segments


def test_segments_follow_documented_rules():
    text = "Don't stop: the state-of-the-art model costs $1,000 (3.14 each), U.S. says!\nNew line"
    assert segments(text) == [
        ["Don't", "stop"],
        ["the", "state-of-the-art", "model", "costs", "1,000", "3.14", "each", "U.S"],
        ["says"],
        ["New", "line"],
    ]


def test_counts_and_order():
    table = count_ngrams(["a b a b. c"], NgramSettings(max_n=2))
    got = dict(zip(table.ngrams, table.counts.tolist()))
    assert got == {"a": 2, "b": 2, "c": 1, "a b": 2, "b a": 1}
    assert table.n_words == 5
    assert table.counts.dtype == np.int64


def test_ngrams_never_cross_segments():
    table = count_ngrams(["red apple. green pear"], NgramSettings(max_n=3))
    assert "apple green" not in table.ngrams
    assert "red apple" in table.ngrams and "green pear" in table.ngrams


def test_min_count_and_lowercase():
    t = count_ngrams(["Food food FOOD soup"], NgramSettings(max_n=1, min_count=2, lowercase=True))
    assert t.ngrams == ["food"] and t.counts.tolist() == [3]


def test_fingerprint_depends_on_corpus_and_settings():
    a = count_ngrams(["x y z"])
    assert a.fingerprint == count_ngrams(["x y z"]).fingerprint
    assert a.fingerprint != count_ngrams(["x y w"]).fingerprint
    assert a.fingerprint != count_ngrams(["x y z"], NgramSettings(max_n=2)).fingerprint


def test_empty_and_bad_settings():
    with pytest.raises(CorpusError, match="no words"):
        count_ngrams(["...", "!!"])
    with pytest.raises(CorpusError, match="min_count=5"):
        count_ngrams(["a b"], NgramSettings(min_count=5))
    with pytest.raises(ConfigError):
        NgramSettings(max_n=0)
