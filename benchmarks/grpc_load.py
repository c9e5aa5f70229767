"""Load test of `sasc serve` on loopback: concurrent Evaluate calls plus explanation jobs.

Usage::

    python benchmarks/grpc_load.py                         # 32 clients x 200 calls x 64 texts + 4 jobs
    python benchmarks/grpc_load.py --clients 8 --calls 20  # a quick run

The server is a real `python -m sasc.cli serve` subprocess; every client has its own channel.
Prints calls, errors, latency p50/p99/max, throughput and the outcome of each job.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("pizza pasta market stocks police river film music soccer rain bread court election doctor "
         "school garden engine ocean winter guitar").split()
CORPUS = [
    "I ate pizza and pasta for dinner. The soup was cold!",
    "Stock markets fell sharply on Monday; investors worried about rates.",
    "The cheese bread at the market is the best meal in town.",
    "Police said the suspect fled after the shooting. Nobody was hurt.",
    "Cooking at home saves money: soup, bread and pasta are cheap.",
    "The home team scored twice in the final minutes of the match.",
]
GENERIC = ["The weather was mild today.", "A film about two friends.", "He read the paper slowly.",
           "They walked along the river.", "The train was late again.", "She painted the fence blue."]


def start_server_process(db: Path, *extra: str, log: Path | None = None) -> tuple[subprocess.Popen, str]:
    """`python -m sasc.cli serve --port 0 --db DB ...`; returns the process and its address."""
    db.parent.mkdir(parents=True, exist_ok=True)
    err = open(log, "a") if log else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "sasc.cli", "serve", "--port", "0", "--db", str(db),
                             "--log-format", "text", "--log-level", "WARNING", *extra], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=err, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[-1].strip()


def short_texts(rng: random.Random, n: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8))) for _ in range(n)]


def run_clients(target: str, module_id: str, n_clients: int, n_calls: int, n_texts: int) -> tuple[list[float], list[str]]:
    from sasc.client import Client

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one(seed: int) -> None:
        rng = random.Random(seed)
        with Client(target, timeout_s=300) as c:
            for _ in range(n_calls):
                texts = short_texts(rng, n_texts)
                t0 = time.perf_counter()
                try:
                    out = c.evaluate(module_id, texts)
                    ok = out.shape == (n_texts, 2) and np.isfinite(out).all()
                    err = None if ok else f"bad shape {out.shape}"
                except Exception as e:  # noqa: BLE001 - counted, reported
                    err = f"{type(e).__name__}: {e}"
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    if err:
                        errors.append(err)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors


def run_jobs(target: str, module_id: str, n_jobs: int, out: list) -> None:
    from sasc.client import Client

    def one(i: int) -> None:
        t0 = time.perf_counter()
        with Client(target, timeout_s=300) as c:
            try:
                r = c.explain(module_id, corpus=CORPUS[i % 3:] + CORPUS[: i % 3], generic=GENERIC, helper="fake",
                              settings={"n_candidates": 2, "n_synthetic": 3, "n_bootstrap": 100, "n_generic": 6},
                              progress=False)
                out.append(("succeeded", time.perf_counter() - t0, len(r.units)))
            except Exception as e:  # noqa: BLE001
                out.append((f"{type(e).__name__}: {e}", time.perf_counter() - t0, 0))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n_jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--calls", type=int, default=200, help="Evaluate calls per client")
    ap.add_argument("--texts", type=int, default=64, help="texts per call")
    ap.add_argument("--jobs", type=int, default=4, help="explanation jobs running meanwhile")
    args = ap.parse_args()
    from sasc.client import Client

    with tempfile.TemporaryDirectory() as tmp:
        proc, target = start_server_process(Path(tmp) / "s.db", "--job-workers", str(args.jobs),
                                            log=Path(tmp) / "server.log")
        try:
            with Client(target, timeout_s=300) as c:
                t0 = time.perf_counter()
                m = c.register_module("embedding_distance", {"keyphrases": ["food", "sports"]})
                c.evaluate(m.id, ["warm up"])
                print(f"server up at {target}; MiniLM module registered in {time.perf_counter() - t0:.1f} s")
            jobs: list = []
            job_thread = threading.Thread(target=run_jobs, args=(target, m.id, args.jobs, jobs))
            t0 = time.perf_counter()
            job_thread.start()
            lat, errors = run_clients(target, m.id, args.clients, args.calls, args.texts)
            wall = time.perf_counter() - t0
            job_thread.join()
            alive = proc.poll() is None
        finally:
            proc.kill()
            proc.wait()
    lat_ms = np.asarray(lat) * 1000
    n = len(lat)
    print(f"Evaluate: {args.clients} clients x {args.calls} calls x {args.texts} texts = {n} calls in {wall:.1f} s")
    print(f"  errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    print(f"  latency ms: p50 {np.percentile(lat_ms, 50):.1f}  p99 {np.percentile(lat_ms, 99):.1f}  "
          f"max {lat_ms.max():.1f}")
    print(f"  throughput: {n / wall:.1f} calls/s, {n * args.texts / wall:.0f} texts/s")
    for i, (state, secs, units) in enumerate(jobs):
        print(f"job {i}: {state} in {secs:.1f} s ({units} units)")
    print(f"server alive after the run: {alive}")
    ok = not errors and all(j[0] == "succeeded" for j in jobs) and len(jobs) == args.jobs
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
