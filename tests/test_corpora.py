import json

import pytest

from sasc.corpora import BUILTIN_CORPORA, load_corpus, sample_texts, split_sentences
from sasc.errors import CorpusError


def test_txt_jsonl_csv_and_directory(tmp_path):
    (tmp_path / "a.txt").write_text("first line\n\nsecond line\n", encoding="utf-8")
    assert load_corpus(tmp_path / "a.txt").texts == ["first line", "second line"]
    (tmp_path / "b.jsonl").write_text(json.dumps({"body": "hello"}) + "\n" + json.dumps({"body": "world"}) + "\n")
    assert load_corpus(tmp_path / "b.jsonl", column="body").texts == ["hello", "world"]
    (tmp_path / "c.csv").write_text("id,text\n1,alpha beta\n2,gamma\n")
    assert load_corpus(tmp_path / "c.csv").texts == ["alpha beta", "gamma"]
    d = tmp_path / "docs"
    d.mkdir()
    (d / "one.txt").write_text("doc one\nstill doc one")
    (d / "two.txt").write_text("doc two")
    assert load_corpus(d).texts == ["doc one\nstill doc one", "doc two"]


def test_clear_errors(tmp_path):
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(CorpusError, match="empty"):
        load_corpus(tmp_path / "empty.txt")
    (tmp_path / "c.csv").write_text("id,body\n1,x\n")
    with pytest.raises(CorpusError, match=r"no column 'text' \(columns: \['id', 'body'\]\)"):
        load_corpus(tmp_path / "c.csv")
    (tmp_path / "bad.txt").write_bytes(b"ok \xff\xfe broken")
    with pytest.raises(CorpusError, match="not UTF-8"):
        load_corpus(tmp_path / "bad.txt")
    (tmp_path / "j.jsonl").write_text('{"text": "a"}\nnot json\n')
    with pytest.raises(CorpusError, match="line 2 is not JSON"):
        load_corpus(tmp_path / "j.jsonl")
    with pytest.raises(CorpusError, match="neither a built-in"):
        load_corpus("no-such-corpus")
    (tmp_path / "x.pdf").write_text("x")
    with pytest.raises(CorpusError, match="unsupported"):
        load_corpus(tmp_path / "x.pdf")
    with pytest.raises(CorpusError, match="empty"):
        load_corpus([])


@pytest.mark.parametrize("name", sorted(BUILTIN_CORPORA))
def test_builtin_corpora_are_real_english(name):
    c = load_corpus(name)
    assert len(c) > 50
    words = " ".join(c.texts[:300]).lower().split()
    assert words.count("the") > 20  # English prose, not a stub
    assert "Apache-2.0" in c.source


def test_generic_default_differs_from_reference():
    ref, gen = load_corpus("news100"), load_corpus("movies")
    assert not set(ref.texts) & set(gen.texts)


def test_sampling_and_sentences():
    texts = [f"t{i}" for i in range(100)]
    assert sample_texts(texts, 10, seed=1) == sample_texts(texts, 10, seed=1)
    assert sample_texts(texts, 10, seed=1) != sample_texts(texts, 10, seed=2)
    assert sample_texts(texts[:3], 10) == texts[:3]
    assert split_sentences(["One two three four. Five six seven eight nine! ok"]) == [
        "One two three four.", "Five six seven eight nine! ok"]
