"""Prefix sharing for causal language models: run only the sequences no other one extends.

In a causal model the activations at position ``t`` depend only on tokens ``0..t``, so the
activations of a sequence ``s`` are the first ``len(s)`` positions of any sequence that has
``s`` as a prefix. For an n-gram set most short n-grams are prefixes of longer ones
("the", "the cat", "the cat sat"), so running only the *leaves* (sequences that are not a
strict prefix of another) and reading the shorter ones out of their host's pass saves
most forward tokens.

Last-token, max and mean aggregation are all prefix-computable: the last token of ``s`` is
position ``len(s) - 1`` of its host, and max / mean over ``s`` are a running max / running
sum over the host read at that position. Everything here is pure array code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

AGGREGATIONS = ("max", "mean", "last")
"""Ways to reduce a text's per-token activations to one value per unit."""


@dataclass(frozen=True)
class PrefixPlan:
    """Which sequences to run, and where every input sequence's activations are read."""

    leaves: list[tuple[int, ...]]
    """Token sequences that need their own forward pass, in sorted (lexicographic) order."""
    host: np.ndarray = field(repr=False)
    """int64 ``[n_inputs]``: index into ``leaves`` of the pass holding input ``i`` (-1: empty input)."""
    length: np.ndarray = field(repr=False)
    """int64 ``[n_inputs]``: tokens of input ``i`` (its activations are the host's first ``length``)."""

    @property
    def forward_tokens(self) -> int:
        """Tokens in all passes (no padding counted)."""
        return sum(len(s) for s in self.leaves)


def is_prefix(short: Sequence[int], long: Sequence[int]) -> bool:
    """True when ``short`` is a (not necessarily strict) prefix of ``long``."""
    return len(short) <= len(long) and tuple(long[: len(short)]) == tuple(short)


def plan_prefix_sharing(seqs: Sequence[tuple[int, ...]], share: bool = True) -> PrefixPlan:
    """Plan passes over token sequences ``seqs`` (duplicates allowed).

    With ``share`` every sequence that is a strict prefix of another one in ``seqs`` is
    read from that one's pass; without it each distinct sequence gets its own pass.
    Empty sequences get host ``-1`` (nothing to run).

    In sorted order, a sequence that is a prefix of any other is a prefix of its immediate
    successor (everything sorted between a prefix and its extension shares that prefix),
    so one backward sweep over the sorted distinct sequences finds every host.
    """
    distinct = sorted({tuple(s) for s in seqs if len(s)})
    n = len(distinct)
    is_leaf = [not share or i == n - 1 or not is_prefix(distinct[i], distinct[i + 1]) for i in range(n)]
    leaf_number = np.cumsum(is_leaf) - 1  # position among the leaves, in sorted order
    host_of: dict[tuple[int, ...], int] = {}
    current = -1
    for i in range(n - 1, -1, -1):
        if is_leaf[i]:
            current = int(leaf_number[i])
        host_of[distinct[i]] = current
    leaves = [s for s, leaf in zip(distinct, is_leaf) if leaf]
    host = np.fromiter((host_of.get(tuple(s), -1) for s in seqs), dtype=np.int64, count=len(seqs))
    length = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    return PrefixPlan(leaves, host, length)


def batch_leaves(lengths: Sequence[int], max_batch_tokens: int, max_batch_size: int = 1024,
                 min_batch_size: int = 32) -> list[list[int]]:
    """Group leaf indices into batches whose padded size (rows × longest row) fits the budget.

    Leaves are taken in increasing length; a batch is closed when the next leaf would break
    the budget or ``max_batch_size``, or when the length changes and the batch already has
    ``min_batch_size`` rows (so batches are padding-free unless they would be tiny).
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        longest = max(lengths[i], 1)
        full = (len(cur) + 1) * longest > max_batch_tokens or len(cur) >= max_batch_size
        new_length = bool(cur) and lengths[i] != lengths[cur[-1]] and len(cur) >= min_batch_size
        if cur and (full or new_length):
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


def running_aggregate(acts, aggregation: str):
    """Prefix aggregates of per-token activations (torch).

    ``acts``: ``[B, T, U]`` activations of the tokens to aggregate, right-aligned at position 0
    (padding after the real tokens is harmless: it never enters a prefix).
    Returns ``[B, T, U]`` where ``out[b, t]`` aggregates positions ``0..t`` of row ``b``.
    """
    import torch

    if aggregation == "last":
        return acts
    if aggregation == "max":
        return torch.cummax(acts, dim=1).values
    if aggregation == "mean":
        csum = torch.cumsum(acts.double(), dim=1)
        counts = torch.arange(1, acts.shape[1] + 1, device=acts.device, dtype=torch.float64)
        return (csum / counts[None, :, None]).to(acts.dtype)
    raise ValueError(f"unknown aggregation {aggregation!r}")
