"""A real `sasc serve` process killed with SIGKILL mid-job resumes the job after a restart,
keeps the units it had finished, and ends with the result an uninterrupted run gives."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fakes import FOOD_CORPUS, SMALL_GENERIC

import sasc
from sasc.client import Client
from sasc.modules.readout import LinearReadoutBank

ROOT = Path(__file__).resolve().parents[1]
GENERIC = SMALL_GENERIC[:4]
SETTINGS = {"n_candidates": 2, "n_synthetic": 3, "n_bootstrap": 200, "n_generic": 4}
N_UNITS = 60


def serve(db: Path, log) -> tuple[subprocess.Popen, str]:
    """Start `python -m sasc.cli serve --port 0` and return it with the address it printed."""
    proc = subprocess.Popen([sys.executable, "-m", "sasc.cli", "serve", "--port", "0", "--db", str(db),
                             "--log-format", "text"], cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stdout.readline()
    assert "listening on" in line, f"server did not start: {line!r}"
    return proc, line.rsplit(" ", 1)[-1].strip()


@pytest.fixture
def weights():
    return np.random.default_rng(3).normal(size=(N_UNITS, 256)).astype(np.float32)


def test_sigkill_mid_explain_then_restart_resumes_and_matches(tmp_path, weights):
    db = tmp_path / "server.db"
    log = open(tmp_path / "server.log", "w")
    proc, target = serve(db, log)
    try:
        with Client(target) as c:
            m = c.register_linear_readout(weights, feature_model="word_hash")
            job = c.submit_job(m.id, corpus=FOOD_CORPUS, generic=GENERIC, helper="fake", settings=SETTINGS)
            for event in c.job_events(job.id):
                if event.units_done >= 3:
                    break
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert event.units_done < N_UNITS, "the job finished before the kill; make it longer"
        proc, target = serve(db, log)
        with Client(target) as c:
            result = c.watch_job(job.id, progress=False)
            info = c.get_job(job.id)
            assert c.get_module(m.id).units == m.units  # the registry survived too
    finally:
        proc.kill()
        proc.wait(10)
        log.close()
    assert (info.state, info.resumed, info.units_done) == ("succeeded", 1, N_UNITS)
    config = dataclasses.replace(sasc.ExplainConfig(), **SETTINGS)
    helper = sasc.llm.build_helper("fake")
    local = sasc.explain(LinearReadoutBank(weights, "word_hash"), corpus=FOOD_CORPUS, generic=GENERIC, helper=helper,
                         config=config, cache_dir=tmp_path / "local-cache")
    assert result.units == local.units
    # finished units were restored, not recomputed: the resumed process made fewer helper calls
    assert result.usage["calls"] < helper.usage.snapshot().calls
