"""Fixtures for neuron / dictionary tests: real SmolLM2 and MiniLM (loaded once per process),
and tiny randomly initialized Llama and GPT-2 models saved to a temporary directory.

Import the fixtures you use into a test module (``from neurons_fixtures import smollm2``).
"""

from __future__ import annotations

import numpy as np
import pytest

PREFIX_TEXTS = [
    "the", "the cat", "the cat sat", "the dog", "cat", "cat sat on", "New York", "New York City",
    "I love pizza", "I love", "I", "stock prices fell sharply", "stock prices", "a", "don't stop",
    "3.14 is pi", "naïve café", "the cat sat",  # a duplicate on purpose
]


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M-Instruct, dequantized once into the sasc cache and loaded once per process."""
    from sasc.modules.causal_lm import load_causal_lm

    return load_causal_lm("SmolLM2-135M-Instruct", device="cpu")


def _save_tiny(kind: str, root, smollm2) -> str:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    tok = smollm2.tokenizer
    torch.manual_seed(0)
    vocab = len(tok)
    if kind == "llama":
        cfg = LlamaConfig(vocab_size=vocab, hidden_size=48, intermediate_size=96, num_hidden_layers=3,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                          bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
        model = LlamaForCausalLM(cfg)
    else:
        cfg = GPT2Config(vocab_size=vocab, n_embd=48, n_layer=3, n_head=4, n_positions=256,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
        model = GPT2LMHeadModel(cfg)
    path = root / kind
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory, smollm2):
    """``{"llama": dir, "gpt2": dir}``: random 3-layer models with SmolLM2's tokenizer."""
    root = tmp_path_factory.mktemp("tiny_lms")
    return {kind: _save_tiny(kind, root, smollm2) for kind in ("llama", "gpt2")}


@pytest.fixture(scope="session")
def minilm_encoder():
    """The BERT inside all-MiniLM-L6-v2 (packaged), loaded once per process."""
    from sasc.modules.dictionary import load_bert_encoder

    return load_bert_encoder(device="cpu")


def naive_responses(bank, texts):
    """Each text alone, without prefix sharing: the reference for equality tests."""
    share = bank.sharing
    bank.sharing = "none"
    try:
        return np.concatenate([bank.responses([t]) for t in texts])
    finally:
        bank.sharing = share
