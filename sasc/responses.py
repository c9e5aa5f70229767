"""Stage 1 of SASC: the module's response to every unique n-gram of the reference corpus.

The work is planned as independent shards of length-sorted n-grams (so batches are
nearly padding-free), run by a backend (local by default; a distributed backend gets the
same shards), checkpointed shard by shard, and cached content-addressed on disk so a
second explanation of the same module on the same corpus costs no forward passes.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .cache import ResponseCache, response_key
from .errors import ConfigError
from .gcpause import gc_paused
from .modules.base import as_bank, check_finite, fingerprint, is_cacheable, module_name, to_response_array
from .modules.tokens import TokenKeys
from .ngrams import NgramTable
from .progress import ProgressEvent, ProgressFn, no_progress


@dataclass(frozen=True)
class WorkShard:
    """One independent unit of work: rows of the unique-text list to score."""

    index: int
    """Position in the plan."""
    rows: np.ndarray = field(repr=False)
    """int64 indices into the unique texts."""
    keys: Sequence[tuple[int, ...]] | None = field(default=None, repr=False, compare=False)
    """The rows' dedupe keys (token ids), for a bank that scores from them
    (``responses_from_keys``), so a text is tokenized once, when the shards are planned.
    None: score from the texts."""


@dataclass(frozen=True)
class ResponseTable:
    """Responses of every unit to every n-gram of a table."""

    values: np.ndarray = field(repr=False)
    """float32 ``[n_ngrams, n_units]``, rows aligned with ``NgramTable.ngrams``."""
    units: list[str]
    """Unit names, one per column."""
    cache_key: str | None
    """Content address in the response cache (None for uncacheable modules)."""
    from_cache: bool
    """True when no forward pass was run."""
    n_evaluated: int
    """Unique texts actually run through the module (after de-duplication)."""
    seconds: float
    """Wall time of the stage."""


class ShardRunner(Protocol):
    """A backend that scores shards: local threads, a Ray cluster..."""

    def run(self, bank: Any, texts: Sequence[str], shards: Sequence[WorkShard],
            on_done: Callable[[WorkShard, np.ndarray], None]) -> None:
        """Score every shard and call ``on_done(shard, values[len(rows), n_units])`` for each.

        A runner may also have ``prepare(bank)``, called before the shards are planned (e.g. to
        start remote workers meanwhile), and ``abandon()``, called if planning then fails."""
        ...


class LocalRunner:
    """Score shards in this process, one after the other, on the module's device."""

    def run(self, bank: Any, texts: Sequence[str], shards: Sequence[WorkShard],
            on_done: Callable[[WorkShard, np.ndarray], None]) -> None:
        for shard in shards:
            on_done(shard, score_shard(bank, texts, shard))


def score_shard(bank: Any, texts: Sequence[str], shard: WorkShard) -> np.ndarray:
    """Run one shard through the bank (from its keys when it has them); validate shape and finiteness."""
    batch = [texts[i] for i in shard.rows]
    n_units = len(bank.units)
    raw = bank.responses(batch) if shard.keys is None else bank.responses_from_keys(shard.keys)
    values = to_response_array(raw, len(batch), module_name(bank), n_units)
    return check_finite(values, batch, module_name(bank))


def plan_shards(bank: Any, texts: Sequence[str], shard_size: int) -> tuple[list[WorkShard], np.ndarray]:
    """Shards over de-duplicated texts, sorted so each shard is cheap to run.

    Order: the dedupe keys themselves when the bank ``sorts_by_dedupe_keys``; else the bank's
    ``sort_keys(texts)`` when it has one; else token length (from ``token_lengths`` or from
    token-tuple ``dedupe_keys``); else character length. A bank with ``responses_from_keys``
    gets each shard's keys with it (:attr:`WorkShard.keys`).

    Returns ``(shards, inverse)`` where ``inverse[i]`` is the unique row of ``texts[i]``;
    shard rows index the unique representatives (first occurrences in ``texts``).
    """
    if shard_size < 1:
        raise ConfigError(f"shard_size must be >= 1, got {shard_size}")
    with gc_paused():  # a key tuple per text: the collector's scans would cost more than the planning
        return _plan_shards(bank, texts, shard_size)


def _plan_shards(bank: Any, texts: Sequence[str], shard_size: int) -> tuple[list[WorkShard], np.ndarray]:
    keys = bank.dedupe_keys(texts) if hasattr(bank, "dedupe_keys") else texts
    first: dict[Any, int] = {}
    inverse = np.empty(len(texts), dtype=np.int64)
    reps: list[int] = []
    for i, k in enumerate(keys):
        j = first.get(k)
        if j is None:
            j = first[k] = len(reps)
            reps.append(i)
        inverse[i] = j
    rep_texts = [texts[i] for i in reps]
    by_keys = getattr(bank, "sorts_by_dedupe_keys", False) and keys is not texts
    if by_keys or hasattr(bank, "sort_keys"):
        # e.g. token-id tuples, so n-grams sharing a prefix land in one shard
        skeys = [keys[i] for i in reps] if by_keys else bank.sort_keys(rep_texts)
        order = np.asarray(sorted(range(len(rep_texts)), key=skeys.__getitem__), dtype=np.int64)
    else:
        if hasattr(bank, "token_lengths"):
            lengths = np.asarray(bank.token_lengths(rep_texts))
        elif keys is not texts and rep_texts and isinstance(keys[reps[0]], tuple):
            lengths = np.fromiter((len(keys[i]) for i in reps), dtype=np.int64, count=len(reps))
        else:
            lengths = np.fromiter((len(t) for t in rep_texts), dtype=np.int64, count=len(rep_texts))
        order = np.argsort(lengths, kind="stable")
    rep_rows = np.asarray(reps, dtype=np.int64)[order]
    # shard rows are positions in `texts`; remember which unique slot each fills
    with_keys = hasattr(bank, "responses_from_keys") and keys is not texts
    shards = [WorkShard(i, rows, TokenKeys([keys[r] for r in rows]) if with_keys else None)
              for i, rows in enumerate(rep_rows[s:s + shard_size] for s in range(0, len(rep_rows), shard_size))]
    return shards, inverse


def ngram_responses(
    module: Any,
    table: NgramTable,
    *,
    cache: ResponseCache | None = None,
    shard_size: int = 4096,
    runner: ShardRunner | None = None,
    progress: ProgressFn = no_progress,
) -> ResponseTable:
    """Responses of every unit of ``module`` to every n-gram in ``table``.

    ``cache``: where tables and in-progress shards live (None: no caching). Modules
    without a ``fingerprint`` are never cached. ``runner``: the backend (default local).
    """
    t0 = time.perf_counter()
    bank = as_bank(module)
    units = list(bank.units)
    key = response_key(fingerprint(bank), table.fingerprint) if cache is not None and is_cacheable(bank) else None
    if key is not None:
        hit = cache.load(key)
        if hit is not None and hit.shape == (len(table), len(units)):
            progress(ProgressEvent("responses", len(table), len(table), "from cache"))
            return ResponseTable(np.asarray(hit), units, key, True, 0, time.perf_counter() - t0)
    texts = table.ngrams
    runner = runner or LocalRunner()
    if hasattr(runner, "prepare"):
        runner.prepare(bank)  # remote workers start while the shards are planned
    try:
        shards, inverse = plan_shards(bank, texts, shard_size)
    except BaseException:
        if hasattr(runner, "abandon"):
            runner.abandon()
        raise
    n_unique = sum(len(s.rows) for s in shards)
    plan = hashlib.sha256(b"".join(s.rows.tobytes() for s in shards)).hexdigest()[:16]
    if key is not None:
        cache.reserve(key, len(texts) * len(units) * 4)  # a bounded cache refuses before any work
    done = cache.load_shards(key, plan) if key is not None else {}
    unique_vals = np.empty((n_unique, len(units)), dtype=np.float32)  # rows by unique id
    finished = 0
    for s in shards:
        if s.index in done:
            unique_vals[inverse[s.rows]] = done[s.index]
            finished += len(s.rows)
    progress(ProgressEvent("responses", finished, n_unique, "resumed" if done else ""))

    def on_done(shard: WorkShard, values: np.ndarray) -> None:
        nonlocal finished
        unique_vals[inverse[shard.rows]] = values
        if key is not None:
            cache.save_shard(key, plan, shard.index, values)
        finished += len(shard.rows)
        progress(ProgressEvent("responses", finished, n_unique))

    todo = [s for s in shards if s.index not in done]
    runner.run(bank, texts, todo, on_done)
    # every text takes its unique row (no copy when nothing was de-duplicated)
    values = unique_vals if n_unique == len(texts) else unique_vals[inverse]
    if key is not None:
        cache.save(key, values, {"units": units, "module": module_name(bank), "n_ngrams": len(table),
                                 "corpus": table.fingerprint, "settings": repr(table.settings)})
    n_eval = sum(len(s.rows) for s in todo)
    return ResponseTable(values, units, key, False, n_eval, time.perf_counter() - t0)
