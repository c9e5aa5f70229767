"""Shared fixtures: tiny deterministic modules, a topical scripted helper, real MiniLM once per session,
real servers on port 0 (one per test module, or more inside a test) and a client of the module's server."""

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


def _start_server(folder, **settings):
    from server.app import start_server
    from server.config import ServerConfig

    return start_server(ServerConfig(port=0, db=str(folder / "s.db"), **settings))


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    """A real server on port 0 for the test module, with the module's ``SERVER_SETTINGS``
    (:class:`server.config.ServerConfig` fields; none: the defaults) and a fresh database."""
    srv = _start_server(tmp_path_factory.mktemp("server"), **getattr(request.module, "SERVER_SETTINGS", {}))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    """A client of the module's ``server``, without a token."""
    from sasc.client import Client

    with Client(server.target) as c:
        yield c


@pytest.fixture
def extra_server(tmp_path_factory):
    """``extra_server(**settings)`` starts one more real server on port 0 inside a test (own
    database); every server it started stops when the test ends."""
    started = []

    def start(**settings):
        started.append(_start_server(tmp_path_factory.mktemp("extra_server"), **settings))
        return started[-1]

    yield start
    for srv in started:
        srv.stop()
