"""Restart test: SIGKILL `sasc serve` at each job stage, restart it, compare the results.

Usage::

    python benchmarks/grpc_restart.py               # MiniLM readout, 8 units, kills at every stage
    python benchmarks/grpc_restart.py --units 4 --texts 20

For each kill point (queued, responses mid-stage, explain mid-stage, after success) a fresh
server runs one job, is killed with SIGKILL once the job reaches that point, is started
again on the same database, and the job is followed to its end. Every result must equal
the result of an uninterrupted run on another fresh server.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grpc_load import GENERIC, start_server_process  # noqa: E402

SUBJECTS = "the chef the court the team the bank the doctor the band the storm the school".split(" the ")
ACTIONS = ["cooked a spicy soup", "ruled on the appeal", "won the final match", "raised interest rates",
           "treated the patients", "played a loud concert", "flooded the valley", "opened a new library"]
POINTS = ("queued", "responses", "explain", "done")


def corpus(n: int) -> list[str]:
    return [f"On day {i} {SUBJECTS[i % len(SUBJECTS)].removeprefix('the ')} {ACTIONS[(i * 3) % len(ACTIONS)]} "
            f"while people in town {ACTIONS[(i * 5 + 1) % len(ACTIONS)]}." for i in range(n)]


def reached(point: str, p) -> bool:
    if point == "queued":
        return True
    if point == "responses":
        return p.stage == "responses" and 0 < p.done < p.total
    if point == "explain":
        return p.stage == "explain" and 0 < p.done < p.total
    return False


def run(point: str, weights: np.ndarray, texts: list[str], settings: dict, db: Path) -> tuple[str, object, dict]:
    """One job with a SIGKILL at ``point``; returns (outcome, result, facts)."""
    from sasc.client import Client

    log = db.parent / "server.log"
    proc, target = start_server_process(db, "--job-workers", "1", log=log)
    facts: dict = {"killed_at": "-"}
    try:
        with Client(target, timeout_s=300) as c:
            m = c.register_linear_readout(weights, feature_model="minilm")
            job = c.submit_job(m.id, corpus=texts, generic=GENERIC, helper="fake", settings=settings)
            if point == "done":
                c.watch_job(job.id, progress=False)
                facts["killed_at"] = "after success"
            elif point != "queued":
                for p in c.job_events(job.id):
                    if reached(point, p):
                        facts["killed_at"] = f"{p.stage} {p.done}/{p.total}"
                        break
                else:
                    return "job ended before the kill point", None, facts
            else:
                facts["killed_at"] = "right after submit"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        t0 = time.perf_counter()
        proc, target = start_server_process(db, "--job-workers", "1", log=log)
        with Client(target, timeout_s=300) as c:
            result = c.watch_job(job.id, progress=False)
            info = c.get_job(job.id)
        facts.update(resumed=info.resumed, after_restart_s=round(time.perf_counter() - t0, 1),
                     llm_calls_after_restart=result.usage.get("calls"))
        return info.state, result, facts
    finally:
        proc.kill()
        proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", type=int, default=8)
    ap.add_argument("--texts", type=int, default=40, help="reference corpus sentences")
    ap.add_argument("--points", default=",".join(POINTS), help=f"kill points among {POINTS}")
    args = ap.parse_args()
    from sasc.client import Client

    weights = np.random.default_rng(0).normal(size=(args.units, 384)).astype(np.float32)
    texts = corpus(args.texts)
    settings = {"n_candidates": 2, "n_synthetic": 3, "n_bootstrap": 200, "n_generic": 6, "shard_size": 64}
    with tempfile.TemporaryDirectory() as tmp:
        proc, target = start_server_process(Path(tmp) / "ref" / "s.db")
        try:
            with Client(target, timeout_s=300) as c:
                m = c.register_linear_readout(weights, feature_model="minilm")
                t0 = time.perf_counter()
                reference = c.explain(m.id, corpus=texts, generic=GENERIC, helper="fake", settings=settings,
                                      progress=False)
                ref_s = time.perf_counter() - t0
        finally:
            proc.kill()
            proc.wait()
        print(f"uninterrupted run: {ref_s:.1f} s, {reference.reference_corpus['n_ngrams']:,} n-grams, "
              f"{len(reference.units)} units, {reference.usage['calls']} helper calls")
        failures = 0
        for point in args.points.split(","):
            state, result, facts = run(point, weights, texts, settings, Path(tmp) / point / "s.db")
            same = result is not None and result.units == reference.units
            failures += not (state == "succeeded" and same)
            print(f"kill at {point:9s} ({facts['killed_at']}): state {state}, same result: {same}, "
                  + ", ".join(f"{k} {v}" for k, v in facts.items() if k != "killed_at"))
    print("all jobs completed with the uninterrupted result" if not failures else f"{failures} kill point(s) FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
