"""The GPU paths side by side with the CPU in one run: do they agree, and how much faster are they.

Usage (on a machine with a CUDA device)::

    python benchmarks/gpu_paths.py --json gpu.json
    python benchmarks/gpu_paths.py --stages embedding,neurons --lm /path/to/causal-lm

Stages (``--stages``, default all three):

* ``embedding``: the n-gram stage of the embedding-distance module (packaged all-MiniLM-L6-v2,
  or ``--encoder``) over the first ``--ngrams`` unique 1..3-grams of the ``news`` corpus, on
  CUDA in the default dtype (bf16 where the GPU has it) and in float32, and on the CPU in
  float32 over the first ``--cpu-ngrams`` of them.
* ``neurons``: all MLP neurons of layer ``--layer`` of a causal LM (default SmolLM2-135M-Instruct,
  or ``--lm``) over ``--lm-ngrams`` n-grams, on CUDA (default dtype and float32) and the CPU.
* ``fmri``: ``fit_encoding`` on a simulated dataset, features and ridge on the GPU (himalaya
  ``torch_cuda``) against features on the CPU and himalaya ``numpy``.

For every stage it prints the throughput of each device, their ratio, and how far the GPU's
responses are from the CPU's float32 ones: the largest difference over the responses' range
(per unit, the worst unit), the lowest Pearson r over units, and the mean overlap of the
top-75 n-grams. Model loading and CUDA start-up are kept out of the timings by a warm-up call.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ngram_stage import KEYPHRASE  # noqa: E402


def agreement(gpu: np.ndarray, cpu: np.ndarray, k: int = 75) -> dict[str, float]:
    """How close ``gpu`` is to the reference ``cpu`` (both n-grams x units, same rows)."""
    gpu, cpu = np.asarray(gpu, np.float64), np.asarray(cpu, np.float64)
    spread = np.maximum(cpu.max(0) - cpu.min(0), 1e-12)
    rel = (np.abs(gpu - cpu).max(0) / spread).max()
    rs = [np.corrcoef(gpu[:, j], cpu[:, j])[0, 1] if cpu[:, j].std() > 0 else 1.0 for j in range(cpu.shape[1])]
    k = min(k, len(cpu))
    overlap = np.mean([len(set(np.argsort(-gpu[:, j])[:k]) & set(np.argsort(-cpu[:, j])[:k])) / k
                       for j in range(cpu.shape[1])])
    return {"max_diff_over_range": float(rel), "min_pearson_r": float(np.min(rs)), "top75_overlap": float(overlap)}


def timed_responses(bank, ngrams: list[str]) -> tuple[np.ndarray, float]:
    """Responses of ``bank`` to ``ngrams`` (n-grams x units) and the stage's wall seconds, after a warm-up."""
    from sasc.ngrams import NgramTable
    from sasc.responses import ngram_responses

    ngram_responses(bank, NgramTable.from_ngrams(ngrams[:256]))  # model load, CUDA context, kernels
    _sync()
    t = time.perf_counter()
    res = ngram_responses(bank, NgramTable.from_ngrams(ngrams))
    _sync()
    return np.asarray(res.values), time.perf_counter() - t


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def bank_dtype(bank) -> str:
    """The dtype a bank computes in (``"bfloat16"`` / ``"float32"``)."""
    holder = getattr(bank, "encoder", None) or getattr(bank, "lm", None)
    return str(getattr(holder, "dtype", "?"))


def compare_banks(make, ngrams: list[str], n_cpu: int, gpu: str = "cuda") -> dict:
    """``make(device, dtype)`` builds a bank; runs it on ``gpu`` (auto, float32) and cpu (float32)."""
    cpu_vals, cpu_s = timed_responses(make("cpu", "float32"), ngrams[:n_cpu])
    out: dict = {"units": cpu_vals.shape[1], "n_ngrams_gpu": len(ngrams), "n_ngrams_cpu": len(cpu_vals)}
    out["cpu_float32_ngrams_per_s"] = round(len(cpu_vals) / cpu_s, 1)
    for dtype in ("auto", "float32"):
        bank = make(gpu, dtype)
        vals, secs = timed_responses(bank, ngrams)
        rate = len(vals) / secs
        out[f"{gpu}_{dtype}"] = {"dtype": bank_dtype(bank), "seconds": round(secs, 2),
                                "ngrams_per_s": round(rate, 1),
                                "speedup_over_cpu": round(rate / out["cpu_float32_ngrams_per_s"], 1),
                                **agreement(vals[:len(cpu_vals)], cpu_vals)}
        del bank
    return out


def embedding_stage(args, ngrams: list[str]) -> dict:
    from sasc.modules.embedding import EmbeddingDistanceBank

    def make(device, dtype):
        return EmbeddingDistanceBank(KEYPHRASE, model=args.encoder, device=device, dtype=dtype)

    return {"model": args.encoder or "all-MiniLM-L6-v2 (packaged)",
            **compare_banks(make, ngrams, args.cpu_ngrams, args.gpu)}


def neurons_stage(args, ngrams: list[str]) -> dict:
    from sasc.modules.neurons import build_llm_neuron_bank

    def make(device, dtype):
        return build_llm_neuron_bank(args.lm, site="mlp", layer=args.layer, units=None, aggregation="max",
                                     device=device, dtype=dtype)

    return {"model": args.lm or "SmolLM2-135M-Instruct", "layer": args.layer,
            **compare_banks(make, ngrams[:args.lm_ngrams], args.lm_cpu_ngrams, args.gpu)}


def fmri_stage(args) -> dict:
    from sasc.fmri import EncodingConfig, FeatureModel, SimulationConfig, fit_encoding, simulate

    sim = simulate(SimulationConfig(n_runs=args.fmri_runs, words_per_run=700, voxel_size_mm=args.voxel_size),
                   FeatureModel(device="cpu"))
    data = sim.dataset()
    out: dict = {"n_runs": args.fmri_runs, "voxel_size_mm": args.voxel_size}
    fits = {}
    gpu_backend = "torch_cuda" if args.gpu.startswith("cuda") else "torch"
    for device, backend in ((args.gpu, gpu_backend), ("cpu", "numpy")):
        t = time.perf_counter()
        fits[backend] = fit_encoding(data, FeatureModel(device=device), test_runs=2,
                                     config=EncodingConfig(backend=backend))
        _sync()
        out[f"{backend}_fit_s"] = round(time.perf_counter() - t, 2)
    a, b = fits[gpu_backend].test_r, fits["numpy"].test_r
    out["n_voxels"] = int(len(a))
    out["speedup"] = round(out["numpy_fit_s"] / out[f"{gpu_backend}_fit_s"], 1)
    out["test_r_max_abs_diff"] = float(np.nanmax(np.abs(a - b)))
    out["test_r_pearson"] = float(np.corrcoef(np.nan_to_num(a), np.nan_to_num(b))[0, 1])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stages", default="embedding,neurons,fmri")
    p.add_argument("--encoder", default=None, help="sentence-transformers name or path (default: packaged MiniLM)")
    p.add_argument("--lm", default=None, help="causal LM name or path (default: SmolLM2-135M-Instruct)")
    p.add_argument("--layer", type=int, default=5)
    p.add_argument("--ngrams", type=int, default=500_000, help="n-grams for the embedding stage on the GPU")
    p.add_argument("--cpu-ngrams", type=int, default=20_000, help="n-grams for the embedding stage on the CPU")
    p.add_argument("--lm-ngrams", type=int, default=100_000, help="n-grams for the neuron stage on the GPU")
    p.add_argument("--lm-cpu-ngrams", type=int, default=5_000, help="n-grams for the neuron stage on the CPU")
    p.add_argument("--fmri-runs", type=int, default=20)
    p.add_argument("--voxel-size", type=float, default=4.5)
    p.add_argument("--json", default=None, help="also write the figures here")
    p.add_argument("--gpu", default="cuda", help=argparse.SUPPRESS)  # "cpu": a dry run of this script
    args = p.parse_args()
    import torch

    if args.gpu.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("gpu_paths.py needs a CUDA device; torch sees none")
    from sasc.corpora import load_corpus
    from sasc.ngrams import count_ngrams

    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    ngrams = count_ngrams(load_corpus("news").texts).ngrams if {"embedding", "neurons"} & set(stages) else []
    out = {"gpu": torch.cuda.get_device_name(0) if args.gpu.startswith("cuda") else args.gpu,
           "torch": torch.__version__, "cpu_threads": torch.get_num_threads()}
    runs = {"embedding": lambda: embedding_stage(args, ngrams[:args.ngrams]),
            "neurons": lambda: neurons_stage(args, ngrams), "fmri": lambda: fmri_stage(args)}
    for stage in stages:
        t = time.perf_counter()
        out[stage] = runs[stage]()
        out[stage]["stage_wall_s"] = round(time.perf_counter() - t, 1)
        print(json.dumps({stage: out[stage]}, indent=1), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
