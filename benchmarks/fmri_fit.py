"""Encoding-model fit time and peak memory on a simulated ~20k-voxel, ~3,000-TR dataset (CPU).

Usage::

    python benchmarks/fmri_fit.py                         # 4.5-mm MNI grid (~20k voxels), ~3,000 TRs
    python benchmarks/fmri_fit.py --voxel-size 6 --runs 10 --backend numpy

Simulates in memory (no NIfTI written), then times :func:`sasc.fmri.fit_encoding` (feature
extraction + himalaya ridge with per-voxel alphas over 5 run-folds). Peak resident memory
is sampled from ``/proc/self/status`` every 50 ms during the fit. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

from sasc.fmri import EncodingConfig, FeatureModel, SimulationConfig, fit_encoding, simulate


def rss_mib() -> float:
    """Current resident set size in MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class PeakRSS:
    """Samples RSS in a thread; ``peak`` is the largest value seen (MiB)."""

    def __init__(self, every_s: float = 0.05):
        self.peak, self.every_s, self._stop = rss_mib(), every_s, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.peak = max(self.peak, rss_mib())

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--voxel-size", type=float, default=4.5, help="MNI grid mm (default: 4.5, ~20k voxels)")
    p.add_argument("--runs", type=int, default=20, help="runs (default: 20)")
    p.add_argument("--words", type=int, default=700, help="words per run (default: 700 -> ~150 TRs per run)")
    p.add_argument("--backend", default="auto", help="himalaya backend (default: auto)")
    args = p.parse_args()
    features = FeatureModel()
    t0 = time.perf_counter()
    sim = simulate(SimulationConfig(n_runs=args.runs, words_per_run=args.words, voxel_size_mm=args.voxel_size), features)
    sim_s = time.perf_counter() - t0
    data = sim.dataset()
    n_trs = sum(len(y) for y in sim.responses)
    rss0 = rss_mib()
    with PeakRSS() as peak:
        t1 = time.perf_counter()
        model = fit_encoding(data, features, test_runs=2, config=EncodingConfig(backend=args.backend))
        fit_s = time.perf_counter() - t1
    print(json.dumps({
        "n_voxels": model.n_voxels, "n_trs_total": n_trs, "n_runs": args.runs,
        "n_trs_train_after_trim": n_trs - sum(len(y) for y in sim.responses[-2:]) - 10 * (args.runs - 2),
        "n_features": int(model.weights.shape[0]), "backend": args.backend, "simulate_s": round(sim_s, 1),
        "fit_s": round(fit_s, 1), "rss_before_fit_mib": round(rss0), "peak_rss_during_fit_mib": round(peak.peak),
        "median_test_r_planted": float(sorted(model.test_r[list(sim.planted)])[len(sim.planted) // 2]),
    }, indent=1))


if __name__ == "__main__":
    main()
