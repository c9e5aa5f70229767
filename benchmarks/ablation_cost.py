"""Cost of Bills et al.'s ablation score for many units of one causal-LM layer (issue 26).

Usage::

    python benchmarks/ablation_cost.py                       # SmolLM2-135M, MLP layer 15, 1/10/50 units
    python benchmarks/ablation_cost.py --units 1,10 --one-by-one 1 --pool 400

The model side of the ablation score only (the helper's simulations are timed by
``benchmarks/predictive_scoring.py``): for N neurons of one layer, each unit's token scoring set
(top and random excerpts of the reference corpus, drawn with one module pass over the pool
for all units), then per unit and excerpt the three edits the score makes for one explanation and
its random baseline: the unit set to its mean (the denominator), and to two stand-ins for
calibrated simulator predictions (its true activations, which must give JSD 0, and its
activations shifted by one standard deviation). Arms, side by side in one process:

* ``batched``: all N units' edits in one :meth:`ablation_jsd_many` call (a different unit patched
  per batch row, each excerpt's unedited pass once);
* ``per unit``: one call per unit (what scoring one unit at a time costs);
* ``one by one``: one call per unit and excerpt (one model run per unit per text), for the
  first ``--one-by-one`` units only;
* ``two-KL JSD``: the batched arm for the first ``--two-kl`` units with each edit's divergences
  computed as before session 28 (``js_divergence``'s two KLs through a mixture, in float64, nothing
  reused between the edits of one excerpt), against the entropy form the library uses now.

Prints seconds, units per minute and forward rows per arm, and checks that the arms agree.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def edits_for(sset, col: int) -> list[tuple[str, int, object]]:
    """The score's edits of unit ``col`` on its set: mean, true activations, true shifted by 1 sd."""
    values = [np.asarray(v, float) for v in sset.token_values]
    flat = np.concatenate(values)
    mu, sd = float(flat.mean()), float(flat.std() or 1.0)
    return ([(t, col, mu) for t in sset.texts] + [(t, col, v) for t, v in zip(sset.texts, values)]
            + [(t, col, v + sd) for t, v in zip(sset.texts, values)])


def two_kl_effect(base, edited, following):
    """An edit's effect as ``edited_effects`` computed it before session 28 (the side-by-side arm)."""
    import torch

    from sasc.modules.causal_lm import EditEffect, js_divergence

    logp = base.logp
    kl = (edited.exp() * (edited - logp)).sum(-1).clamp(min=0.0)
    nxt = torch.as_tensor(list(following), dtype=torch.long)
    rows = torch.arange(len(nxt))
    gain = (edited[rows, nxt] - logp[rows, nxt]).mean() if len(nxt) else torch.tensor(float("nan"))
    return EditEffect(float(js_divergence(logp, edited).mean()), float(kl.mean()), float(gain))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", default="1,10,50", help="unit counts (default 1,10,50)")
    parser.add_argument("--layer", type=int, default=15)
    parser.add_argument("--pool", type=int, default=2000, help="corpus texts the sets are drawn from")
    parser.add_argument("--n-top", type=int, default=20)
    parser.add_argument("--n-random", type=int, default=20)
    parser.add_argument("--per-unit", type=int, default=10, help="units in the per-unit arm (default 10; 0: none)")
    parser.add_argument("--one-by-one", type=int, default=1, help="units in the one-call-per-text arm (default 1; 0: none)")
    parser.add_argument("--two-kl", type=int, default=0,
                        help="units in the side-by-side arm of the old two-KL JSD (default 0: none)")
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.units.split(",")]

    import torch

    from sasc.corpora import DEFAULT_REFERENCE, load_corpus
    from sasc.modules.neurons import build_llm_neuron_bank
    from sasc.scorers import SetConfig, draw_set

    n = max(counts)
    neurons = [int(i) for i in np.linspace(0, 1535, n).round()]
    bank = build_llm_neuron_bank("SmolLM2-135M-Instruct", site="mlp", layer=args.layer,
                                 units=",".join(map(str, neurons)), device="cpu")
    corpus = load_corpus(DEFAULT_REFERENCE)
    cfg = SetConfig(n_top=args.n_top, n_random=args.n_random, pool_size=args.pool, excerpts="token")
    print(f"SmolLM2-135M-Instruct, MLP layer {args.layer}, {n} neurons, torch threads {torch.get_num_threads()}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}", flush=True)
    t0 = time.perf_counter()
    pools: dict = {}
    sets = [draw_set(bank, col, corpus.texts, cfg, corpus.name, pool_cache=pools) for col in range(n)]
    print(f"sets: {n} units x {len(sets[0].texts)} excerpts from a pool of {sets[0].pool} texts "
          f"in {time.perf_counter() - t0:.1f} s (one module pass for all units)", flush=True)
    shared = len(set.intersection(*(set(s.texts[args.n_top:]) for s in sets))) if n > 1 else args.n_random
    print(f"random excerpts common to all {n} units: {shared} of {args.n_random}", flush=True)

    rows: list[int] = []
    hook = bank.lm.model.register_forward_pre_hook(lambda m, a, kw: rows.append(kw["input_ids"].shape[0]),
                                                   with_kwargs=True)

    def timed(fn):
        rows.clear()
        t = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - t, sum(rows)

    results = {}
    try:
        for k in counts:
            requests = [e for col in range(k) for e in edits_for(sets[col], col)]
            jsd, secs, fwd = timed(lambda: bank.ablation_jsd_many(requests))
            results[("batched", k)] = (jsd, secs, fwd)
            print(f"batched    {k:3d} units: {secs:7.1f} s  {60 * k / secs:6.2f} units/min  {fwd} rows "
                  f"({len(requests)} edits)  load {os.getloadavg()[0]:.2f}", flush=True)
        k = min(args.per_unit, n)
        if k:
            jsd, secs, fwd = timed(lambda: [x for col in range(k)
                                            for x in bank.ablation_jsd_many(edits_for(sets[col], col))])
            results[("per unit", k)] = (jsd, secs, fwd)
            print(f"per unit   {k:3d} units: {secs:7.1f} s  {60 * k / secs:6.2f} units/min  {fwd} rows", flush=True)
        k = min(args.one_by_one, n)
        if k:
            jsd, secs, fwd = timed(lambda: [bank.ablation_jsd_many([e])[0] for col in range(k) for e in edits_for(sets[col], col)])
            results[("one by one", k)] = (jsd, secs, fwd)
            print(f"one by one {k:3d} units: {secs:7.1f} s  {60 * k / secs:6.2f} units/min  {fwd} rows", flush=True)
        k = min(args.two_kl, n)
        if k:
            import sasc.modules.causal_lm as causal_lm

            requests = [e for col in range(k) for e in edits_for(sets[col], col)]
            entropy_form = causal_lm._effect
            runs: dict[str, list[float]] = {}
            for arm in ("two-KL JSD", "entropy JSD", "two-KL JSD", "entropy JSD"):  # alternating, twice
                causal_lm._effect = two_kl_effect if arm.startswith("two") else entropy_form
                try:
                    jsd, secs, fwd = timed(lambda: bank.ablation_jsd_many(requests))
                finally:
                    causal_lm._effect = entropy_form
                runs.setdefault(arm, []).append(secs)
                results[(arm, k)] = (jsd, float(np.mean(runs[arm])), fwd)  # the mean of its runs
                print(f"{arm:11s} {k:3d} units: {secs:7.1f} s  {fwd} rows  load {os.getloadavg()[0]:.2f}", flush=True)
            two, ent = results[("two-KL JSD", k)][1], results[("entropy JSD", k)][1]
            print(f"entropy / two-KL JSD, {k} units, mean of two runs each: time {ent / two:.2f}x", flush=True)
    finally:
        hook.remove()

    # the arms compute the same numbers; true activations give JSD ~0 against the mean ablation's
    big = results[("batched", max(counts))][0]
    for (arm, k), (jsd, _, _) in results.items():
        np.testing.assert_allclose(jsd, big[: len(jsd)], rtol=1e-3, atol=1e-6, err_msg=f"{arm} at {k} units")
    m = len(sets[0].texts)
    per = np.asarray(big).reshape(n, 3, m)
    ratio = 1 - per[:, 1].mean(1) / per[:, 0].mean(1)
    print(f"check: ablation score of the true activations over {n} units: min {ratio.min():.4f}, "
          f"mean {ratio.mean():.4f} (must be 1); mean-ablation JSD mean {per[:, 0].mean():.2e}")
    print("\n== ablation forward cost (model side)")
    for (arm, k), (_, secs, fwd) in results.items():
        print(f"{arm:11s} {k:3d} units  {secs:7.1f} s  {60 * k / secs:6.2f} units/min  {secs / k:6.2f} s/unit  {fwd} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
