"""LLM neuron and direction banks: prefix sharing equals naive evaluation, specs, errors, cache."""

from __future__ import annotations

import numpy as np
import pytest
from neurons_fixtures import PREFIX_TEXTS, naive_responses, smollm2, tiny_model_dirs  # noqa: F401

from sasc.errors import ConfigError
from sasc.modules import build_module, check_module, module_from_spec
from sasc.modules.neurons import LLMNeuronBank, build_llm_direction_bank, build_llm_neuron_bank, parse_indices
from sasc.modules.prefix import batch_leaves, is_prefix, plan_prefix_sharing, running_aggregate

pytestmark = pytest.mark.slow


# -- pure parts ----------------------------------------------------------------------------
def test_parse_indices_accepts_ranges_lists_and_all():
    assert parse_indices(None, 4, "unit") == [0, 1, 2, 3]
    assert parse_indices("all", 3, "unit") == [0, 1, 2]
    assert parse_indices("0-2,7", 10, "unit") == [0, 1, 2, 7]
    assert parse_indices([3, "5-6", 3], 10, "unit") == [3, 5, 6]
    assert parse_indices(np.int64(2), 3, "unit") == [2]
    with pytest.raises(ConfigError, match=r"unit 10 out of range: valid units are 0\.\.9"):
        parse_indices("8-10", 10, "unit")
    with pytest.raises(ConfigError, match="bad layer 'x'"):
        parse_indices("x", 10, "layer")


def test_prefix_plan_runs_only_leaves_and_hosts_every_prefix():
    seqs = [(1, 2), (1, 2, 3), (1,), (4,), (1, 2, 3), (1, 5), (), (4, 6, 7)]
    plan = plan_prefix_sharing(seqs)
    assert plan.leaves == [(1, 2, 3), (1, 5), (4, 6, 7)]
    for s, h, n in zip(seqs, plan.host, plan.length):
        assert n == len(s)
        if s:
            assert is_prefix(s, plan.leaves[h])
        else:
            assert h == -1
    naive = plan_prefix_sharing(seqs, share=False)
    assert len(naive.leaves) == 6 and naive.forward_tokens == 2 + 3 + 1 + 1 + 2 + 3
    assert plan.forward_tokens == 8


def test_batches_respect_the_token_budget():
    lengths = [1, 5, 2, 9, 3, 3, 8]
    batches = batch_leaves(lengths, max_batch_tokens=10)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) * max(lengths[i] for i in b) <= 10 or len(b) == 1


def test_running_aggregates_match_direct_reductions():
    import torch

    x = torch.randn(2, 5, 3)
    for t in range(5):
        torch.testing.assert_close(running_aggregate(x, "max")[:, t], x[:, : t + 1].max(1).values)
        torch.testing.assert_close(running_aggregate(x, "mean")[:, t], x[:, : t + 1].mean(1))
        torch.testing.assert_close(running_aggregate(x, "last")[:, t], x[:, t])


# -- equality with naive per-text evaluation ----------------------------------------------
@pytest.mark.parametrize("aggregation", ["max", "mean", "last"])
@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("kind", ["llama", "gpt2"])
@pytest.mark.parametrize("sharing", ["tree", "leaves"])
def test_prefix_sharing_equals_naive(tiny_model_dirs, kind, padding_side, aggregation, sharing):
    bank = build_llm_neuron_bank(tiny_model_dirs[kind], site="mlp", layer="0-2", device="cpu", max_row_tokens=12,
                                 aggregation=aggregation, padding_side=padding_side, max_batch_tokens=40,
                                 prefix_sharing=sharing)
    assert bank.sharing == sharing
    shared = bank.responses(PREFIX_TEXTS)
    naive = naive_responses(bank, PREFIX_TEXTS)
    np.testing.assert_allclose(shared, naive, rtol=1e-4, atol=1e-5)
    assert np.abs(naive).max() > 1e-3  # not trivially zero


def test_padding_sides_and_batch_sizes_agree(tiny_model_dirs):
    outs = []
    for side in ("right", "left"):
        for budget in (8, 4096):
            bank = build_llm_neuron_bank(tiny_model_dirs["gpt2"], site="resid", layer=1, device="cpu",
                                         padding_side=side, max_batch_tokens=budget, prefix_sharing="none")
            outs.append(bank.responses(PREFIX_TEXTS))
    for o in outs[1:]:
        np.testing.assert_allclose(o, outs[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("site", ["mlp", "resid", "attn"])
def test_smollm2_sites_share_prefixes_exactly(smollm2, site):
    bank = build_llm_neuron_bank("SmolLM2-135M-Instruct", site=site, layer=3, units="0-63", device="cpu",
                                 aggregation="max")
    assert bank.sharing == "tree"  # auto: SmolLM2 honours tree attention masks
    shared = bank.responses(PREFIX_TEXTS)
    np.testing.assert_allclose(shared, naive_responses(bank, PREFIX_TEXTS), rtol=1e-4, atol=1e-5)


def test_prefix_sharing_saves_forward_tokens(smollm2):
    tokens = {}
    for mode in ("tree", "leaves", "none"):
        bank = build_llm_neuron_bank("smollm2", layer=2, units=[0, 1], device="cpu", prefix_sharing=mode)
        bank.responses(PREFIX_TEXTS)
        tokens[mode] = bank.stats.tokens
    # distinct prefixes (BOS counted once per row) < leaves only < every text alone
    assert tokens["tree"] < tokens["leaves"] < tokens["none"] and tokens["tree"] < 0.6 * tokens["none"]
    with pytest.raises(ConfigError, match="unknown prefix_sharing 'trie'"):
        build_llm_neuron_bank("smollm2", layer=2, units=[0], prefix_sharing="trie")


def test_tree_plan_covers_every_prefix_once_per_row():
    from sasc.modules.prefix import ancestor_mask, plan_tree_packing

    seqs = [(1, 2, 3), (1, 2), (1, 4), (1, 2, 5, 6), (), (7, 8), (1, 2, 3)]
    plan = plan_tree_packing(seqs, max_row_tokens=4)
    for i, s in enumerate(seqs):
        if not s:
            assert plan.row[i] == -1
            continue
        row = plan.rows[plan.row[i]]
        path, p = [], int(plan.pos[i])
        while p >= 0:  # walk up: the path spells the sequence, depths count down
            path.append(row.tokens[p])
            assert row.depth[p] == len(s) - len(path)
            p = row.parent[p]
        assert tuple(reversed(path)) == s
    assert plan.forward_tokens < sum(len(s) for s in set(seqs) if s)
    m = ancestor_mask([-1, 0, 1, 0], 5)
    assert m[2].tolist() == [True, True, True, False, False] and m[3].tolist() == [True, False, False, True, False]
    assert m[4].tolist() == [False] * 4 + [True]  # padding sees itself only


def test_tokenization_convention_is_text_alone_after_bos(smollm2):
    bank = build_llm_neuron_bank("smollm2", layer=0, units=0, device="cpu")
    ids = bank.token_ids(["the cat", "the", " the"])
    bos = smollm2.tokenizer.bos_token_id
    assert ids[0][0] == bos and ids[1] == (bos,) + tuple(smollm2.tokenizer("the", add_special_tokens=False).input_ids)
    assert is_prefix(ids[1], ids[0]) and not is_prefix(ids[2], ids[0])  # " the" is another token
    no_bos = build_llm_neuron_bank("smollm2", layer=0, units=0, device="cpu", prepend_bos=False)
    assert no_bos.token_ids(["the"])[0] == ids[1][1:]
    np.testing.assert_array_equal(bank.responses(["", "x"])[0], [0.0])  # no tokens: 0


# -- the banks as modules --------------------------------------------------------------------
def test_neuron_bank_conforms_and_names_units(smollm2):
    bank = build_llm_neuron_bank("smollm2", site="mlp", layer=5, device="cpu")
    assert len(bank.units) == 1536 and bank.units[1204] == "L5.N1204"
    assert bank.kind == "llm_neuron" and bank.device == "cpu" and bank.name.startswith("llm_neuron(")
    check_module(bank)
    multi = build_llm_neuron_bank("smollm2", site="resid", layer=[2, 4], units="0-1", device="cpu")
    assert multi.units == ["L2.R0", "L2.R1", "L4.R0", "L4.R1"]
    sub = build_llm_neuron_bank("smollm2", site="mlp", layer=5, units=[1204, 7], device="cpu")
    np.testing.assert_allclose(sub.responses(["I love pizza"]), bank.responses(["I love pizza"])[:, [1204, 7]],
                               rtol=1e-5, atol=1e-6)


def test_fingerprint_is_content_identity(smollm2, tiny_model_dirs):
    a = build_llm_neuron_bank("smollm2", layer=5, units="0-9", device="cpu")
    assert a.fingerprint == build_llm_neuron_bank("SmolLM2-135M-Instruct", layer=5, units="0-9").fingerprint
    others = [build_llm_neuron_bank("smollm2", layer=4, units="0-9", device="cpu"),
              build_llm_neuron_bank("smollm2", layer=5, units="0-8", device="cpu"),
              build_llm_neuron_bank("smollm2", layer=5, units="0-9", aggregation="mean", device="cpu"),
              build_llm_neuron_bank("smollm2", site="resid", layer=5, units="0-9", device="cpu"),
              build_llm_neuron_bank(tiny_model_dirs["llama"], layer=1, units="0-9", device="cpu")]
    assert len({a.fingerprint, *(o.fingerprint for o in others)}) == 6
    assert smollm2.identity.startswith("gguf:")


def test_registry_builds_banks_from_plain_specs(smollm2):
    bank = module_from_spec("llm_neuron:model=smollm2,layer=5,units=0-3,aggregation=last,device=cpu")
    assert isinstance(bank, LLMNeuronBank) and bank.units == ["L5.N0", "L5.N1", "L5.N2", "L5.N3"]
    same = build_module("llm_neuron", **{"model": "smollm2", "layer": 5, "units": "0-3", "aggregation": "last",
                                         "device": "cpu"})
    assert same.fingerprint == bank.fingerprint


def test_bad_specs_raise_clear_config_errors(smollm2):
    with pytest.raises(ConfigError, match=r"layer 30 out of range: valid layers are 0\.\.29"):
        build_llm_neuron_bank("smollm2", layer=30)
    with pytest.raises(ConfigError, match=r"out of range: valid unit index at site 'mlp's are 0\.\.1535"):
        build_llm_neuron_bank("smollm2", layer=5, units=1536)
    with pytest.raises(ConfigError, match="unknown site 'mlpp'; accepted sites: mlp, resid, attn"):
        build_llm_neuron_bank("smollm2", site="mlpp", layer=5)
    with pytest.raises(ConfigError, match="unknown aggregation 'median'"):
        build_llm_neuron_bank("smollm2", layer=5, aggregation="median")
    with pytest.raises(ConfigError, match="unknown parameter"):
        build_llm_neuron_bank("smollm2", layer=5, colour="blue")
    with pytest.raises(ConfigError, match="not a model directory"):
        build_llm_neuron_bank("/nonexistent/model", layer=0)
    with pytest.raises(ConfigError, match="unknown dtype"):
        build_llm_neuron_bank("smollm2", layer=0, dtype="int3")


def test_direction_bank_with_one_hot_directions_equals_neurons(smollm2, tmp_path):
    neurons = build_llm_neuron_bank("smollm2", site="mlp", layer=3, units=[5, 9], device="cpu")
    one_hot = np.zeros((2, 1536), dtype=np.float32)
    one_hot[0, 5] = one_hot[1, 9] = 1.0
    dirs = build_llm_direction_bank("smollm2", site="mlp", layer=3, directions=one_hot.tolist(), device="cpu")
    assert dirs.units == ["L3.mlp.D0", "L3.mlp.D1"] and dirs.kind == "llm_direction"
    np.testing.assert_allclose(dirs.responses(PREFIX_TEXTS), neurons.responses(PREFIX_TEXTS), rtol=1e-5, atol=1e-6)
    check_module(dirs)
    np.save(tmp_path / "d.npy", one_hot.T)  # [width, K] is accepted too
    from safetensors.numpy import save_file

    save_file({"probe": one_hot}, str(tmp_path / "d.safetensors"))
    a = build_llm_direction_bank("smollm2", site="mlp", layer=3, directions=str(tmp_path / "d.npy"),
                                 names=["five", "nine"], device="cpu")
    b = build_llm_direction_bank("smollm2", site="mlp", layer=3, directions=str(tmp_path / "d.safetensors"),
                                 key="probe", device="cpu")
    assert a.units == ["five", "nine"]
    np.testing.assert_allclose(a.responses(["I love pizza"]), b.responses(["I love pizza"]))
    assert a.fingerprint != b.fingerprint  # names differ
    with pytest.raises(ConfigError, match="do not fit site 'resid' of layer 3, whose width is 576"):
        build_llm_direction_bank("smollm2", site="resid", layer=3, directions=one_hot)
    with pytest.raises(ConfigError, match="needs directions"):
        build_llm_direction_bank("smollm2", layer=3)


def test_ngram_stage_is_cached_and_orders_prefix_families(smollm2, tmp_path):
    from sasc.cache import ResponseCache
    from sasc.ngrams import count_ngrams
    from sasc.responses import ngram_responses, plan_shards

    bank = build_llm_neuron_bank("smollm2", layer=2, units="0-15", device="cpu")
    table = count_ngrams(["the cat sat on the mat. the cat ran", "New York City is big"])
    shards, _ = plan_shards(bank, table.ngrams, 100)
    order = [table.ngrams[i] for i in shards[0].rows]
    assert order[order.index("the cat") + 1].startswith("the cat ")  # a family is adjacent
    tokenized, tokenize = [], bank._tokenize
    bank._tokenize = lambda texts: tokenized.append(len(texts)) or tokenize(texts)
    first = ngram_responses(bank, table, cache=ResponseCache(tmp_path))
    assert sum(tokenized) == len(table)  # once, when the shards are planned
    second = ngram_responses(bank, table, cache=ResponseCache(tmp_path))
    assert not first.from_cache and second.from_cache
    np.testing.assert_allclose(first.values, naive_responses(bank, table.ngrams), rtol=1e-4, atol=1e-5)


def test_dequantized_copy_is_keyed_by_transformers_version(tmp_path):
    """A copy written by one transformers series is never read by another (5.x tokenizers
    do not load in 4.x): the folder name carries the series, and a copy under another series'
    name beside it is ignored."""
    import json
    from pathlib import Path

    import transformers

    from sasc.modules.causal_lm import resolve_causal_lm

    series = ".".join(transformers.__version__.split(".")[:2])
    hf = tmp_path / "hf"
    for tag, sha in ((series, "a" * 64), ("0.1", "b" * 64)):
        d = hf / f"SmolLM2-135M-Instruct.Q4_1-tf{tag}"
        d.mkdir(parents=True)
        (d / "sasc_source.json").write_text(json.dumps({"sha256": sha}))
    path, identity = resolve_causal_lm("smollm2", tmp_path)
    assert Path(path) == hf / f"SmolLM2-135M-Instruct.Q4_1-tf{series}"
    assert identity == "gguf:" + "a" * 64


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_token_responses_are_what_responses_aggregate(tiny_model_dirs, kind):
    bank = build_llm_neuron_bank(tiny_model_dirs[kind], site="mlp", layer=1, device="cpu", aggregation="max",
                                 max_batch_tokens=40)
    texts = ["the cat sat on the mat", "New York City", "", "I love pizza"]
    per_token = bank.token_responses(texts)
    pooled = bank.responses(texts)
    assert [len(r.tokens) for r in per_token][2] == 0 and per_token[2].values.shape == (0, len(bank.units))
    for text, r, row in zip(texts, per_token, pooled):
        assert "".join(r.tokens) == text  # tokens decoded one by one join into the text (BOS left out)
        assert r.values.shape == (len(r.tokens), len(bank.units)) and r.values.dtype == np.float32
        if r.tokens:
            np.testing.assert_allclose(r.values.max(0), row, rtol=1e-4, atol=1e-5)
