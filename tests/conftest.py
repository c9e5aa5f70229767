"""Shared fixtures: tiny deterministic modules, a topical scripted helper, real MiniLM once per session."""

from __future__ import annotations

import pytest
from fakes import KeywordModule, topical_reply


@pytest.fixture
def keyword_module():
    return KeywordModule()


@pytest.fixture
def topical_helper():
    from sasc.llm import ScriptedLLM

    return ScriptedLLM(topical_reply)


@pytest.fixture(scope="session")
def minilm_food():
    """The real all-MiniLM-L6-v2 embedding-distance module for 'food' (loaded once)."""
    from sasc.modules.embedding import EmbeddingDistanceBank

    return EmbeddingDistanceBank(["food", "violence"])
