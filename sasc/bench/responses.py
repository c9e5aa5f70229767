"""N-gram responses of the D3 module bank, per reference corpus.

All 54 synthetic modules are columns of one :class:`EmbeddingDistanceBank` (unit i =
keyphrase of task i): a column of the bank is exactly that task's module, and one
encoder pass over an n-gram serves every task. With ``shared=True`` (the default) the
bank scores the *pooled* corpus's unique n-grams once (1.58M n-grams for the full
data, cached on disk); every task corpus is a subset of the pooled corpus, so its
n-gram responses are rows of that table. The restricted-corpus setting then needs no
extra forward pass, and the four pooled-corpus tasks share one.

Only the last few corpora's tables stay in memory (``keep``): all 55 of them take about
3.4 GB (measured over one pass of the 54 tasks), and a D3 worker meets nearly all of
them over several seeds. Rebuilding a task corpus's table from the pooled one takes
about a second.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..cache import ResponseCache
from ..errors import ConfigError
from ..ngrams import NgramSettings, NgramTable, count_ngrams
from ..progress import ProgressFn, no_progress
from ..responses import ngram_responses
from .tasks import D3Corpora, D3Task


def d3_bank(tasks: Sequence[D3Task], model: str | None = None) -> Any:
    """The module bank: one embedding-distance unit per task keyphrase, in task order."""
    from ..modules.embedding import EmbeddingDistanceBank

    return EmbeddingDistanceBank([t.keyphrase for t in sorted(tasks, key=lambda t: t.index)], model=model)


class D3Responses:
    """N-gram tables and bank responses per corpus, kept in memory for the last ``keep`` corpora.

    ``cache``: on-disk response cache (None: none). ``shared``: read every corpus's
    responses from the pooled table (see module docstring); else score each corpus.
    """

    def __init__(self, bank: Any, corpora: D3Corpora, ngrams: NgramSettings, cache: ResponseCache | None,
                 shared: bool = True, shard_size: int = 4096, progress: ProgressFn = no_progress,
                 keep: int = 2):
        if keep < 1:
            raise ConfigError(f"keep must be >= 1, got {keep}")
        self.bank, self.corpora, self.ngrams, self.cache = bank, corpora, ngrams, cache
        self.shared, self.shard_size, self.progress, self.keep = shared, shard_size, progress, keep
        self._pooled: tuple[dict[str, int], np.ndarray] | None = None
        self._memo: OrderedDict[str, tuple[NgramTable, np.ndarray]] = OrderedDict()
        self.seconds = 0.0
        """Wall time spent computing (or loading) response tables, in seconds."""

    def pooled_table(self) -> tuple[dict[str, int], np.ndarray]:
        """(n-gram -> row, values ``[n_ngrams, n_units]``) over the pooled corpus, all counts."""
        if self._pooled is None:
            settings = NgramSettings(self.ngrams.max_n, 1, self.ngrams.lowercase)
            table = count_ngrams(self.corpora.pooled(), settings)
            resp = ngram_responses(self.bank, table, cache=self.cache, shard_size=self.shard_size,
                                   progress=self.progress)
            self.seconds += resp.seconds
            self._pooled = ({g: i for i, g in enumerate(table.ngrams)}, resp.values)
        return self._pooled

    def release(self) -> None:
        """Drop the tables kept in memory (the on-disk cache stays)."""
        self._pooled = None
        self._memo.clear()

    def for_corpus(self, key: str, texts: list[str]) -> tuple[NgramTable, np.ndarray]:
        """The corpus's n-gram table and the bank's responses ``[n_ngrams, n_units]`` to it."""
        if key in self._memo:
            self._memo.move_to_end(key)
            return self._memo[key]
        table = count_ngrams(texts, self.ngrams)
        values = None
        if self.shared:
            index, pooled = self.pooled_table()
            rows = [index.get(g, -1) for g in table.ngrams]
            if min(rows) >= 0:  # a corpus outside the pooled one falls back to scoring it
                values = np.asarray(pooled[np.asarray(rows, dtype=np.int64)])
        if values is None:
            resp = ngram_responses(self.bank, table, cache=self.cache, shard_size=self.shard_size,
                                   progress=self.progress)
            self.seconds += resp.seconds
            values = np.asarray(resp.values)
        self._memo[key] = (table, values)
        while len(self._memo) > self.keep:
            self._memo.popitem(last=False)  # least recently used
        return table, values

    def for_task(self, task: D3Task) -> tuple[NgramTable, np.ndarray]:
        """The task's own reference corpus (its file, or the pooled corpus)."""
        return self.for_corpus(self.corpora.source(task), self.corpora.texts(task))
