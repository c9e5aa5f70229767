"""OpenAICompatLLM against a real (tiny, local) HTTP server: no mocks."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sasc.errors import HelperLLMError, HelperReplyError, HelperUnavailableError
from sasc.llm import OpenAICompatLLM, RetryingLLM, Sampling

SCHEMA = {"type": "object", "properties": {"theme": {"type": "string"}}, "required": ["theme"]}


def _ok(text: str) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    }


class FakeServer:
    """Answers /v1/chat/completions from a script of (status, body, delay_s) or a function."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.script: list[tuple[int, dict, float]] = []
        self.rule = None  # callable(body) -> (status, body) used when the script is empty
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                outer.requests.append(body)
                outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                if self.path != "/v1/chat/completions":
                    status, reply, delay = 404, {"error": {"message": "no such route"}}, 0.0
                elif outer.script:
                    status, reply, delay = outer.script.pop(0)
                else:
                    (status, reply), delay = outer.rule(body), 0.0
                time.sleep(delay)
                data = json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(
            target=lambda: self.httpd.serve_forever(poll_interval=0.05), daemon=True
        )


@pytest.fixture()
def server() -> Iterator[FakeServer]:
    srv = FakeServer()
    srv.rule = lambda body: (200, _ok("echo " + body["messages"][0]["content"]))
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def test_plain_completion_and_request_fields(server):
    llm = OpenAICompatLLM("m", base_url=server.url, api_key="secret")
    reply = llm.complete("hello", sampling=Sampling(temperature=0.2, top_p=0.9, max_tokens=7, seed=5))
    assert (reply.text, reply.prompt_tokens, reply.completion_tokens) == ("echo hello", 11, 3)
    body = server.requests[0]
    assert body["model"] == "m" and body["messages"] == [{"role": "user", "content": "hello"}]
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (0.2, 0.9, 7, 5)
    assert "response_format" not in body
    assert server.headers[0]["authorization"] == "Bearer secret"
    assert llm.name == "openai:m"


def test_json_schema_sent_as_response_format(server):
    server.rule = lambda body: (200, _ok('{"theme": "food"}'))
    llm = OpenAICompatLLM("m", base_url=server.url)
    assert json.loads(llm.complete("q", sampling=Sampling(), json_schema=SCHEMA).text)
    fmt = server.requests[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == SCHEMA


def test_schema_rejection_falls_back_and_is_remembered(server):
    def rule(body):
        if "response_format" in body:
            return 400, {"error": {"message": "response_format not supported"}}
        return 200, _ok("plain")

    server.rule = rule
    llm = OpenAICompatLLM("m", base_url=server.url)
    assert llm.complete("q", sampling=Sampling(), json_schema=SCHEMA).text == "plain"
    assert not llm.schema_supported
    assert llm.complete("q", sampling=Sampling(), json_schema=SCHEMA).text == "plain"
    assert ["response_format" in r for r in server.requests] == [True, False, False]


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_transient_statuses_are_unavailable(server, status):
    server.script = [(status, {"error": {"message": "busy"}}, 0.0)]
    llm = OpenAICompatLLM("m", base_url=server.url)
    with pytest.raises(HelperUnavailableError, match=str(status)):
        llm.complete("q", sampling=Sampling())


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retryable(server, status):
    server.script = [(status, {"error": {"message": "nope"}}, 0.0)]
    llm = OpenAICompatLLM("m", base_url=server.url)
    with pytest.raises(HelperLLMError, match=str(status)) as info:
        llm.complete("q", sampling=Sampling())
    assert not isinstance(info.value, HelperUnavailableError)


def test_empty_choices_is_reply_error(server):
    server.script = [(200, {**_ok("x"), "choices": []}, 0.0)]
    with pytest.raises(HelperReplyError):
        OpenAICompatLLM("m", base_url=server.url).complete("q", sampling=Sampling())


def test_timeout_is_unavailable(server):
    server.script = [(200, _ok("late"), 2.0)]
    llm = OpenAICompatLLM("m", base_url=server.url, timeout_s=0.3)
    with pytest.raises(HelperUnavailableError, match="timed out"):
        llm.complete("q", sampling=Sampling())


def test_connection_refused_is_unavailable():
    with socket.socket() as sock:  # a port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    llm = OpenAICompatLLM("m", base_url=f"http://127.0.0.1:{port}/v1", timeout_s=2)
    with pytest.raises(HelperUnavailableError, match="connect"):
        llm.complete("q", sampling=Sampling())


def test_retrying_over_flaky_server(server):
    server.script = [(503, {"error": {"message": "warming up"}}, 0.0)] * 2
    llm = RetryingLLM(OpenAICompatLLM("m", base_url=server.url), sleep=lambda s: None)
    assert llm.complete("q", sampling=Sampling()).text == "echo q"
    assert len(server.requests) == 3


def test_from_env_precedence():
    env = {
        "SASC_LLM_BASE_URL": "http://a/v1",
        "OPENAI_BASE_URL": "http://b/v1",
        "OPENAI_API_KEY": "k",
        "SASC_LLM_MODEL": "envmodel",
    }
    llm = OpenAICompatLLM.from_env(environ=env)
    assert (llm.model, llm.base_url) == ("envmodel", "http://a/v1")
    llm = OpenAICompatLLM.from_env("explicit", environ={"OPENAI_BASE_URL": "http://b/v1"})
    assert (llm.model, llm.base_url) == ("explicit", "http://b/v1")
