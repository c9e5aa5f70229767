"""Sparse-coding throughput: batched torch FISTA vs scikit-learn ``sparse_encode`` (same inputs).

Usage::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/fista.py --tokens 2000 --factors 1000

Inputs are real MiniLM layer-``--layer`` hidden states of news100 n-gram tokens, coded
against a dictionary of ``--factors`` unit-norm atoms (random, or ``--dictionary PATH``),
λ = ``--lam``, non-negative codes (Yun et al.). FISTA runs ``--iters`` iterations;
scikit-learn runs ``lasso_cd`` with ``positive=True`` to its default tolerance. Reports
tokens/s of each and the lasso objective of each solution (lower is better).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokens", type=int, default=2000)
    p.add_argument("--factors", type=int, default=1000)
    p.add_argument("--layer", type=int, default=4)
    p.add_argument("--lam", type=float, default=0.3)
    p.add_argument("--iters", type=int, default=500)
    p.add_argument("--tol", type=float, default=0.0, help="FISTA early stop (0: all iterations)")
    p.add_argument("--dictionary", default=None, help=".npy/.safetensors (d, K); default: random unit-norm atoms")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    import torch
    from sklearn.decomposition import sparse_encode

    from sasc.corpora import load_corpus
    from sasc.modules.dictionary import fit_dictionary_shape, load_array, load_bert_encoder
    from sasc.modules.sparse_coding import fista, lasso_objective

    if args.threads:
        torch.set_num_threads(args.threads)
    enc = load_bert_encoder(device=args.device)
    sentences = load_corpus("news100").texts[:30]
    states = torch.cat([s for s in enc.hidden_states(sentences, args.layer) if s is not None])[: args.tokens]
    x = states.to(enc.device)
    if args.dictionary:
        phi = fit_dictionary_shape(load_array(args.dictionary), enc.width)
    else:
        rng = np.random.default_rng(0)
        phi = rng.normal(size=(enc.width, args.factors)).astype(np.float32)
        phi /= np.linalg.norm(phi, axis=0)
    phi_t = torch.from_numpy(phi).to(enc.device)
    fista(x[:8], phi_t, args.lam, n_iter=5)  # warm-up
    t0 = time.perf_counter()
    codes = fista(x, phi_t, args.lam, n_iter=args.iters, tol=args.tol)
    if str(x.device).startswith("cuda"):
        torch.cuda.synchronize()
    t_fista = time.perf_counter() - t0
    xn = x.cpu().numpy().astype(np.float64)
    t0 = time.perf_counter()
    ref = sparse_encode(xn, phi.T.astype(np.float64), algorithm="lasso_cd", alpha=args.lam, positive=True)
    t_sk = time.perf_counter() - t0
    x64, p64 = torch.from_numpy(xn), torch.from_numpy(phi.astype(np.float64))
    obj_f = float(lasso_objective(x64, p64, codes.cpu().double(), args.lam).mean())
    obj_s = float(lasso_objective(x64, p64, torch.from_numpy(ref), args.lam).mean())
    out = {"tokens": int(x.shape[0]), "d": enc.width, "K": phi.shape[1], "lam": args.lam, "iters": args.iters, "tol": args.tol,
           "device": str(x.device), "threads": torch.get_num_threads(),
           "fista_seconds": round(t_fista, 3), "fista_tokens_per_s": round(x.shape[0] / t_fista, 1),
           "sklearn_seconds": round(t_sk, 3), "sklearn_tokens_per_s": round(x.shape[0] / t_sk, 1),
           "speedup": round(t_sk / t_fista, 2), "objective_fista": round(obj_f, 5), "objective_sklearn": round(obj_s, 5),
           "nonzero_fraction_fista": round(float((codes > 0).float().mean()), 4),
           "nonzero_fraction_sklearn": round(float((ref > 0).mean()), 4)}
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
