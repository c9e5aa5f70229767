"""LLM neuron and direction banks: every unit of a layer from one (prefix-shared) forward pass.

A unit is addressed by layer and index at a site of a causal LM (see
:mod:`sasc.modules.causal_lm`: ``"mlp"`` post-activation neurons, ``"resid"`` residual
stream, ``"attn"`` attention output), or is a direction vector over a site (SAE latents,
probe directions): its activation is the dot product of the site's vector with the direction.

Tokenization convention (decided once): a text is tokenized exactly as given, alone, with
no added leading space and no special tokens; the tokenizer's BOS token (when it has one and
``prepend_bos``) is put in front as context. Activations at the BOS position are never
aggregated. A text with no tokens responds 0.

Aggregation over a text's tokens: ``"max"`` (default, as in neuron-explanation work),
``"mean"``, or ``"last"`` (the final token, which has seen the whole text).

Prefix sharing (:mod:`sasc.modules.prefix`), option ``prefix_sharing``: ``"tree"`` packs the
token trie of a call's texts into rows where each token attends only to its ancestors
(position id = depth), so every distinct prefix is computed once per row; ``"leaves"`` runs
only texts that are not a strict token prefix of another and reads the others from their
host's pass; ``"none"`` runs each text alone. ``"auto"`` (default) uses tree packing when the
model honours custom 4-D attention masks (checked once at construction), else leaves. All
modes give the naive per-text values up to float rounding. The dedupe keys are token-id
tuples and the bank sorts by them (``sorts_by_dedupe_keys``), so the stage runner puts prefix
families into one shard; it scores shards from those keys, so each text is tokenized once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cancel import checkpoint
from ..errors import ConfigError
from .base import TokenResponses, stable_hash
from .params import array_sha256, load_array, parse_indices
from .causal_lm import (
    EditEffect, LoadedLM, UnitEdit, amplified_tokens, canonical_site, edited_effects, load_causal_lm, read_sites,
    vocabulary_projection,
)
from .prefix import (
    AGGREGATIONS, ancestor_mask, batch_leaves, plan_prefix_sharing, plan_tree_packing, running_aggregate,
    tree_aggregate,
)
from .tokens import BatchTokenizer

DEFAULT_AGGREGATION = "max"
"""Aggregation over a text's tokens when none is given."""

_SITE_LETTER = {"mlp": "N", "resid": "R", "attn": "A"}
SHARING_MODES = ("auto", "tree", "leaves", "none")
"""``prefix_sharing`` values: tree packing when supported (auto), forced tree, leaves only, none."""


@dataclass
class ForwardStats:
    """Running counters of the work a bank did (for benchmarks and logs)."""

    texts: int = 0
    """Texts answered."""
    passes: int = 0
    """Sequences run through the model (leaves of the prefix plan)."""
    tokens: int = 0
    """Real tokens run (BOS included, padding excluded)."""
    padded_tokens: int = 0
    """Tokens run including padding."""


class CausalLMBank:
    """Shared machinery of neuron and direction banks: tokenization, prefix plan, batching.

    Subclasses set ``self.units`` and implement ``_project(captures) -> [B, T, n_units]``.
    """

    kind = "causal_lm"

    def __init__(self, lm: LoadedLM, site: str, layers: list[int], *, aggregation: str = DEFAULT_AGGREGATION,
                 prepend_bos: bool = True, max_tokens: int = 512, padding_side: str = "right",
                 max_batch_tokens: int | None = None, prefix_sharing: bool | str = "auto",
                 max_row_tokens: int = 256):
        if aggregation not in AGGREGATIONS:
            raise ConfigError(f"unknown aggregation {aggregation!r}; accepted: {', '.join(AGGREGATIONS)}")
        if padding_side not in ("right", "left"):
            raise ConfigError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
        if max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1, got {max_tokens}")
        self.lm = lm
        self.site = site
        self.layers = layers
        self.aggregation = aggregation
        tok = lm.tokenizer
        bos = getattr(tok, "bos_token_id", None)
        if bos is None:
            bos = getattr(lm.model.config, "bos_token_id", None)
        self.bos_id: int | None = int(bos) if prepend_bos and bos is not None else None
        self.max_tokens = int(max_tokens)
        self._tokenize = BatchTokenizer(tok, add_special_tokens=False)
        self.padding_side = padding_side
        if max_row_tokens < 1:
            raise ConfigError(f"max_row_tokens must be >= 1, got {max_row_tokens}")
        self.max_row_tokens = int(max_row_tokens)
        self._max_batch_tokens = max_batch_tokens
        pad = tok.pad_token_id if tok.pad_token_id is not None else getattr(tok, "eos_token_id", None)
        self.pad_id = int(pad) if pad is not None else 0
        self.device = lm.device
        self.stats = ForwardStats()
        self.widths = self._site_widths()
        self.sharing = "none"  # resolved by subclasses once their units exist (see _resolve_sharing)
        self._sharing_request = prefix_sharing

    # -- tokenization ------------------------------------------------------------------
    def token_ids(self, texts: Sequence[str]) -> list[tuple[int, ...]]:
        """Token ids per text: ``[BOS] + tokens(text)`` truncated to ``max_tokens`` text tokens."""
        if not texts:
            return []
        head = () if self.bos_id is None else (self.bos_id,)
        return [head + tuple(ids[: self.max_tokens]) for ids in self._tokenize(texts)]

    def dedupe_keys(self, texts: Sequence[str]) -> list[tuple[int, ...]]:
        """Texts with equal token ids respond equally."""
        return self.token_ids(texts)

    sorts_by_dedupe_keys = True
    """The stage runner orders texts by their token-id tuples: prefix families sit together."""

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        return [len(s) for s in self.token_ids(texts)]

    # -- evaluation --------------------------------------------------------------------
    @property
    def n_skip(self) -> int:
        """Leading positions never aggregated (the BOS token)."""
        return 0 if self.bos_id is None else 1

    def max_batch_tokens(self) -> int:
        """Padded tokens per forward pass: given, or chosen from free memory."""
        if self._max_batch_tokens:
            return int(self._max_batch_tokens)
        return auto_batch_tokens(self.lm, len(self.units))

    def responses(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``[len(texts), len(units)]`` responses (see module docstring)."""
        return self.responses_from_keys(self.token_ids(texts))

    def responses_from_keys(self, seqs: Sequence[tuple[int, ...]]) -> np.ndarray:
        """Responses to texts given as their :meth:`dedupe_keys` (token ids with BOS)."""
        planned = [s if len(s) > self.n_skip else () for s in seqs]  # no text tokens: response 0
        out = np.zeros((len(seqs), len(self.units)), dtype=np.float32)
        if self.sharing == "tree":
            self._tree_responses(planned, out)
        else:
            self._leaf_responses(planned, out)
        self.stats.texts += len(seqs)
        return out

    def token_responses(self, texts: Sequence[str]) -> list[TokenResponses]:
        """Per text, its tokens (decoded one by one, BOS left out) and every unit's activation at
        each of them: the values :meth:`responses` aggregates. No prefix sharing: one causal pass
        per text, batched."""
        seqs = self.token_ids(texts)
        out: list[TokenResponses] = [TokenResponses((), np.zeros((0, len(self.units)), np.float32))] * len(seqs)
        todo = [i for i, s in enumerate(seqs) if len(s) > self.n_skip]
        decode = self.lm.tokenizer.decode
        for batch in batch_leaves([len(seqs[i]) for i in todo], self.max_batch_tokens()):
            checkpoint()
            rows = [todo[j] for j in batch]
            ids, mask, offsets = self._pad([seqs[i] for i in rows])
            acts = self._forward([seqs[i] for i in rows], ids, mask, (mask.cumsum(1) - 1).clamp(min=0)).cpu()
            for b, i in enumerate(rows):
                start, end = int(offsets[b]) + self.n_skip, int(offsets[b]) + len(seqs[i])
                tokens = tuple(decode([t]) for t in seqs[i][self.n_skip:])
                out[i] = TokenResponses(tokens, acts[b, start:end].numpy().astype(np.float32))
        return out

    def ablation_jsd(self, texts: Sequence[str], col: int, targets: Sequence[Any]) -> list[float]:
        """Per text, the mean JSD over its token positions between the model's next-token
        distributions with unit ``col`` set to ``targets[i]`` (one value per token of the text, or one
        for all) and without the edit; Bills et al.'s ablation. NaN for a text without tokens."""
        return self.ablation_jsd_many([(t, col, v) for t, v in zip(texts, targets)])

    def ablation_jsd_many(self, requests: Sequence[tuple[str, int, Any]]) -> list[float]:
        """:meth:`ablation_jsd` for many ``(text, unit, targets)`` requests at once, of any units of the
        bank: they share forward passes (:meth:`edit_effects`), so many units cost less than one by one."""
        return [e.jsd for e in self.edit_effects(requests)]

    def edit_effects(self, requests: Sequence[tuple[str, int, Any]], add: bool = False) -> list[EditEffect]:
        """Per ``(text, unit, targets)`` request, what setting unit ``col`` to ``targets`` (one value
        per token of the text, or one for all; with ``add``: adding them to it, i.e. steering)
        does to the model's next-token distributions over the text's tokens: JSD, KL and the rise
        of the text's own tokens' log-probability (:func:`~sasc.modules.causal_lm.edited_effects`).
        All requests share forward passes (one row per request, the unedited pass once per distinct
        text, the layers below the unit skipped for the edited rows)."""
        seqs = self.token_ids([t for t, _, _ in requests])
        edits = []
        for seq, (_, col, t) in zip(seqs, requests):
            n = len(seq) - self.n_skip
            if np.ndim(t) and len(t) != n:
                raise ConfigError(f"{len(t)} target values for a text of {n} tokens")
            layer, readout = self._readout(col)
            edits.append(UnitEdit(tuple(seq), layer, readout, t, add))
        return edited_effects(self.lm, self.site, edits, self.n_skip, self.pad_id, min(self.max_batch_tokens(), 1024))

    def output_tokens(self, col: int, k: int = 10) -> dict[str, list]:
        """The tokens unit ``col`` promotes and suppresses through the unembedding
        (:func:`~sasc.modules.causal_lm.vocabulary_projection`): output-side evidence of what it does."""
        layer, readout = self._readout(col)
        return vocabulary_projection(self.lm, self.site, layer, readout, k)

    def output_evidence(self, col: int, texts: Sequence[str], k: int = 10, multiple: float = 2.0) -> dict[str, Any]:
        """Output-side evidence of unit ``col`` (what it makes the model say): the tokens it promotes
        and suppresses through the unembedding (:meth:`output_tokens`), and the tokens whose
        probability rises and falls most when ``multiple`` times its largest activation on ``texts``
        is added to it at every position of ``texts``
        (:func:`~sasc.modules.causal_lm.amplified_tokens`)."""
        layer, readout = self._readout(col)
        peak = max((float(np.max(np.abs(r.values[:, col]))) for r in self.token_responses(texts) if len(r.values)),
                   default=0.0)
        if not peak > 0:
            raise ConfigError(f"unit {self.units[col]} is never active on the texts given: nothing to amplify")
        amplified = amplified_tokens(self.lm, self.site, layer, readout, self.token_ids(texts), multiple * peak,
                                     self.n_skip, self.pad_id, k, min(self.max_batch_tokens(), 1024))
        return {**self.output_tokens(col, k), **amplified, "amplified_by": multiple * peak}

    def _readout(self, col: int) -> tuple[int, np.ndarray]:
        """``(layer, vector over the site)`` whose dot product with the site's state is unit ``col``."""
        raise NotImplementedError

    def _leaf_responses(self, planned: list[tuple[int, ...]], out: np.ndarray) -> None:
        """Causal passes over leaves (``"leaves"``) or every distinct sequence (``"none"``)."""
        import torch

        plan = plan_prefix_sharing(planned, share=self.sharing == "leaves")
        by_leaf: dict[int, list[int]] = {}
        for i, h in enumerate(plan.host):
            if h >= 0:
                by_leaf.setdefault(int(h), []).append(i)
        for batch in batch_leaves([len(s) for s in plan.leaves], self.max_batch_tokens()):
            checkpoint()  # a cancelled job stops here, between batches (results unchanged)
            seqs = [plan.leaves[j] for j in batch]
            ids, mask, offsets = self._pad(seqs)
            positions = (mask.cumsum(1) - 1).clamp(min=0)
            acts = self._forward(seqs, ids, mask, positions)  # [B, T, U]
            # realign so each row's first text token (after BOS) sits at position 0
            longest = ids.shape[1]
            idx = (offsets[:, None] + self.n_skip + torch.arange(longest - self.n_skip)[None, :]).clamp(max=longest - 1)
            idx = idx.to(acts.device)[:, :, None].expand(-1, -1, acts.shape[2])
            agg = running_aggregate(torch.gather(acts, 1, idx), self.aggregation)
            rows, cols, dest = [], [], []
            for b, leaf in enumerate(batch):
                for i in by_leaf.get(leaf, ()):
                    rows.append(b)
                    cols.append(int(plan.length[i]) - 1 - self.n_skip)
                    dest.append(i)
            out[dest] = agg[rows, cols].float().cpu().numpy()

    def _tree_responses(self, planned: list[tuple[int, ...]], out: np.ndarray) -> None:
        """Packed prefix trees: each distinct prefix once per row, ancestors-only attention."""
        import torch

        plan = plan_tree_packing(planned, self.max_row_tokens)
        by_row: dict[int, list[int]] = {}
        for i, r in enumerate(plan.row):
            if r >= 0:
                by_row.setdefault(int(r), []).append(i)
        for batch in batch_leaves([len(r.tokens) for r in plan.rows], self.max_batch_tokens()):
            checkpoint()
            rows = [plan.rows[j] for j in batch]
            ids, mask, offsets = self._pad([r.tokens for r in rows])
            n, longest = ids.shape
            allowed = np.zeros((n, longest, longest), dtype=bool)
            positions = torch.zeros((n, longest), dtype=torch.long)
            parent = torch.full((n, longest), -1, dtype=torch.long)
            depth = torch.full((n, longest), -1, dtype=torch.long)
            for b, r in enumerate(rows):
                o, k = int(offsets[b]), len(r.tokens)
                allowed[b] = np.roll(ancestor_mask(r.parent, longest), (o, o), axis=(0, 1))
                positions[b, o:o + k] = torch.tensor(r.depth)
                depth[b, o:o + k] = torch.tensor(r.depth)
                parent[b, o:o + k] = torch.tensor([b * longest + o + p if p >= 0 else -1 for p in r.parent])
            dtype = getattr(self.lm.model, "dtype", torch.float32)
            mask4 = torch.zeros((n, 1, longest, longest), dtype=dtype)
            mask4.masked_fill_(~torch.from_numpy(allowed)[:, None], torch.finfo(dtype).min)
            acts = self._forward([r.tokens for r in rows], ids, mask4, positions)
            dev = acts.device
            flat = tree_aggregate(acts.reshape(n * longest, -1), parent.reshape(-1).to(dev),
                                  depth.reshape(-1).to(dev), self.n_skip, self.aggregation)
            dest = [i for j in batch for i in by_row.get(j, ())]
            where = [b * longest + int(offsets[b]) + int(plan.pos[i])
                     for b, j in enumerate(batch) for i in by_row.get(j, ())]
            out[dest] = flat[where].float().cpu().numpy()

    def _pad(self, seqs: list[Sequence[int]]) -> tuple[Any, Any, Any]:
        """Padded ids ``[B, T]``, 2-D mask and each row's start offset (left or right padding)."""
        import torch

        n, longest = len(seqs), max(len(s) for s in seqs)
        ids = torch.full((n, longest), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, longest), dtype=torch.long)
        offsets = torch.zeros(n, dtype=torch.long)
        for b, s in enumerate(seqs):
            start = longest - len(s) if self.padding_side == "left" else 0
            ids[b, start:start + len(s)] = torch.tensor(s, dtype=torch.long)
            mask[b, start:start + len(s)] = 1
            offsets[b] = start
        return ids, mask, offsets

    def _forward(self, seqs: list[Sequence[int]], ids: Any, mask: Any, positions: Any) -> Any:
        """Unit activations ``[B, T, U]`` (float32) of one padded batch."""
        dev = self.device
        with self.lm.lock:
            captures = read_sites(self.lm, self.site, self.layers, ids.to(dev), mask.to(dev), positions.to(dev))
            acts = self._project(captures).float()
        self.stats.passes += len(seqs)
        self.stats.tokens += sum(len(s) for s in seqs)
        self.stats.padded_tokens += int(ids.numel())
        return acts

    def _project(self, captures: list[Any]) -> Any:
        raise NotImplementedError

    def _resolve_sharing(self, mode: bool | str) -> str:
        """``"tree"``, ``"leaves"`` or ``"none"``; ``"auto"``/True picks tree packing when this model
        honours custom 4-D attention masks (checked on two short sequences), else leaves."""
        key = {True: "auto", False: "none"}.get(mode, mode) if isinstance(mode, bool) else str(mode).lower()
        if key not in SHARING_MODES:
            raise ConfigError(f"unknown prefix_sharing {mode!r}; accepted: {', '.join(SHARING_MODES)}, true, false")
        if key in ("leaves", "none"):
            return key
        probe = self.token_ids(["the cat sat on the mat", "the cat ran away"])  # a shared prefix
        ref = np.zeros((2, len(self.units)), np.float32)
        got = np.zeros_like(ref)
        self.sharing = "none"
        self._leaf_responses(probe, ref)
        try:
            self._tree_responses(probe, got)
            ok = np.allclose(got, ref, rtol=1e-3, atol=1e-3 * max(1.0, float(np.abs(ref).max())))
        except (RuntimeError, ValueError, TypeError):
            ok = False
        self.stats = ForwardStats()
        if not ok and key == "tree":
            raise ConfigError("prefix_sharing='tree' needs a model that honours custom 4-D attention masks; "
                              "this one does not (use 'leaves')")
        return "tree" if ok else "leaves"

    def _site_widths(self) -> list[int]:
        """Width of the site at each layer, read from a one-token pass."""
        import torch

        tok = self.bos_id if self.bos_id is not None else self.pad_id
        ids = torch.tensor([[tok]], device=self.device)
        with self.lm.lock:
            caps = read_sites(self.lm, self.site, self.layers, ids, torch.ones_like(ids), torch.zeros_like(ids))
        return [int(c.shape[-1]) for c in caps]

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """First unit's responses, so a one-unit bank is also a plain module."""
        return self.responses(texts)[:, 0]


def auto_batch_tokens(lm: LoadedLM, n_units: int) -> int:
    """Padded tokens per pass that fit comfortably: a share of free GPU memory, or RAM on CPU."""
    cfg = lm.model.config.get_text_config() if hasattr(lm.model.config, "get_text_config") else lm.model.config
    hidden = int(getattr(cfg, "hidden_size", 1024))
    inter = int(getattr(cfg, "intermediate_size", None) or 4 * hidden)
    per_token = 4 * (12 * hidden + 4 * inter + 4 * n_units)  # bytes, float32 worst case
    if str(lm.device).startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(lm.device))
        return int(min(max(free * 0.3 // per_token, 256), 131072))
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        free = 4 << 30
    return int(min(max(free * 0.1 // per_token, 256), 4096))  # bigger CPU batches gain nothing


def _layers(layer: Any, lm: LoadedLM) -> list[int]:
    return parse_indices(layer, lm.n_layers, "layer")


class LLMNeuronBank(CausalLMBank):
    """Units = indices at a site of one or more layers (``"L5.N1204"`` for MLP neuron 1204 of layer 5)."""

    kind = "llm_neuron"

    def __init__(self, lm: LoadedLM, site: str, layers: list[int], units: Any = None, **kw: Any):
        super().__init__(lm, site, layers, **kw)
        if len(set(self.widths)) != 1:
            raise ConfigError(f"site {site!r} has different widths across layers {layers}: {self.widths}")
        self.unit_index = parse_indices(units, self.widths[0], f"unit index at site {site!r}")
        letter = _SITE_LETTER[site]
        self.units = [f"L{li}.{letter}{i}" for li in layers for i in self.unit_index]
        self._index_tensor = None
        self.name = f"llm_neuron({lm.identity[:20]}, {site}, layers {_short(layers)}, {len(self.units)} units)"
        self.fingerprint = stable_hash(self.kind, lm.identity, site, tuple(layers), tuple(self.unit_index),
                                       self.aggregation, lm.dtype, self.bos_id, self.max_tokens)
        self.sharing = self._resolve_sharing(self._sharing_request)

    def _readout(self, col: int) -> tuple[int, np.ndarray]:
        n = len(self.unit_index)
        w = np.zeros(self.widths[0], dtype=np.float32)
        w[self.unit_index[col % n]] = 1.0
        return self.layers[col // n], w

    def _project(self, captures: list[Any]) -> Any:
        import torch

        if self._index_tensor is None:
            self._index_tensor = torch.tensor(self.unit_index, device=self.device)
        if len(self.unit_index) == self.widths[0]:
            parts = captures
        else:
            parts = [c.index_select(-1, self._index_tensor) for c in captures]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)


class LLMDirectionBank(CausalLMBank):
    """Units = direction vectors ``[K, width]`` over one site of one layer; response = aggregated h·d."""

    kind = "llm_direction"

    def __init__(self, lm: LoadedLM, site: str, layer: int, directions: np.ndarray,
                 names: Sequence[str] | None = None, **kw: Any):
        super().__init__(lm, site, [layer], **kw)
        width = self.widths[0]
        d = np.asarray(directions, dtype=np.float32)
        if d.ndim == 1:
            d = d[None, :]
        if d.ndim != 2 or width not in d.shape:
            raise ConfigError(f"directions of shape {d.shape} do not fit site {site!r} of layer {layer}, "
                              f"whose width is {width}: expected [n_directions, {width}]")
        if d.shape[1] != width:
            d = d.T  # given as [width, n_directions]
        if not np.isfinite(d).all():
            raise ConfigError("directions contain NaN or inf")
        self.directions = d
        if names is not None and len(names) != d.shape[0]:
            raise ConfigError(f"{len(names)} names given for {d.shape[0]} directions")
        self.units = list(names) if names is not None else [f"L{layer}.{site}.D{k}" for k in range(d.shape[0])]
        self._weight = None
        self.name = f"llm_direction({lm.identity[:20]}, {site}, layer {layer}, {d.shape[0]} directions)"
        self.fingerprint = stable_hash(self.kind, lm.identity, site, layer, array_sha256(d), tuple(self.units),
                                       self.aggregation, lm.dtype, self.bos_id, self.max_tokens)
        self.sharing = self._resolve_sharing(self._sharing_request)

    def _readout(self, col: int) -> tuple[int, np.ndarray]:
        return self.layers[0], self.directions[col]

    def _project(self, captures: list[Any]) -> Any:
        import torch

        if self._weight is None:
            self._weight = torch.from_numpy(self.directions).to(self.device)
        h = captures[0]
        return h.to(self._weight.dtype) @ self._weight.T


def _short(layers: list[int]) -> str:
    return str(layers[0]) if len(layers) == 1 else f"{layers[0]}..{layers[-1]}"


_BANK_KEYS = ("aggregation", "prepend_bos", "max_tokens", "padding_side", "max_batch_tokens", "prefix_sharing",
              "max_row_tokens")


def _split(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    load = {k: params.pop(k) for k in ("device", "dtype", "cache_dir") if k in params}
    bank = {k: params.pop(k) for k in _BANK_KEYS if k in params}
    if params:
        raise ConfigError(f"unknown parameter(s) {', '.join(sorted(params))}; accepted: model, site, layer, "
                          f"units, device, dtype, cache_dir, {', '.join(_BANK_KEYS)}")
    return load, bank


def build_llm_neuron_bank(model: str | None = None, site: str = "mlp", layer: Any = 0, units: Any = None,
                          **params: Any) -> LLMNeuronBank:
    """Kind ``llm_neuron``: ``model`` (name, path or alias; default SmolLM2-135M-Instruct), ``site``
    (mlp/resid/attn), ``layer`` (int, ``"3-5"`` or list), ``units`` (None = all, ``"0-1535"``, list),
    plus ``aggregation`` (max/mean/last), ``dtype``, ``device``, ``cache_dir`` and batching options."""
    site = canonical_site(site)
    load, bank = _split(dict(params))
    lm = load_causal_lm(model, **load)
    return LLMNeuronBank(lm, site, _layers(layer, lm), units, **bank)


def build_llm_direction_bank(model: str | None = None, site: str = "resid", layer: int = 0,
                             directions: Any = None, key: str | None = None, names: Sequence[str] | None = None,
                             **params: Any) -> LLMDirectionBank:
    """Kind ``llm_direction``: like ``llm_neuron`` but ``directions`` is a list of vectors, an array
    ``[K, width]``, or a ``.npy`` / ``.safetensors`` path (``key`` picks the tensor)."""
    site = canonical_site(site)
    if directions is None:
        raise ConfigError("llm_direction needs directions: a list of vectors, or a .npy/.safetensors path")
    if isinstance(directions, (str, Path)):
        directions = load_array(directions, key)
    load, bank = _split(dict(params))
    lm = load_causal_lm(model, **load)
    layers = _layers(layer, lm)
    if len(layers) != 1:
        raise ConfigError(f"llm_direction reads one layer; got {layers}")
    return LLMDirectionBank(lm, site, layers[0], np.asarray(directions, dtype=np.float32), names, **bank)
