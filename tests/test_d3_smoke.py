"""End-to-end D3 smoke run with the REAL embedded helper (Qwen2.5-Coder-1.5B, llama.cpp),
the real MiniLM module and the real SmolLM2 similarity judge, kept small for CI:
3 tasks in the default setting, 2 candidates of 5 synthetic texts, 40 texts per corpus
(the ablations' plumbing is covered with the scripted helper in test_d3.py)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from sasc.bench.d3 import D3Options, run_d3
from sasc.bench.report import PAPER
from sasc.config import ExplainConfig

from fakes import refuse_nan

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "d3"


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "tasks.json").exists(), reason="needs ../shared/d3 beside the repository")
def test_d3_smoke_real_helper(tmp_path):
    import torch

    from sasc.llm import build_helper

    torch.set_num_threads(1)  # MiniLM on a few short texts; llama.cpp keeps its own threads
    helper = build_helper("local", cache_dir=tmp_path / "llm")  # fresh reply cache, packaged model
    config = ExplainConfig(n_candidates=2, n_synthetic=5, n_generic=100, n_bootstrap=200)
    options = D3Options(settings=("default",), seeds=(0,), shared_responses=False, max_corpus_texts=40)
    report = run_d3(DATA, tasks=[0, 1, 2], helper=helper, config=config, options=options, out=tmp_path / "out",
                    cache_dir=tmp_path / "cache")
    assert len(report.records) == 3
    for r in report.records:
        assert 1 <= len(r.explanations) <= 2 and all(e.strip() for e in r.explanations)
        assert all(math.isfinite(s) for s in r.sigmas) and r.sigmas == sorted(r.sigmas, reverse=True)
        assert -1.0 <= r.similarity <= 1.0 and r.similarity_judge.startswith("smollm2")
        assert r.unit["top_ngrams"] and r.llm_calls >= 3
    assert [r.corpus for r in report.records] == ["d3_0.csv", "d3_1.csv", "d3_2.csv"]
    doc = json.loads((tmp_path / "out" / "summary.json").read_text(), parse_constant=refuse_nan)
    assert [s["setting"] for s in doc["settings"]] == ["default"]
    for s in doc["settings"]:
        assert 0 <= s["top1"] <= s["any_candidate"] <= 100 and s["n_runs"] == 3
        assert s["paper_top1"] == PAPER[s["setting"]]["top1"]
    assert doc["meta"]["usage"]["completion_tokens"] > 0 and doc["meta"]["wall_s"] > 0
    rows = list(csv.DictReader((tmp_path / "out" / "tasks.csv").open()))
    assert len(rows) == 3 and all(row["best_explanation"] for row in rows)
    assert (tmp_path / "out" / "accuracy.png").stat().st_size > 1000
    for line in ("top-1 %", "default", "88.3", "90.1"):
        assert line in report.table
