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

from ..gcpause import gc_paused

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


# -- tree packing: every distinct prefix computed once ------------------------------------
@dataclass(frozen=True)
class TreeRow:
    """One packed sequence: trie nodes in depth-first order; a node attends to its ancestors only."""

    tokens: list[int]
    """Token id of each node."""
    parent: list[int]
    """Row position of each node's parent (-1 for a root)."""
    depth: list[int]
    """Position id of each node: its depth in the trie (the root token is at 0)."""


@dataclass(frozen=True)
class TreePlan:
    """Packed rows and where each input sequence's last token sits."""

    rows: list[TreeRow]
    """Rows to run."""
    row: np.ndarray = field(repr=False)
    """int64 ``[n_inputs]``: row holding input ``i``'s last token (-1: empty input)."""
    pos: np.ndarray = field(repr=False)
    """int64 ``[n_inputs]``: that token's position in the row."""

    @property
    def forward_tokens(self) -> int:
        """Tokens in all rows (no padding counted)."""
        return sum(len(r.tokens) for r in self.rows)


class _Node:
    __slots__ = ("token", "children", "size", "ends", "loc")

    def __init__(self, token: int):
        self.token = token
        self.children: dict[int, _Node] = {}
        self.size = 1
        self.ends: list[int] = []
        self.loc: tuple[int, int] | None = None


def _build_trie(seqs: Sequence[tuple[int, ...]]) -> list[_Node]:
    roots: dict[int, _Node] = {}
    for i, s in enumerate(seqs):
        if not s:
            continue
        node = roots.get(s[0])
        if node is None:
            node = roots[s[0]] = _Node(s[0])
        for t in s[1:]:
            child = node.children.get(t)
            if child is None:
                child = node.children[t] = _Node(t)
            node = child
        node.ends.append(i)
    stack = [(n, False) for n in roots.values()]
    while stack:  # post-order subtree sizes
        n, done = stack.pop()
        if done:
            n.size = 1 + sum(c.size for c in n.children.values())
        else:
            stack.append((n, True))
            stack.extend((c, False) for c in n.children.values())
    return list(roots.values())


def _units(roots: list[_Node], cap: int) -> list[tuple[list[_Node], _Node]]:
    """(ancestor path, subtree root) pairs in depth-first order, each subtree fitting ``cap`` with its path."""
    out: list[tuple[list[_Node], _Node]] = []
    stack: list[tuple[list[_Node], _Node]] = [([], r) for r in reversed(roots)]
    while stack:
        path, n = stack.pop()
        if n.size + len(path) <= cap or not n.children:
            out.append((path, n))
        else:
            stack.extend((path + [n], c) for c in reversed(list(n.children.values())))
    return out


def plan_tree_packing(seqs: Sequence[tuple[int, ...]], max_row_tokens: int = 256) -> TreePlan:
    """Pack the trie of ``seqs`` into rows of at most ``max_row_tokens`` nodes (longer inputs get
    their own longer row). Every distinct prefix is computed once per row it appears in; subtrees
    share their ancestors within a row."""
    with gc_paused():  # a node object per distinct prefix
        return _plan_tree_packing(seqs, max_row_tokens)


def _plan_tree_packing(seqs: Sequence[tuple[int, ...]], max_row_tokens: int) -> TreePlan:
    roots = _build_trie(seqs)
    rows: list[TreeRow] = []
    placed: dict[int, int] = {}  # id(node) -> position in the current row
    cur = TreeRow([], [], [])

    def emit(node: _Node, parent_pos: int, depth: int) -> int:
        pos = len(cur.tokens)
        cur.tokens.append(node.token)
        cur.parent.append(parent_pos)
        cur.depth.append(depth)
        placed[id(node)] = pos
        if node.loc is None:
            node.loc = (len(rows), pos)
        return pos

    for path, sub in _units(roots, max_row_tokens):
        new_ancestors = sum(id(a) not in placed for a in path)
        if cur.tokens and len(cur.tokens) + new_ancestors + sub.size > max_row_tokens:
            rows.append(cur)
            cur, placed = TreeRow([], [], []), {}
        parent_pos = -1
        for depth, a in enumerate(path):
            parent_pos = placed[id(a)] if id(a) in placed else emit(a, parent_pos, depth)
        stack = [(sub, parent_pos, len(path))]
        while stack:
            n, pp, d = stack.pop()
            p = emit(n, pp, d)
            stack.extend((c, p, d + 1) for c in reversed(list(n.children.values())))
    if cur.tokens:
        rows.append(cur)
    row = np.full(len(seqs), -1, dtype=np.int64)
    pos = np.full(len(seqs), -1, dtype=np.int64)
    stack = list(roots)
    while stack:
        n = stack.pop()
        for i in n.ends:
            row[i], pos[i] = n.loc
        stack.extend(n.children.values())
    return TreePlan(rows, row, pos)


def ancestor_mask(parent: Sequence[int], length: int) -> np.ndarray:
    """bool ``[length, length]``: ``m[i, j]`` when ``j`` is ``i`` or an ancestor of ``i``.

    Positions beyond ``len(parent)`` (padding) see only themselves, so no row is fully masked.
    """
    m = np.zeros((length, length), dtype=bool)
    for i, p in enumerate(parent):
        if p >= 0:
            m[i] = m[p]
        m[i, i] = True
    for i in range(len(parent), length):
        m[i, i] = True
    return m


def tree_aggregate(acts, parent, depth, n_skip: int, aggregation: str):
    """Path aggregates of node activations (torch).

    ``acts``: ``[N, U]`` activations of all nodes of a batch, flattened; ``parent``: int64 ``[N]``
    flat index of each node's parent (-1: root); ``depth``: int64 ``[N]`` (-1: padding).
    Returns ``[N, U]`` where row ``i`` aggregates the nodes on the path to ``i`` whose depth is
    at least ``n_skip`` (the BOS position is skipped).
    """
    import torch

    if aggregation == "last":
        return acts
    if aggregation not in ("max", "mean"):
        raise ValueError(f"unknown aggregation {aggregation!r}")
    work = acts.double() if aggregation == "mean" else acts
    out = work.clone()
    max_depth = int(depth.max()) if depth.numel() else -1
    for d in range(n_skip + 1, max_depth + 1):
        idx = torch.nonzero(depth == d).squeeze(1)
        prev = out.index_select(0, parent.index_select(0, idx))
        cur = work.index_select(0, idx)
        out[idx] = torch.maximum(prev, cur) if aggregation == "max" else prev + cur
    if aggregation == "mean":
        count = (depth - n_skip + 1).clamp(min=1).to(torch.float64)
        out = out / count[:, None]
    return out.to(acts.dtype)
