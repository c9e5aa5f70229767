import numpy as np
import pytest

from sasc.cache import ResponseCache
from sasc.errors import NonFiniteResponseError
from sasc.ngrams import NgramSettings, count_ngrams
from sasc.progress import ProgressEvent
from sasc.responses import LocalRunner, ngram_responses, plan_shards

from fakes import FOOD_CORPUS, KeywordModule


def test_values_match_direct_evaluation(keyword_module):
    table = count_ngrams(FOOD_CORPUS)
    res = ngram_responses(keyword_module, table, shard_size=7)
    direct = keyword_module(table.ngrams)
    np.testing.assert_array_equal(res.values[:, 0], direct)
    assert res.units == ["food-words"] and not res.from_cache


def test_dedupe_keys_evaluate_each_class_once():
    class CaseInsensitive(KeywordModule):
        def dedupe_keys(self, texts):
            return [t.lower() for t in texts]

    m = CaseInsensitive()
    table = count_ngrams(["Pizza pizza PIZZA soup"], NgramSettings(max_n=1))
    res = ngram_responses(m, table)
    assert m.texts_seen == 2  # pizza + soup
    assert res.n_evaluated == 2
    np.testing.assert_array_equal(res.values[:, 0], [1, 1, 1, 1])


def test_cache_makes_second_run_free(tmp_path, keyword_module):
    table = count_ngrams(FOOD_CORPUS)
    cache = ResponseCache(tmp_path)
    first = ngram_responses(keyword_module, table, cache=cache)
    calls = keyword_module.calls
    second = ngram_responses(keyword_module, table, cache=cache)
    assert keyword_module.calls == calls and second.from_cache and second.n_evaluated == 0
    np.testing.assert_array_equal(first.values, second.values)
    other = count_ngrams(FOOD_CORPUS, NgramSettings(max_n=2))
    assert ngram_responses(keyword_module, other, cache=cache).cache_key != first.cache_key


def test_uncacheable_modules_are_not_cached(tmp_path):
    table = count_ngrams(FOOD_CORPUS)
    res = ngram_responses(lambda t: np.zeros(len(t)), table, cache=ResponseCache(tmp_path))
    assert res.cache_key is None
    assert not (tmp_path / "responses").exists()


def test_interrupted_stage_resumes_from_finished_shards(tmp_path):
    table = count_ngrams(FOOD_CORPUS)
    cache = ResponseCache(tmp_path)

    class Flaky(KeywordModule):
        def __init__(self, fail_after):
            super().__init__()
            self.fail_after = fail_after

        def __call__(self, texts):
            if self.calls >= self.fail_after:
                raise KeyboardInterrupt
            return super().__call__(texts)

    m = Flaky(fail_after=3)
    with pytest.raises(KeyboardInterrupt):
        ngram_responses(m, table, cache=cache, shard_size=5)
    resumed = Flaky(fail_after=10**9)
    res = ngram_responses(resumed, table, cache=cache, shard_size=5)
    n_unique = len(table)
    assert resumed.texts_seen == n_unique - 15  # the 3 finished shards of 5 are not redone
    np.testing.assert_array_equal(res.values[:, 0], KeywordModule()(table.ngrams))


def test_nan_from_module_is_an_error_naming_texts():
    table = count_ngrams(["good bad"], NgramSettings(max_n=1))
    with pytest.raises(NonFiniteResponseError, match="'bad'"):
        ngram_responses(lambda t: np.array([np.nan if x == "bad" else 0.0 for x in t]), table)


def test_progress_reaches_total(keyword_module):
    events: list[ProgressEvent] = []
    table = count_ngrams(FOOD_CORPUS)
    ngram_responses(keyword_module, table, shard_size=4, progress=events.append)
    assert events[-1].done == events[-1].total == len(table)
    assert [e.done for e in events] == sorted(e.done for e in events)


def test_plan_orders_by_length_and_covers_everything(keyword_module):
    texts = ["a b c", "a", "a b", "zz", "a"]
    shards, inverse = plan_shards(keyword_module, texts, shard_size=2)
    rows = np.concatenate([s.rows for s in shards])
    assert sorted(rows.tolist()) == [0, 1, 2, 3]  # the duplicate "a" is not scored twice
    assert [len(texts[i]) for i in rows] == sorted(len(texts[i]) for i in rows)
    assert inverse[1] == inverse[4]


class PreparingRunner:
    """A local runner that logs the optional prepare/abandon hooks around the core's planning."""

    def __init__(self):
        self.log = []

    def prepare(self, bank):
        self.log.append("prepare")

    def abandon(self):
        self.log.append("abandon")

    def run(self, bank, texts, shards, on_done):
        self.log.append("run")
        LocalRunner().run(bank, texts, shards, on_done)


def test_runner_is_prepared_before_planning_and_abandoned_when_planning_fails(tmp_path, keyword_module):
    table = count_ngrams(FOOD_CORPUS)
    runner = PreparingRunner()
    res = ngram_responses(keyword_module, table, runner=runner, cache=ResponseCache(tmp_path))
    assert runner.log == ["prepare", "run"]
    np.testing.assert_array_equal(res.values[:, 0], keyword_module(table.ngrams))

    again = PreparingRunner()  # a cache hit needs no workers at all
    assert ngram_responses(keyword_module, table, runner=again, cache=ResponseCache(tmp_path)).from_cache
    assert again.log == []

    class BadTokenizer(KeywordModule):
        def dedupe_keys(self, texts):
            raise RuntimeError("tokenizer broke")

    failing = PreparingRunner()
    with pytest.raises(RuntimeError, match="tokenizer broke"):
        ngram_responses(BadTokenizer(), table, runner=failing)
    assert failing.log == ["prepare", "abandon"]


class CharCodeBank:
    """A bank whose dedupe keys are its inputs (character codes, like token ids): it can score
    from the keys, and counts what it was asked to encode each way."""

    units = ["code-sum"]
    fingerprint = "char-code-bank"

    def __init__(self, sorts_by_keys=False):
        self.encoded = 0
        self.from_texts = 0
        self.sorts_by_dedupe_keys = sorts_by_keys

    def dedupe_keys(self, texts):
        self.encoded += len(texts)
        return [tuple(ord(c) for c in t.lower()) for t in texts]

    def responses(self, texts):
        self.from_texts += len(texts)
        return self.responses_from_keys(self.dedupe_keys(texts))

    def responses_from_keys(self, keys):
        return np.asarray([[float(sum(k))] for k in keys], dtype=np.float32)


def test_a_bank_that_scores_from_its_keys_encodes_each_text_once():
    table = count_ngrams(FOOD_CORPUS)
    bank = CharCodeBank()
    res = ngram_responses(bank, table, shard_size=5)
    assert bank.encoded == len(table) and bank.from_texts == 0  # planning only; shards reuse the keys
    expected = [sum(ord(c) for c in g.lower()) for g in table.ngrams]
    np.testing.assert_array_equal(res.values[:, 0], expected)


def test_shards_carry_their_rows_keys_and_sort_by_them_when_asked():
    texts = ["bb", "a", "ab", "B", "ba", "a"]
    shards, inverse = plan_shards(CharCodeBank(sorts_by_keys=True), texts, shard_size=2)
    rows = np.concatenate([s.rows for s in shards]).tolist()
    assert [texts[i].lower() for i in rows] == ["a", "ab", "b", "ba", "bb"]  # by key ("B" is "b")
    assert [k for s in shards for k in s.keys] == [tuple(ord(c) for c in texts[i].lower()) for i in rows]
    assert inverse[1] == inverse[5]
    by_length = plan_shards(CharCodeBank(), texts, shard_size=2)[0]
    assert [len(texts[i]) for s in by_length for i in s.rows] == [1, 1, 2, 2, 2]


def test_plain_modules_get_shards_without_keys(keyword_module):
    shards, _ = plan_shards(keyword_module, ["a b", "c"], shard_size=1)
    assert all(s.keys is None for s in shards)
