"""Picklable modules and helpers for the Ray backend tests (importable by Ray workers), and the cluster fixture."""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from fakes import FOOD, KeywordModule, topical_reply

TESTS_DIR = str(Path(__file__).resolve().parent)
BANK_WORDS = {"food": FOOD, "crime": {"police", "suspect", "shooting", "fled", "hurt"},
              "markets": {"stock", "markets", "investors", "rates", "money"}}


@pytest.fixture(scope="session")
def ray_cluster():
    """One local 2-CPU Ray cluster for the whole session; workers can import the test fakes."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        os.environ["PYTHONPATH"] = TESTS_DIR + os.pathsep + os.environ.get("PYTHONPATH", "")
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024**2, log_to_driver=False,
                 runtime_env={"worker_process_setup_hook": "distributed_fakes.register_test_kinds"})
    register_test_kinds()
    return ray


def slow_log(tag: str) -> Path:
    """Where a ``ray_slow_batched`` module of ``tag`` logs its batches (its parameters may not name a path)."""
    return Path(tempfile.gettempdir()) / f"sasc-ray-slow-{tag}.txt"


def register_test_kinds() -> None:
    """Module kinds the service tests register, in every Ray worker too (a worker rebuilds a job's
    module from its kind and parameters): ``ray_slow_batched`` (tag, delay_s): a
    :class:`SlowBatchedModule` logging to :func:`slow_log`."""
    from sasc.modules import register_kind

    register_kind("ray_slow_batched", lambda tag, delay_s=1.0: SlowBatchedModule(str(slow_log(tag)), delay_s),
                  replace=True)


class KeywordBank:
    """Three keyword units (food, crime, markets) in one bank; exact and cheap."""

    kind = "keyword_bank"

    def __init__(self):
        self.name = "keyword-bank"
        self.fingerprint = "keyword-bank:v1"

    @property
    def units(self):
        return list(BANK_WORDS)

    def responses(self, texts):
        out = np.zeros((len(texts), len(BANK_WORDS)), np.float32)
        for i, t in enumerate(texts):
            ws = re.findall(r"\w+", t.lower())
            for j, words in enumerate(BANK_WORDS.values()):
                out[i, j] = sum(w in words for w in ws) / max(1, len(ws))
        return out


class CrashingModule(KeywordModule):
    """Kills its own process on its ``crash_at``-th call while ``marker`` does not exist
    (``once``: creating it first, so only the first worker to get there dies).
    Every batch it finishes is logged to ``log`` (one JSON line: the batch's texts).
    ``wait_for``: before crashing, wait (up to 60 s) until that file exists, so a test can make sure
    some shards reached the driver before the crash without relying on timing."""

    def __init__(self, marker: str, log: str, crash_at: int = 3, once: bool = True, wait_for: str | None = None):
        super().__init__()
        self.marker, self.log, self.crash_at, self.once, self.wait_for = marker, log, crash_at, once, wait_for

    def __call__(self, texts):
        if self.calls + 1 == self.crash_at:
            deadline = time.monotonic() + 60
            while self.wait_for and not os.path.exists(self.wait_for) and time.monotonic() < deadline:
                time.sleep(0.01)
            if not self.once:
                os._exit(1)
            try:  # atomic: exactly one worker claims the crash
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
                os._exit(1)
            except FileExistsError:
                pass
        out = super().__call__(texts)
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(list(texts)) + "\n")
        return out


class SlowBatchedModule(KeywordModule):
    """Scores its texts in internal batches of 4 taking ``delay_s`` each and calls
    :func:`sasc.cancel.checkpoint` between them, as the built-in modules do between forward passes;
    appends each finished batch's end time to ``log``."""

    def __init__(self, log: str, delay_s: float = 0.05):
        super().__init__()
        self.log, self.delay_s = log, delay_s

    def __call__(self, texts):
        from sasc.cancel import checkpoint

        parts = []
        for s in range(0, len(texts), 4):
            checkpoint()
            time.sleep(self.delay_s)
            parts.append(super().__call__(texts[s:s + 4]))
            with open(self.log, "a", encoding="utf-8") as f:
                f.write(f"{time.time()}\n")
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


class NaNModule(KeywordModule):
    def __call__(self, texts):
        out = super().__call__(texts)
        out[:] = np.nan
        return out


class RecordingHelper:
    """A topical scripted helper that appends each call's (start, end) times to a file in ``log_dir``."""

    def __init__(self, log_dir: str, delay_s: float = 0.05):
        from sasc.llm import ScriptedLLM

        self.inner = ScriptedLLM(topical_reply, delay_s=delay_s)
        self.log = Path(log_dir) / f"calls-{os.getpid()}.txt"

    @property
    def name(self):
        return self.inner.name

    def complete(self, prompt, *, sampling, json_schema=None):
        start = time.time()
        reply = self.inner.complete(prompt, sampling=sampling, json_schema=json_schema)
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(f"{start} {time.time()}\n")
        return reply


def max_overlap(log_dir: str) -> tuple[int, int]:
    """(calls logged, most calls that were in flight at the same instant)."""
    spans = [tuple(map(float, line.split()))
             for p in Path(log_dir).glob("calls-*.txt") for line in p.read_text().splitlines() if line]
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    cur = peak = 0
    for _, d in edges:
        cur += d
        peak = max(peak, cur)
    return len(spans), peak


class DyingHelper(RecordingHelper):
    """A recording helper whose worker process dies inside its first call, holding a helper permit
    (``marker`` makes it happen once across the cluster)."""

    def __init__(self, log_dir: str, marker: str):
        super().__init__(log_dir)
        self.marker = marker

    def complete(self, prompt, *, sampling, json_schema=None):
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
            os._exit(1)
        except FileExistsError:
            pass
        return super().complete(prompt, sampling=sampling, json_schema=json_schema)
