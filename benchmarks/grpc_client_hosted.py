"""Throughput of a client-hosted module over loopback (target: >= 20,000 texts/s).

Usage::

    python benchmarks/grpc_client_hosted.py                     # 200,000 texts, batch 1024
    python benchmarks/grpc_client_hosted.py --texts 50000 --batch 256

A real `sasc serve` subprocess; this process hosts a trivial callable (text length) over
one HostModule stream and, from other channels, sends Evaluate calls of ``--per-call``
texts that the server answers by calling the hosted module. Also times an explanation
job's n-gram stage on the hosted module.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grpc_load import GENERIC, start_server_process  # noqa: E402


def lengths(texts: list[str]) -> np.ndarray:
    return np.fromiter((len(t) for t in texts), dtype=np.float32, count=len(texts))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=int, default=200_000, help="texts evaluated in all")
    ap.add_argument("--per-call", type=int, default=10_000, help="texts per Evaluate call")
    ap.add_argument("--callers", type=int, default=2, help="concurrent Evaluate callers")
    ap.add_argument("--batch", type=int, default=1024, help="batch size the host asks for")
    args = ap.parse_args()
    from sasc.client import Client

    texts = [f"short text number {i} about things" for i in range(args.per_call)]
    with tempfile.TemporaryDirectory() as tmp:
        proc, target = start_server_process(Path(tmp) / "s.db", "--hosted-max-batch", str(args.batch))
        try:
            with Client(target) as host_client:
                with host_client.host_module(lengths, units=["chars"], batch_size=args.batch) as hosted:
                    print(f"hosted module {hosted.id}: batch {hosted.batch_size}, deadline {hosted.deadline_s:g} s")
                    done, errors = run_callers(target, hosted.id, texts, args)
                    job_s, n_ngrams = run_job(target, hosted.id)
                    batches = hosted.batches
        finally:
            proc.kill()
            proc.wait()
    wall, n = done
    print(f"Evaluate via the hosted module: {n:,} texts in {wall:.2f} s = {n / wall:,.0f} texts/s "
          f"({args.callers} callers x {args.per_call:,} texts per call, {batches:,} batches answered), "
          f"errors: {errors}")
    print(f"explanation job on it: {n_ngrams:,} n-grams scored, whole job {job_s:.2f} s")
    return 0 if not errors else 1


def run_callers(target: str, module_id: str, texts: list[str], args) -> tuple[tuple[float, int], int]:
    from sasc.client import Client

    n_calls = max(1, args.texts // args.per_call)
    per_caller = [n_calls // args.callers + (i < n_calls % args.callers) for i in range(args.callers)]
    errors = []
    expected = lengths(texts)

    def one(k: int) -> None:
        with Client(target, timeout_s=300) as c:
            for _ in range(k):
                out = c.evaluate(module_id, texts)
                if out.shape != (len(texts), 1) or not np.array_equal(out[:, 0], expected):
                    errors.append("wrong values")

    threads = [threading.Thread(target=one, args=(k,)) for k in per_caller]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return (time.perf_counter() - t0, n_calls * len(texts)), len(errors)


def run_job(target: str, module_id: str) -> tuple[float, int]:
    from sasc.client import Client

    corpus = [f"story {i}: the {w} of the {v} went to the market on day {i % 7}" for i, (w, v) in
              enumerate(zip(["cat", "dog", "king", "nurse", "pilot"] * 200, ["town", "city", "farm", "port"] * 250))]
    with Client(target, timeout_s=300) as c:
        t0 = time.perf_counter()
        r = c.explain(module_id, corpus=corpus, generic=GENERIC, helper="fake", progress=False,
                      settings={"n_candidates": 1, "n_synthetic": 2, "n_bootstrap": 50, "n_generic": 6})
        return time.perf_counter() - t0, r.reference_corpus["n_ngrams"]


if __name__ == "__main__":
    sys.exit(main())
