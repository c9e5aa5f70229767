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

Prefix sharing (:mod:`sasc.modules.prefix`): within a call only texts whose token ids are
not a strict prefix of another text's are run; the others are read from their host's pass.
``sort_keys`` returns token-id tuples so the stage runner puts prefix families into one shard.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import stable_hash
from .causal_lm import LoadedLM, canonical_site, load_causal_lm, read_sites
from .prefix import AGGREGATIONS, batch_leaves, plan_prefix_sharing, running_aggregate

DEFAULT_AGGREGATION = "max"
"""Aggregation over a text's tokens when none is given."""

_SITE_LETTER = {"mlp": "N", "resid": "R", "attn": "A"}


def parse_indices(spec: Any, limit: int, what: str) -> list[int]:
    """Indices from ``None`` (all), an int, ``"0-1535"``, ``"3,7,10-12"`` or a list of those.

    Raises :class:`ConfigError` for anything outside ``0..limit-1`` or unparseable.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "all")):
        return list(range(limit))
    items = spec if isinstance(spec, (list, tuple, range, np.ndarray)) else [spec]
    out: list[int] = []
    for item in items:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            out.append(int(item))
            continue
        for part in filter(None, (p.strip() for p in str(item).split(","))):
            lo, dash, hi = part.partition("-")
            try:
                out.extend(range(int(lo), int(hi) + 1) if dash else [int(lo)])
            except ValueError:
                raise ConfigError(f"bad {what} {part!r}: expected an index, a range like '0-1535' "
                                  "or a comma-separated list") from None
    bad = [i for i in out if not 0 <= i < limit]
    if bad:
        raise ConfigError(f"{what} {bad[0]} out of range: valid {what}s are 0..{limit - 1}")
    if not out:
        raise ConfigError(f"no {what}s selected")
    return list(dict.fromkeys(out))


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
                 max_batch_tokens: int | None = None, prefix_sharing: bool = True):
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
        self.padding_side = padding_side
        self.prefix_sharing = bool(prefix_sharing)
        self._max_batch_tokens = max_batch_tokens
        pad = tok.pad_token_id if tok.pad_token_id is not None else getattr(tok, "eos_token_id", None)
        self.pad_id = int(pad) if pad is not None else 0
        self.device = lm.device
        self.stats = ForwardStats()
        self.widths = self._site_widths()

    # -- tokenization ------------------------------------------------------------------
    def token_ids(self, texts: Sequence[str]) -> list[tuple[int, ...]]:
        """Token ids per text: ``[BOS] + tokens(text)`` truncated to ``max_tokens`` text tokens."""
        if not texts:
            return []
        enc = self.lm.tokenizer(list(texts), add_special_tokens=False, return_attention_mask=False)["input_ids"]
        head = () if self.bos_id is None else (self.bos_id,)
        return [head + tuple(ids[: self.max_tokens]) for ids in enc]

    def dedupe_keys(self, texts: Sequence[str]) -> list[tuple[int, ...]]:
        """Texts with equal token ids respond equally."""
        return self.token_ids(texts)

    def sort_keys(self, texts: Sequence[str]) -> list[tuple[int, ...]]:
        """Token-id tuples: sorting by them puts prefix families next to each other."""
        return self.token_ids(texts)

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
        seqs = self.token_ids(texts)
        planned = [s if len(s) > self.n_skip else () for s in seqs]  # no text tokens: response 0
        plan = plan_prefix_sharing(planned, share=self.prefix_sharing)
        out = np.zeros((len(texts), len(self.units)), dtype=np.float32)
        by_leaf: dict[int, list[int]] = {}
        for i, h in enumerate(plan.host):
            if h >= 0:
                by_leaf.setdefault(int(h), []).append(i)
        lengths = [len(s) for s in plan.leaves]
        for batch in batch_leaves(lengths, self.max_batch_tokens()):
            agg = self._run_batch([plan.leaves[j] for j in batch])  # [B, T', U]
            rows, cols, dest = [], [], []
            for b, leaf in enumerate(batch):
                for i in by_leaf.get(leaf, ()):
                    rows.append(b)
                    cols.append(int(plan.length[i]) - 1 - self.n_skip)
                    dest.append(i)
            out[dest] = agg[rows, cols].float().cpu().numpy()
        self.stats.texts += len(texts)
        return out

    def _run_batch(self, leaves: list[tuple[int, ...]]) -> Any:
        """Prefix aggregates ``[B, T - n_skip, U]`` for a batch of token sequences."""
        import torch

        n, longest = len(leaves), max(len(s) for s in leaves)
        ids = torch.full((n, longest), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, longest), dtype=torch.long)
        offsets = torch.zeros(n, dtype=torch.long)
        for b, s in enumerate(leaves):
            start = longest - len(s) if self.padding_side == "left" else 0
            ids[b, start:start + len(s)] = torch.tensor(s, dtype=torch.long)
            mask[b, start:start + len(s)] = 1
            offsets[b] = start
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        dev = self.device
        with self.lm.lock:
            captures = read_sites(self.lm, self.site, self.layers, ids.to(dev), mask.to(dev), positions.to(dev))
            acts = self._project(captures)  # [B, T, U]
        self.stats.passes += n
        self.stats.tokens += sum(len(s) for s in leaves)
        self.stats.padded_tokens += n * longest
        # realign so each row's first text token (after BOS) sits at position 0
        width = longest - self.n_skip
        idx = (offsets[:, None] + self.n_skip + torch.arange(width)[None, :]).clamp(max=longest - 1).to(dev)
        aligned = torch.gather(acts, 1, idx[:, :, None].expand(-1, -1, acts.shape[2])).float()
        return running_aggregate(aligned, self.aggregation)

    def _project(self, captures: list[Any]) -> Any:
        raise NotImplementedError

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

    def _project(self, captures: list[Any]) -> Any:
        import torch

        if self._weight is None:
            self._weight = torch.from_numpy(self.directions).to(self.device)
        h = captures[0]
        return h.to(self._weight.dtype) @ self._weight.T


def array_sha256(a: np.ndarray) -> str:
    """sha256 over an array's dtype, shape and bytes."""
    import hashlib

    a = np.ascontiguousarray(a)
    return hashlib.sha256(f"{a.dtype.str}{a.shape}".encode() + a.tobytes()).hexdigest()


def _short(layers: list[int]) -> str:
    return str(layers[0]) if len(layers) == 1 else f"{layers[0]}..{layers[-1]}"


_BANK_KEYS = ("aggregation", "prepend_bos", "max_tokens", "padding_side", "max_batch_tokens", "prefix_sharing")


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
    from .dictionary import load_array

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
