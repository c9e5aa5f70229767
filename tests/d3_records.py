"""Hand-made D3 task records for the report and comparison tests."""

from __future__ import annotations

import re

from sasc.bench.d3 import TaskRecord


def rec(setting, seed, index, explanations, sigmas, regex, sim=0.5, calls=3):
    """A judged record of task ``t<index>``: candidates ``explanations`` (best first) against ``regex``."""
    matches = [bool(re.search(regex, e, re.I)) for e in explanations]
    return TaskRecord(task=f"t{index}", index=index, setting=setting, seed=seed, keyphrase="k", check_regex=regex,
                      corpus="c", n_ngrams=10, explanations=explanations, sigmas=sigmas, matches=matches,
                      top1=bool(matches and matches[0]), any_candidate=any(matches), similarity=sim,
                      similarity_judge="j", llm_calls=calls, llm_cached_calls=1, prompt_tokens=10,
                      completion_tokens=5, seconds=2.0, run_key="x")
