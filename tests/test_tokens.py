"""BatchTokenizer: the same ids as the transformers wrapper, through the Rust backend."""

import numpy as np
import pytest

from sasc.modules import tokens
from sasc.modules.tokens import BatchTokenizer, TokenKeys

TEXTS = ["the cat", "", " ", "[CLS] inside [SEP]", "naïve café ☃ 漢字", "Don't  stop", "\t\n", "word " * 600]


@pytest.fixture(scope="module")
def minilm_tokenizer():
    from transformers import AutoTokenizer

    from sasc.modules.embedding import default_encoder_path

    return AutoTokenizer.from_pretrained(default_encoder_path())


@pytest.mark.parametrize("special,max_length", [(True, 16), (True, None), (False, None), (False, 8)])
def test_same_ids_as_the_wrapper(minilm_tokenizer, special, max_length, monkeypatch):
    monkeypatch.setattr(tokens, "CHUNK", 3)  # several backend calls
    trunc = {"truncation": True, "max_length": max_length} if max_length else {}
    want = minilm_tokenizer(TEXTS, add_special_tokens=special, **trunc)["input_ids"]
    got = BatchTokenizer(minilm_tokenizer, add_special_tokens=special, max_length=max_length)(TEXTS)
    assert got == want
    if max_length:
        assert max(len(ids) for ids in got) == max_length


def test_the_wrappers_own_backend_is_left_as_it_was(minilm_tokenizer):
    before = minilm_tokenizer.backend_tokenizer.truncation
    BatchTokenizer(minilm_tokenizer, add_special_tokens=True, max_length=5)(["a b c d e f g"])
    assert minilm_tokenizer.backend_tokenizer.truncation == before


class SlowTokenizer:
    """A tokenizer without a Rust backend: ids are word lengths, plus 1 and 2 as specials."""

    def __init__(self):
        self.calls = []

    def __call__(self, texts, add_special_tokens, truncation=False, max_length=None, **_):
        self.calls.append(len(texts))
        out = []
        for t in texts:
            words = [len(w) for w in t.split()]
            ids = [1, *words, 2] if add_special_tokens else words
            out.append(ids[:max_length] if truncation else ids)
        return {"input_ids": out}


def test_a_slow_tokenizer_goes_through_the_wrapper_in_chunks(monkeypatch):
    monkeypatch.setattr(tokens, "CHUNK", 2)
    slow = SlowTokenizer()
    got = BatchTokenizer(slow, add_special_tokens=True, max_length=3)(["a bb ccc", "dddd", "e"])
    assert got == [[1, 1, 2], [1, 4, 2], [1, 1, 2]] and slow.calls == [2, 1]
    assert BatchTokenizer(slow, add_special_tokens=False)([]) == []


def test_token_keys_read_back_as_tuples():
    seqs = [(101, 7, 102), (), (5,), (1, 2, 3, 4)]
    keys = TokenKeys(seqs)
    assert len(keys) == 4 and list(keys) == seqs
    assert keys[-1] == (1, 2, 3, 4) and keys[1:3] == [(), (5,)]
    with pytest.raises(IndexError):
        keys[4]
    assert list(TokenKeys([])) == []
    np.testing.assert_array_equal(keys.lengths, [3, 0, 1, 4])
    np.testing.assert_array_equal(TokenKeys([(1, 2), (3,), (4, 5)]).matrix(np.array([2, 0])), [[4, 5], [1, 2]])
