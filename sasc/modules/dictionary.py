"""BERT dictionary-factor banks (Yun et al. 2021, "transformer factors").

The hidden states of a BERT-family encoder at one layer are sparse-coded against a
dictionary Φ (``d × K``, one factor per column) with batched FISTA
(:mod:`sasc.modules.sparse_coding`); a factor's response to a text is its **mean sparse
coefficient over the text's tokens** ([CLS]/[SEP] and other special tokens excluded; a text
with no tokens responds 0). Units are named ``"L4.F17"`` (factor 17 at layer 4).

Layer 0 is the embedding output, layer ``i`` the output of transformer block ``i``. The
offline default encoder is the BERT inside all-MiniLM-L6-v2 (packaged); any BERT-family name
or path works. Dictionaries are stored ``(d, K)`` as ``.npy`` (the reference's layout) or
``.safetensors`` (tensor ``"dictionary"`` plus metadata: encoder, layer, λ); a ``(K, d)``
array (scikit-learn's ``components_`` layout) is transposed on load.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cancel import check_between_layers, checkpoint
from ..errors import ConfigError, ModelAssetError
from .base import TokenResponses, stable_hash
from .causal_lm import directory_identity, dtype_kwargs, resolve_dtype
from .device import best_device
from .embedding import DEFAULT_ENCODER, resolve_encoder
from .params import array_sha256, load_array, parse_indices
from .sparse_coding import fista, lipschitz_constant
from .tokens import BatchTokenizer

_ENCODERS: dict[tuple[str, str, str, int], "BertEncoder"] = {}
_LOCK = threading.Lock()


@dataclass
class BertEncoder:
    """A BERT-family encoder that returns per-token hidden states of one layer."""

    model: Any
    """The ``transformers`` encoder (AutoModel), eval mode."""
    tokenizer: Any
    """Its tokenizer."""
    identity: str
    """Content identity of the weights."""
    device: str
    """Where it runs."""
    max_tokens: int = 256
    """Tokens per text including special tokens (longer texts are truncated)."""

    def __post_init__(self) -> None:
        self._tokenize = BatchTokenizer(self.tokenizer, add_special_tokens=True, max_length=self.max_tokens)

    @property
    def n_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def width(self) -> int:
        return int(self.model.config.hidden_size)

    def token_ids(self, texts: Sequence[str]) -> list[tuple[int, ...]]:
        """Token ids with special tokens, truncated to ``max_tokens``."""
        return [tuple(ids) for ids in self._tokenize(texts)]

    def hidden_states(self, texts: Sequence[str], layer: int, max_batch_tokens: int = 8192) -> list[Any]:
        """Per text, a ``[n_tokens, d]`` float32 tensor of layer ``layer``'s states (special tokens dropped).

        Texts are grouped by exact token length, so no padding or attention mask is involved.
        """
        import torch

        ids = self.token_ids(texts)
        special = set(self.tokenizer.all_special_ids)
        out: list[Any] = [None] * len(ids)
        by_len: dict[int, list[int]] = {}
        for i, seq in enumerate(ids):
            by_len.setdefault(len(seq), []).append(i)
        with torch.inference_mode():
            for length, rows in by_len.items():
                step = max(1, max_batch_tokens // max(length, 1))
                for s in range(0, len(rows), step):
                    checkpoint()  # a cancelled job stops here, between batches (results unchanged)
                    part = rows[s:s + step]
                    x = torch.tensor([ids[i] for i in part], dtype=torch.long, device=self.device)
                    hs = self.model(input_ids=x, attention_mask=torch.ones_like(x),
                                    output_hidden_states=True).hidden_states[layer].float()
                    for b, i in enumerate(part):
                        keep = [j for j, t in enumerate(ids[i]) if t not in special]
                        out[i] = hs[b, keep]
        return out


def load_bert_encoder(name: str | None = None, device: str | None = None, dtype: str | None = "float32",
                      max_tokens: int = 256) -> BertEncoder:
    """Load (once per process) a BERT-family encoder; default: the BERT inside all-MiniLM-L6-v2."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = resolve_encoder(name)
    device = device or best_device()
    dtype = resolve_dtype(dtype, device)
    key = (path, device, dtype, int(max_tokens))
    with _LOCK:
        if key not in _ENCODERS:
            local = Path(path).is_dir()
            try:
                tok = AutoTokenizer.from_pretrained(path, local_files_only=local)
                model = AutoModel.from_pretrained(path, local_files_only=local, **dtype_kwargs(getattr(torch, dtype)))
            except (OSError, ValueError) as e:
                raise ModelAssetError(f"cannot load encoder {name!r}: {e}") from e
            ident = ("dir:" + directory_identity(Path(path))) if local else "hub:" + path
            _ENCODERS[key] = BertEncoder(check_between_layers(model.to(device).eval()), tok, ident, device, max_tokens)
    return _ENCODERS[key]


# -- dictionaries on disk ----------------------------------------------------------------



def dictionary_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata sasc stores with a ``.safetensors`` dictionary (encoder, layer, lam...); ``{}`` otherwise."""
    p = Path(path).expanduser()
    if p.suffix != ".safetensors" or not p.is_file():
        return {}
    from safetensors import safe_open

    with safe_open(str(p), framework="numpy") as f:
        meta = f.metadata() or {}
    return {k: json.loads(v) for k, v in meta.items()}


def save_dictionary(path: str | Path, dictionary: np.ndarray, **metadata: Any) -> Path:
    """Write ``dictionary`` ``(d, K)`` to ``.npy`` or ``.safetensors`` (with JSON-encoded ``metadata``)."""
    p = Path(path).expanduser()
    arr = np.ascontiguousarray(dictionary, dtype=np.float32)
    if arr.ndim != 2:
        raise ConfigError(f"a dictionary is a (d, K) matrix; got shape {arr.shape}")
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix == ".npy":
        np.save(p, arr)
    elif p.suffix == ".safetensors":
        from safetensors.numpy import save_file

        save_file({"dictionary": arr}, str(p), metadata={k: json.dumps(v) for k, v in metadata.items()})
    else:
        raise ConfigError(f"unsupported dictionary file {p.name!r}: accepted .npy and .safetensors")
    return p


def fit_dictionary_shape(dictionary: np.ndarray, width: int) -> np.ndarray:
    """``(d, K)`` for an encoder of width ``d``; a ``(K, d)`` array is transposed; else ConfigError."""
    a = np.asarray(dictionary, dtype=np.float32)
    if a.ndim != 2:
        raise ConfigError(f"a dictionary is a (d, K) matrix; got shape {a.shape}")
    if a.shape[0] == width:
        return a
    if a.shape[1] == width:
        return np.ascontiguousarray(a.T)
    raise ConfigError(f"dictionary of shape {a.shape} does not match the encoder's hidden width {width}: "
                      f"expected ({width}, K)")


# -- the bank ------------------------------------------------------------------------------
class DictionaryFactorBank:
    """Units = dictionary factors; response = mean sparse coefficient over a text's tokens.

    Args:
        encoder: the BERT-family encoder.
        layer: hidden-state layer (0 = embeddings .. ``n_layers``).
        dictionary: Φ, ``(d, K)``.
        lam: λ of the lasso (reference: 0.3).
        n_iter: FISTA iterations (reference: 500).
        positive: non-negative codes (reference: yes).
        factors: which factors are units (None: all K); all K atoms take part in the coding.
    """

    kind = "dictionary_factor"

    def __init__(self, encoder: BertEncoder, layer: int, dictionary: np.ndarray, *, lam: float = 0.3,
                 n_iter: int = 500, positive: bool = True, factors: Any = None):
        import torch

        if not 0 <= int(layer) <= encoder.n_layers:
            raise ConfigError(f"layer {layer} out of range: the encoder has hidden states 0..{encoder.n_layers} "
                              "(0 = embeddings)")
        if lam < 0 or n_iter < 1:
            raise ConfigError(f"need lam >= 0 and n_iter >= 1; got lam={lam}, n_iter={n_iter}")
        self.encoder = encoder
        self.layer = int(layer)
        self.dictionary = fit_dictionary_shape(dictionary, encoder.width)
        if not np.isfinite(self.dictionary).all():
            raise ConfigError("the dictionary contains NaN or inf")
        self.lam, self.n_iter, self.positive = float(lam), int(n_iter), bool(positive)
        self.factor_index = parse_indices(factors, self.dictionary.shape[1], "factor")
        self.units = [f"L{self.layer}.F{k}" for k in self.factor_index]
        self.device = encoder.device
        self._phi = torch.from_numpy(self.dictionary).to(self.device)
        self._lipschitz = lipschitz_constant(self._phi)
        self._cols = torch.tensor(self.factor_index, device=self.device)
        self.name = f"dictionary_factor(layer {self.layer}, K={self.dictionary.shape[1]}, λ={self.lam})"
        self.fingerprint = stable_hash(self.kind, encoder.identity, encoder.max_tokens, self.layer,
                                       array_sha256(self.dictionary), self.lam, self.n_iter, self.positive,
                                       tuple(self.factor_index))

    def dedupe_keys(self, texts: Sequence[str]) -> list[tuple[int, ...]]:
        """Token ids: texts tokenized alike (e.g. differing only in case) respond alike."""
        return self.encoder.token_ids(texts)

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        return [len(s) for s in self.encoder.token_ids(texts)]

    def codes(self, states: Any) -> Any:
        """Sparse codes ``[n_tokens, K]`` of hidden states ``[n_tokens, d]``."""
        return fista(states, self._phi, self.lam, n_iter=self.n_iter, positive=self.positive,
                     lipschitz=self._lipschitz)

    def responses(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``[len(texts), len(units)]``: mean code of each factor over each text's tokens."""
        import torch

        out = np.zeros((len(texts), len(self.units)), dtype=np.float32)
        states = self.encoder.hidden_states(texts, self.layer)
        counts = [0 if s is None else int(s.shape[0]) for s in states]
        if not sum(counts):
            return out
        codes = self.codes(torch.cat([s for s in states if s is not None and s.shape[0]]))[:, self._cols]
        rows = torch.repeat_interleave(torch.arange(len(texts), device=codes.device),
                                       torch.tensor(counts, device=codes.device))
        sums = torch.zeros((len(texts), codes.shape[1]), dtype=codes.dtype, device=codes.device)
        sums.index_add_(0, rows, codes)
        means = sums / torch.tensor(counts, device=codes.device).clamp(min=1)[:, None]
        out[:] = means.float().cpu().numpy()
        return out

    def token_responses(self, texts: Sequence[str]) -> list[TokenResponses]:
        """Per text, its word pieces (special tokens left out; a word's first piece after the first
        word with a leading space, a "##" continuation without, so they join into the text) and each factor's
        sparse code at each of them: the values :meth:`responses` averages."""
        special = set(self.encoder.tokenizer.all_special_ids)
        pieces = [_spaced(self.encoder.tokenizer.convert_ids_to_tokens([t for t in ids if t not in special]))
                  for ids in self.encoder.token_ids(texts)]
        states = self.encoder.hidden_states(texts, self.layer)
        counts = [0 if st is None else int(st.shape[0]) for st in states]
        codes = np.zeros((sum(counts), len(self.units)), np.float32)
        if sum(counts):
            import torch

            codes = self.codes(torch.cat([st for st in states if st is not None and st.shape[0]]))[:, self._cols]
            codes = codes.float().cpu().numpy()
        bounds = np.cumsum([0, *counts])
        out = [TokenResponses(tuple(toks), codes[a:b].astype(np.float32))
               for toks, a, b in zip(pieces, bounds[:-1], bounds[1:])]
        return out

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """First unit's responses."""
        return self.responses(texts)[:, 0]


def _spaced(pieces: Sequence[str]) -> list[str]:
    """WordPiece tokens as text pieces: ``["the", "cat", "##s"]`` -> ``["the", " cat", "s"]``."""
    return [p[2:] if p.startswith("##") else (" " + p if i else p) for i, p in enumerate(pieces)]


def learn_dictionary(texts: Sequence[str], n_factors: int = 1000, *, encoder: BertEncoder | None = None,
                     layer: int = 4, lam: float = 0.3, max_tokens: int = 50_000, batch_size: int = 256,
                     n_epochs: int = 2, positive: bool = True, seed: int = 0) -> np.ndarray:
    """Learn Φ ``(d, n_factors)`` from the hidden states of ``texts``' tokens at ``layer``.

    scikit-learn ``MiniBatchDictionaryLearning`` (unit-norm atoms, codes ≥ 0 when ``positive``)
    on at most ``max_tokens`` token states sampled with ``seed``; ``n_epochs`` passes over them.
    """
    import torch
    from sklearn.decomposition import MiniBatchDictionaryLearning
    from sklearn.exceptions import ConvergenceWarning

    enc = encoder or load_bert_encoder()
    if not 0 <= layer <= enc.n_layers:
        raise ConfigError(f"layer {layer} out of range: the encoder has hidden states 0..{enc.n_layers}")
    if n_factors < 1:
        raise ConfigError(f"n_factors must be >= 1, got {n_factors}")
    states = [s for s in enc.hidden_states(list(texts), layer) if s is not None and s.shape[0]]
    if not states:
        raise ConfigError("no tokens to learn a dictionary from: the texts are empty")
    x = torch.cat(states).cpu().numpy()
    rng = np.random.default_rng(seed)
    if len(x) > max_tokens:
        x = x[np.sort(rng.choice(len(x), size=max_tokens, replace=False))]
    learner = MiniBatchDictionaryLearning(n_components=n_factors, alpha=lam, batch_size=batch_size,
                                          max_iter=n_epochs, positive_code=positive, random_state=seed, fit_algorithm="cd",
                                          transform_algorithm="lasso_cd", transform_alpha=lam)
    with warnings.catch_warnings():  # inner lasso steps stop at float32 precision; harmless here
        warnings.simplefilter("ignore", ConvergenceWarning)
        learner.fit(x)
    return np.ascontiguousarray(learner.components_.T, dtype=np.float32)


def build_dictionary_factor_bank(dictionary: str | Path | list | None = None, encoder: str | None = None,
                                 layer: int | None = None, key: str | None = None, device: str | None = None,
                                 dtype: str = "float32", max_tokens: int = 256, **params: Any) -> DictionaryFactorBank:
    """Kind ``dictionary_factor``: ``dictionary`` (.npy/.safetensors path, or nested list ``(d, K)``),
    ``encoder`` (default all-MiniLM-L6-v2's BERT, or the one recorded in the dictionary),
    ``layer`` (default: recorded in the dictionary), ``lam``, ``n_iter``, ``positive``, ``factors``."""
    if dictionary is None:
        raise ConfigError("dictionary_factor needs a dictionary: a .npy/.safetensors path of a (d, K) matrix")
    meta = dictionary_metadata(dictionary) if isinstance(dictionary, (str, Path)) else {}
    phi = load_array(dictionary, key) if isinstance(dictionary, (str, Path)) else np.asarray(dictionary, np.float32)
    encoder = encoder or meta.get("encoder") or DEFAULT_ENCODER
    layer = layer if layer is not None else meta.get("layer")
    if layer is None:
        raise ConfigError("dictionary_factor needs a layer (the dictionary file does not record one)")
    unknown = set(params) - {"lam", "n_iter", "positive", "factors"}
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join(sorted(unknown))}; accepted: dictionary, encoder, "
                          "layer, key, device, dtype, max_tokens, lam, n_iter, positive, factors")
    params.setdefault("lam", meta.get("lam", 0.3))
    enc = load_bert_encoder(encoder, device, dtype, max_tokens)
    return DictionaryFactorBank(enc, int(layer), phi, **params)
