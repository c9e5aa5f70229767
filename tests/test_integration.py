"""A whole explanation with the real MiniLM module and the real embedded helper LLM."""

import re

import pytest

import sasc
from sasc.config import ExplainConfig
from sasc.ngrams import NgramSettings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_helper(tmp_path_factory):
    from sasc.llm import build_helper

    return build_helper("local", cache_dir=tmp_path_factory.mktemp("replies"))


def test_explains_a_real_module_with_the_embedded_helper(minilm_food, local_helper, tmp_path):
    config = ExplainConfig(ngrams=NgramSettings(max_n=2), n_candidates=2, n_synthetic=5, n_generic=200)
    corpus = sasc.load_corpus("news100").texts[:25]
    res = sasc.explain(minilm_food, units=["food"], corpus=corpus, helper=local_helper, config=config,
                       cache_dir=tmp_path)
    (unit,) = res.units
    best = unit.best
    assert best is not None, unit
    assert re.search(r"food|eat|meal|cook|dish|cuisine|dining|restaurant|culinar|drink", best.explanation, re.I), best
    assert best.score.sigma > 1.0 and best.score.ci_low > 0.0, best.score
    assert len(best.related_texts) >= 3
    assert res.helper.startswith("llama.cpp:qwen2.5-coder-1.5b")
    assert res.usage["completion_tokens"] > 0 and res.usage["calls"] >= 4
