"""Bills et al.'s ablation score: the JSD, the calibration and the ratio on fixed inputs; the edit on a
tiny random causal LM (setting a unit to its own values changes nothing); the scorer end to end with a
fake helper that simulates perfectly and one that predicts nothing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from neurons_fixtures import smollm2, tiny_model_dirs  # noqa: F401

from sasc.errors import ConfigError
from sasc.llm import ScriptedLLM
from sasc.modules.base import as_bank
from sasc.modules.causal_lm import js_divergence
from sasc.modules.neurons import build_llm_direction_bank, build_llm_neuron_bank
from sasc.scorers import ScoreConfig, SetConfig, draw_set, score_on_set
from sasc.scorers.ablation import ablation_ratio, calibrate_leave_one_out
from sasc.scorers.run import draw_prepared_set
from sasc.scorers.simulation import shown

TEXTS = ["the cat sat on the mat", "New York City is large", "I love pizza and pasta", "stock prices fell sharply",
         "the dog ran to the park", "rain is expected tomorrow", "she wrote a long letter home",
         "the team won the final game", "bread and soup for dinner", "a quiet night in the village"]


def test_js_divergence_known_values():
    import torch

    p = torch.tensor([0.5, 0.5]).log()
    q = torch.tensor([0.9, 0.1]).log()
    m = np.array([0.7, 0.3])
    by_hand = 0.5 * (np.sum([0.5, 0.5] * np.log(np.array([0.5, 0.5]) / m)) + np.sum([0.9, 0.1] * np.log(np.array([0.9, 0.1]) / m)))
    assert float(js_divergence(p, q)) == pytest.approx(by_hand, rel=1e-5)
    assert float(js_divergence(p, q)) == pytest.approx(float(js_divergence(q, p)))
    assert float(js_divergence(p, p)) == pytest.approx(0.0, abs=1e-7)
    far = torch.tensor([1 - 1e-9, 1e-9]).log(), torch.tensor([1e-9, 1 - 1e-9]).log()
    assert float(js_divergence(*far)) == pytest.approx(math.log(2), rel=1e-4)


def test_an_edits_effect_computed_as_entropies_matches_the_two_kl_form():
    """The ablation's per-edit JSD (entropies, the unedited side's terms reused) equals
    js_divergence's two-KL form, from divergences near ln 2 down to ~1e-9 nats, and is 0 for an edit
    that changes nothing; the KL and the next-token gain against their definitions."""
    import torch

    from sasc.modules.causal_lm import _effect, _Reference

    gen = torch.Generator().manual_seed(0)
    base = torch.log_softmax(3 * torch.randn(5, 300, generator=gen, dtype=torch.float64), -1)
    following = [7, 0, 299, 12]  # the token after each position but the last
    for size in (10.0, 1.0, 1e-2, 1e-4):
        edited = torch.log_softmax(base + size * torch.randn(5, 300, generator=gen, dtype=torch.float64), -1)
        got = _effect(_Reference(base), edited, following)
        want = float(js_divergence(base, edited).mean())
        assert want > 1e-9
        assert got.jsd == pytest.approx(want, rel=1e-6, abs=1e-15)
        kl = float((edited.exp() * (edited - base)).sum(-1).mean())
        assert got.kl == pytest.approx(kl, rel=1e-6, abs=1e-15)
        gain = float(np.mean([edited[i, t] - base[i, t] for i, t in enumerate(following)]))
        assert got.logp_gain == pytest.approx(gain, rel=1e-9)
    same = _effect(_Reference(base), base.clone(), following)
    assert same.jsd == pytest.approx(0.0, abs=1e-13) and same.kl == pytest.approx(0.0, abs=1e-13)


def test_leave_one_out_calibration_and_ratio():
    pred = [np.array([0.0, 1.0]), np.array([0.0, 2.0]), np.array([1.0, 3.0])]
    true = [2 * p + 1 for p in pred]
    for got, want in zip(calibrate_leave_one_out(pred, true), true):
        np.testing.assert_allclose(got, want)  # an exact line is recovered from the other excerpts
    flat = calibrate_leave_one_out([np.zeros(2), np.zeros(2)], [np.array([1.0, 3.0]), np.array([5.0, 7.0])])
    np.testing.assert_allclose(flat[0], [6.0, 6.0])  # no slope: the other excerpt's mean
    assert ablation_ratio([1.0, 1.0], [2.0, 2.0]) == (pytest.approx(0.5), None)
    assert ablation_ratio([0.0], [1.0])[0] == 1.0
    v, reason = ablation_ratio([0.1], [0.0])
    assert math.isnan(v) and "changes nothing" in reason


def test_setting_a_unit_to_its_own_values_changes_nothing(tiny_model_dirs):
    bank = build_llm_neuron_bank(tiny_model_dirs["llama"], site="mlp", layer=1, units="0-3", device="cpu")
    texts = TEXTS[:4]
    own = [r.values[:, 2] for r in bank.token_responses(texts)]
    same = bank.ablation_jsd(texts, 2, own)
    assert max(same) < 1e-6
    moved = bank.ablation_jsd(texts, 2, [float(np.max(np.abs(o))) * 50 for o in own])
    assert min(moved) > 1e-4
    # the same unit as a one-hot direction gives the same divergences
    width = bank.widths[0]
    d = np.zeros((1, width), np.float32)
    d[0, 2] = 1.0
    dbank = build_llm_direction_bank(tiny_model_dirs["llama"], site="mlp", layer=1, directions=d.tolist(), device="cpu")
    np.testing.assert_allclose(dbank.ablation_jsd(texts, 0, [float(np.max(np.abs(o))) * 50 for o in own]), moved,
                               rtol=1e-4, atol=1e-7)
    with pytest.raises(ConfigError, match="target values for a text"):
        bank.ablation_jsd(texts[:1], 2, [np.zeros(99)])


def test_many_units_share_forward_passes_and_match_one_by_one(tiny_model_dirs):
    bank = build_llm_neuron_bank(tiny_model_dirs["llama"], site="resid", layer=1, units="0-3", device="cpu")
    texts = TEXTS[:4]
    acts = bank.token_responses(texts)
    requests = [(t, col, float(np.max(np.abs(r.values[:, col]))) * 3) for col in range(4) for t, r in zip(texts, acts)]
    rows = []
    handle = bank.lm.model.register_forward_pre_hook(lambda m, args, kwargs: rows.append(kwargs["input_ids"].shape[0]),
                                                     with_kwargs=True)
    try:
        together = bank.ablation_jsd_many(requests)
        shared = sum(rows)
        rows.clear()
        alone = [bank.ablation_jsd([t], col, [v])[0] for t, col, v in requests]
        separate = sum(rows)
    finally:
        handle.remove()
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-8)
    assert min(together) > 0
    # each text's unedited pass once for all four units: 4 + 16 rows, against 2 per request one by one
    assert (shared, separate) == (4 + 16, 2 * 16)


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_edited_passes_skip_the_layers_below_the_edit(tiny_model_dirs, kind):
    """The edited rows start from the unedited pass's state entering the edited layer: the layers
    below it run for the unedited rows only, and the divergences equal a full pass's."""
    from sasc.modules.causal_lm import _next_token_logprobs, js_divergence

    bank = build_llm_neuron_bank(tiny_model_dirs[kind], site="resid", layer=2, units="0-3", device="cpu")
    texts = TEXTS[:3]
    acts = bank.token_responses(texts)
    targets = [float(np.max(np.abs(r.values[:, 1]))) * 5 for r in acts]
    rows = []
    below = bank.lm.layers[0]
    mlp = next(m for name, m in below.named_children() if "mlp" in name)
    handle = mlp.register_forward_pre_hook(lambda m, args: rows.append(args[0].shape[0]))
    try:
        fast = bank.ablation_jsd(texts, 1, targets)
    finally:
        handle.remove()
    assert sum(rows) == len(texts)  # layer 0 ran for the 3 unedited rows only
    # the same edits with every layer run, by hand
    import torch

    layer, readout = bank._readout(1)
    for text, t, got in zip(texts, targets, fast):
        seq = bank.token_ids([text])[0]
        ids = torch.tensor([seq])
        mask = torch.ones_like(ids)
        w = torch.as_tensor(readout)[None, :]
        where = torch.zeros(ids.shape, dtype=torch.bool)
        where[0, bank.n_skip:] = True
        plain, _ = _next_token_logprobs(bank.lm, ids, mask)
        full, _ = _next_token_logprobs(bank.lm, ids, mask, "resid",
                                       {layer: (w, torch.full(ids.shape, t), where, torch.ones(1))})
        want = float(js_divergence(plain[0, bank.n_skip:].double(), full[0, bank.n_skip:].double()).mean())
        assert got == pytest.approx(want, rel=1e-4, abs=1e-9)
        assert want > 1e-5


def _perfect_helper(sset):
    """A fake simulator that writes each token's true activation scaled to 0..10 (as one digit token)."""
    lo = min(min(v) for v in sset.token_values)
    hi = max(max(v) for v in sset.token_values)
    table = {}
    for toks, vals in zip(sset.tokens, sset.token_values):
        key = tuple(shown(t) for t in toks if shown(t))
        table[key] = [round(10 * (v - lo) / (hi - lo)) for t, v in zip(toks, vals) if shown(t)]

    def steps(prompt):
        if "Tokens of the text:\n" not in prompt:
            return [{"0": 1.0}]
        lines = [line.split("\t")[0] for line in prompt.split("Tokens of the text:\n", 1)[1].splitlines()]
        values = table.get(tuple(lines), [0] * len(lines))
        out = []
        for tok, v in zip(lines, values):
            out += [{tok: 1.0}, {"\t": 1.0}, {str(min(v, 9)): 1.0}, {"\n": 1.0}]
        return out

    return ScriptedLLM(lambda p: "".join(max(s, key=s.get) for s in steps(p)), logprobs=steps, name="perfect")


def test_ablation_scores_a_perfect_simulator_near_one_and_a_blind_one_near_zero(tiny_model_dirs):
    # a residual dimension: in a tiny random model an MLP neuron barely moves the output (JSD ~1e-7)
    bank = build_llm_neuron_bank(tiny_model_dirs["llama"], site="resid", layer=1, units="0-3", device="cpu")
    cfg = ScoreConfig(scorers=("ablation", "simulation"), baseline=False, n_boot=200,
                      set=SetConfig(n_top=4, n_random=4, excerpts="token", sentences=False))
    sset = draw_prepared_set(bank, 1, _corpus(TEXTS), cfg)
    assert sset.to_dict()["mean_ablation_jsd"] and "unit_mean" in sset.to_dict()
    good = score_on_set(["anything"], sset, "u", _perfect_helper(sset), cfg)[0]
    assert good["simulation"].value > 0.9
    abl = good["ablation"]
    assert abl.value > 0.7 and abl.n == 8 and abl.details["mean_ablation_jsd"] > 0
    assert abl.details["calibration"] == "linear, leave one excerpt out"
    blind = ScriptedLLM(lambda p: "", logprobs=lambda p: [{"0": 1.0}], name="blind")
    none = score_on_set(["anything"], sset, "u", blind, cfg)[0]["ablation"]
    assert abs(none.value) < 0.3 and none.value < abl.value


def test_ablation_refuses_text_sets_and_units_outside_a_causal_lm(tiny_model_dirs):
    from fakes import KeywordModule, WordTokenBank

    bank = build_llm_neuron_bank(tiny_model_dirs["llama"], site="mlp", layer=1, units="0-3", device="cpu")
    with pytest.raises(ConfigError, match="needs token excerpts"):
        ScoreConfig(scorers=("ablation",))  # refused with the options, before any work
    from sasc.scorers.ablation import AblationScorer

    with pytest.raises(ConfigError, match="needs token excerpts"):
        AblationScorer().prepare(draw_set(bank, 0, TEXTS, SetConfig(n_top=2, n_random=2)), bank, 0)
    with pytest.raises(ConfigError, match="inside a causal LM"):
        draw_prepared_set(WordTokenBank(), 0, _corpus(TEXTS),
                          ScoreConfig(scorers=("ablation",), set=SetConfig(excerpts="token")))
    with pytest.raises(ConfigError, match="no token activations"):
        draw_set(as_bank(KeywordModule()), 0, TEXTS, SetConfig(excerpts="token"))


def _corpus(texts):
    from sasc.corpora import Corpus

    return Corpus("tiny", list(texts))


def test_checks_that_cannot_pass_by_accident_on_smollm2(smollm2):
    """Issue 26's checks on the real subject model: the unit's true activations as s(x) score 1, its
    mean as s(x) scores 0."""
    from sasc.scorers.ablation import AblationScorer

    bank = build_llm_neuron_bank("SmolLM2-135M-Instruct", site="mlp", layer=15, units="0-15", device="cpu")
    sset = draw_set(bank, 3, TEXTS, SetConfig(n_top=3, n_random=3, excerpts="token", sentences=False))
    state = AblationScorer().prepare(sset, bank, 3).extras["ablation"]
    mean_jsd = np.array(state["mean_jsd"])
    assert mean_jsd.min() > 0
    true, mu = state["edit"]([[np.array(v) for v in sset.token_values],
                              [np.full(len(v), state["mu"]) for v in sset.token_values]])
    assert ablation_ratio(true, mean_jsd)[0] == pytest.approx(1.0, abs=1e-3)
    # the same mean ablation as in prepare, in a batch of another shape: float32 kernels may sum in
    # another order (8.6e-5 on one Xeon with AVX-512, 0 to 1e-6 on others); a wrong edit is off by far more
    assert ablation_ratio(mu, mean_jsd)[0] == pytest.approx(0.0, abs=1e-3)


def test_vocabulary_projection_reads_the_units_output_weights(smollm2):
    import torch

    bank = build_llm_neuron_bank("SmolLM2-135M-Instruct", site="mlp", layer=29, units="0-7", device="cpu")
    out = bank.output_tokens(5, k=4)
    assert len(out["promoted"]) == 4 and len(out["suppressed"]) == 4
    logits = [v for _, v in out["promoted"]]
    assert logits == sorted(logits, reverse=True) and out["suppressed"][0][1] < 0 < logits[0]
    # by hand: lm_head @ (final-norm gain * down_proj column 5)
    m = smollm2.model
    v = m.model.layers[29].mlp.down_proj.weight[:, 5] * m.model.norm.weight
    by_hand = (m.lm_head.weight @ v).detach()
    top = torch.topk(by_hand, 4)
    assert [smollm2.tokenizer.decode([int(i)]) for i in top.indices] == [t for t, _ in out["promoted"]]
    np.testing.assert_allclose(logits, top.values.numpy(), rtol=1e-5)
    with pytest.raises(ConfigError, match="k must be"):
        bank.output_tokens(5, k=0)


# --- steering --------------------------------------------------------------------------------------

def test_steering_ratio_known_values():
    from sasc.scorers.steering import steering_ratio

    gains = np.array([[0.2, 0.4], [0.4, 0.8]])  # per text and scale
    assert steering_ratio(gains, [0.1, 0.2]) == (pytest.approx((0.3 / 0.1 + 0.6 / 0.2) / 2), None)
    assert steering_ratio(np.zeros((0, 2)), [0.1, 0.2])[1] == "the helper wrote no text for the explanation"
    v, why = steering_ratio(gains, [0.0, 0.2])
    assert math.isnan(v) and "does not change" in why


def test_steering_scores_what_the_unit_makes_the_model_say_above_its_opposite(tiny_model_dirs):
    """On a tiny random model, text made of the tokens a last-layer unit promotes (read through the
    unembedding) becomes more likely when the unit is turned up; text of the tokens it suppresses
    less likely: the first explanation scores above 0, the second below, each with its interval."""
    bank = build_llm_neuron_bank(tiny_model_dirs["llama"], site="resid", layer=2, units="0-3", device="cpu")
    out = bank.output_tokens(1, k=2000)

    def words(side):  # the unit's most promoted (suppressed) tokens that are plain Latin words
        return [t for t, _ in out[side] if t.strip().isascii() and t.strip().isalpha()][:12]

    says = {"promoted": words("promoted"), "suppressed": words("suppressed")}
    assert len(says["promoted"]) == len(says["suppressed"]) == 12

    def reply(prompt):
        w = says["promoted" if "promoted words" in prompt else "suppressed"]
        return "\n".join("".join(w[i:] + w[:i]) for i in range(10))

    cfg = ScoreConfig(scorers=("steering",), baseline=False, n_boot=200,
                      set=SetConfig(n_top=3, n_random=3, excerpts="token", sentences=False))
    sset = draw_prepared_set(bank, 1, _corpus(TEXTS), cfg)
    state = sset.extras["steering"]
    assert len(state["scales"]) == 3 and min(state["costs"]) > 0 and state["n_cost_texts"] == 3
    assert state["costs"] == sorted(state["costs"])  # a larger push costs more divergence
    up, down = score_on_set(["promoted words", "suppressed words"], sset, "u", ScriptedLLM(reply, name="steer-fake"), cfg)
    up, down = up["steering"], down["steering"]
    assert up.value > 0 > down.value
    assert up.ci_low <= up.value <= up.ci_high and up.n == 10 and up.method == "generated"
    assert len(up.details["gain"]) == 3 and up.details["kl_cost"] == state["costs"]


def test_steering_refuses_units_outside_a_causal_lm():
    from fakes import WordTokenBank

    with pytest.raises(ConfigError, match="steering score needs a unit inside a causal LM"):
        draw_prepared_set(WordTokenBank(), 0, _corpus(TEXTS), ScoreConfig(scorers=("steering",), set=SetConfig(n_top=2, n_random=2)))


def test_output_evidence_lists_what_turning_the_unit_up_makes_likelier(tiny_model_dirs):
    """Amplified tokens by hand: the mean change of every token's log-probability over the text
    positions when the unit is pushed up; the tokens the unit promotes through the unembedding come
    with them."""
    import torch

    from sasc.modules.causal_lm import _next_token_logprobs

    bank = build_llm_neuron_bank(tiny_model_dirs["llama"], site="resid", layer=2, units="0-3", device="cpu")
    texts = TEXTS[:3]
    ev = bank.output_evidence(1, texts, k=5)
    assert set(ev) == {"promoted", "suppressed", "raised", "lowered", "amplified_by"} and ev["amplified_by"] > 0
    assert [v for _, v in ev["raised"]] == sorted((v for _, v in ev["raised"]), reverse=True)
    assert ev["raised"][0][1] > 0 > ev["lowered"][0][1]
    layer, readout = bank._readout(1)
    total, count = 0, 0
    for text in texts:
        ids = torch.tensor([bank.token_ids([text])[0]])
        where = torch.zeros(ids.shape, dtype=torch.bool)
        where[0, bank.n_skip:] = True
        w = torch.as_tensor(readout)[None, :]
        base, _ = _next_token_logprobs(bank.lm, ids, torch.ones_like(ids))
        up, _ = _next_token_logprobs(bank.lm, ids, torch.ones_like(ids), "resid",
                                     {layer: (w, torch.full(ids.shape, ev["amplified_by"]), where, torch.zeros(1))})
        total = total + (up[0, bank.n_skip:].double() - base[0, bank.n_skip:].double()).sum(0)
        count += ids.shape[1] - bank.n_skip
    top = torch.topk(total / count, 5)
    assert [bank.lm.tokenizer.decode([int(i)]) for i in top.indices] == [t for t, _ in ev["raised"]]
    with pytest.raises(ConfigError, match="k must be"):
        bank.output_evidence(1, texts, k=0)


def test_explain_with_output_evidence_shows_the_summaries_what_the_unit_makes_the_model_say(tiny_model_dirs, tmp_path):
    import sasc
    from sasc.client import result_from_proto
    from sasc.config import ExplainConfig
    from sasc.llm import ScriptedLLM
    from sasc.results import ExplainResult
    from sasc.scorers.run import add_scores
    from sasc.summarize import SUMMARY_STYLES, output_line, output_words
    from server.converters import result_to_proto

    bank = build_llm_neuron_bank(tiny_model_dirs["llama"], site="resid", layer=2, units="0-3", device="cpu")
    summaries = iter(["Everyday scenes", "Weather and rain", "Food at home"])

    def reply(prompt):
        if "Turning up one unit" in prompt:
            return "Short words"
        return next(summaries) if "When this pattern is present" in prompt else "Everyday scenes"

    helper = ScriptedLLM(reply, name="evidence-fake")
    # the direct pre-screen keeps one summary; the output-side candidate is scored besides it
    cfg = ExplainConfig(n_candidates=3, n_synthetic=3, n_generic=10, n_bootstrap=50, evidence="output",
                        fluency_model="", direct_screen=1)
    res = sasc.explain(bank, units=[1], corpus=TEXTS, generic=TEXTS, helper=helper, config=cfg, cache_dir=tmp_path)
    (unit,) = res.units
    ev = unit.output_evidence
    assert {"promoted", "suppressed", "raised", "lowered", "amplified_by"} <= set(ev)
    words = output_words(ev)
    assert words and all(any(ch.isalpha() for ch in w) for w in words)
    prompts = [c.prompt for c in helper.calls]
    assert sum(output_line(words) in p for p in prompts) == 3  # all n-gram summaries show the line
    assert sum("Turning up one unit" in p for p in prompts) == 1  # and one candidate from the words alone
    style = {c.explanation: c.style for c in unit.candidates}
    assert style.pop("Short words") == "output"
    assert set(style) == {"Everyday scenes", "Weather and rain", "Food at home"}
    assert set(style.values()) <= set(SUMMARY_STYLES) and len(set(style.values())) > 1  # the styles cycle
    scored = [c for c in unit.candidates if c.score.n_related]
    summaries_scored = [c for c in unit.candidates if c.style != "output" and c.score.n_related]
    best_direct = max((c for c in unit.candidates if c.style != "output"), key=lambda c: c.direct_response)
    assert summaries_scored == [best_direct] and len(scored) == 2
    assert any(c.style == "output" for c in scored)
    # the steering score reaches the output-side candidate ("what this unit makes the model say")
    scored_res = add_scores(res, bank, corpus=TEXTS, helper=helper, cache_dir=tmp_path,
                            config=ScoreConfig(scorers=("steering",), baseline=False, n_boot=50,
                                               set=SetConfig(n_top=3, n_random=3, excerpts="token", sentences=False)))
    (said,) = [c for c in scored_res.units[0].candidates if c.style == "output"]
    assert said.scores["steering"]["n"] > 0 and said.scores["steering"]["method"] == "generated"
    # kept through the JSON file and the service's message
    path = tmp_path / "r.json"
    res.to_json(path)
    assert ExplainResult.from_json(path).units[0].output_evidence == ev
    assert [c.style for c in ExplainResult.from_json(path).units[0].candidates] == [c.style for c in unit.candidates]
    back = result_from_proto(result_to_proto(res)).units[0]
    assert back.output_evidence == ev and [c.style for c in back.candidates] == [c.style for c in unit.candidates]
    from sasc.cli import format_result

    table = format_result(res)
    assert "makes the model say: " in table and "Short words  [output side]" in table


def test_output_evidence_is_refused_for_modules_outside_a_causal_lm(tmp_path):
    import sasc
    from fakes import KeywordModule
    from sasc.config import ExplainConfig

    with pytest.raises(ConfigError, match="--evidence output needs units inside a causal LM"):
        sasc.explain(KeywordModule(), corpus=TEXTS, generic=TEXTS, helper="fake",
                     config=ExplainConfig(evidence="output"), cache_dir=tmp_path)
