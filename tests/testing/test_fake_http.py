"""FakeServer at the HTTP level: framing, keep-alive, endpoints per dialect, native llama.cpp."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

import httpx
import pytest

from terse.testing import DIALECTS, FakeServer, Reply, Runaway

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def connect(srv: FakeServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)


def post(
    conn: http.client.HTTPConnection, path: str, body: object, **headers: str
) -> http.client.HTTPResponse:
    conn.request("POST", path, json.dumps(body), {"content-type": "application/json", **headers})
    return conn.getresponse()


def raw_exchange(srv: FakeServer, request: bytes) -> bytes:
    """Send raw bytes, read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def sse_events(body: bytes) -> list[Any]:
    """The ``data:`` payloads of an SSE body, JSON-decoded except ``[DONE]``."""
    events: list[Any] = []
    for block in body.decode().split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: "):
                data = line[len("data: ") :]
                events.append(data if data == "[DONE]" else json.loads(data))
    return events


# --- framing ------------------------------------------------------------------------------


def test_keep_alive_serves_many_requests_on_one_connection() -> None:
    with FakeServer("vllm") as srv:
        conn = connect(srv)
        for _ in range(5):
            r = post(conn, "/v1/chat/completions", CHAT)
            assert r.status == 200
            r.read()
        streamed = post(conn, "/v1/chat/completions", {**CHAT, "stream": True})
        assert streamed.getheader("transfer-encoding") == "chunked"
        streamed.read()
        r = post(conn, "/v1/chat/completions", CHAT)
        r.read()
        conn.close()
    assert len(srv.requests) == 7


def test_non_stream_responses_have_an_exact_content_length() -> None:
    with FakeServer("llamacpp") as srv:
        conn = connect(srv)
        r = post(conn, "/v1/chat/completions", CHAT)
        body = r.read()
        conn.close()
    assert int(r.getheader("content-length") or -1) == len(body)
    assert r.getheader("content-type") == "application/json"
    json.loads(body)


def test_streams_are_chunked_sse_ending_with_done() -> None:
    with FakeServer("vllm") as srv:
        conn = connect(srv)
        r = post(conn, "/v1/chat/completions", {**CHAT, "stream": True})
        body = r.read()
        conn.close()
    assert r.getheader("content-type", "").startswith("text/event-stream")
    assert r.getheader("content-length") is None
    events = sse_events(body)
    assert events[-1] == "[DONE]"
    assert all(e["object"] == "chat.completion.chunk" for e in events[:-1])


def test_a_chunked_request_body_is_accepted() -> None:
    payload = json.dumps(CHAT).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n"
        b"connection: close\r\n\r\n" + b"%x\r\n%b\r\n0\r\n\r\n" % (len(payload), payload)
    )
    with FakeServer("vllm") as srv:
        response = raw_exchange(srv, request)
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"connection: close" in response
    assert srv.requests[0].body == CHAT


def test_a_garbled_request_gets_400_and_the_connection_closes() -> None:
    with FakeServer("vllm") as srv:
        response = raw_exchange(srv, b"NONSENSE\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_pipelined_requests_are_answered_in_order() -> None:
    one = json.dumps({**CHAT, "messages": [{"role": "user", "content": "first"}]}).encode()
    two = json.dumps({**CHAT, "messages": [{"role": "user", "content": "second"}]}).encode()

    def req(body: bytes, close: bool) -> bytes:
        extra = b"connection: close\r\n" if close else b""
        return (
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n%bcontent-length: %d\r\n\r\n%b"
            % (extra, len(body), body)
        )

    with FakeServer("vllm") as srv:
        srv.route("first", Reply(answer="one"))
        srv.route("second", Reply(answer="two"))
        response = raw_exchange(srv, req(one, False) + req(two, True))
    assert response.count(b"HTTP/1.1 200 OK") == 2
    assert response.index(b'"one"') < response.index(b'"two"')


def test_openrouter_streams_start_with_its_processing_comment() -> None:
    with FakeServer("openrouter") as srv:
        conn = connect(srv)
        body = post(conn, "/v1/chat/completions", {**CHAT, "stream": True}).read()
        conn.close()
    assert body.startswith(b": OPENROUTER PROCESSING\n\n")


# --- endpoints per dialect -------------------------------------------------------------------

INFO = [
    ("llamacpp", "/health", {"status": "ok"}),
    ("vllm", "/version", {"version": "0.26.0"}),
    ("vllm-transition", "/version", {"version": "0.11.2"}),
    ("vllm-old", "/version", {"version": "0.10.1"}),
]


@pytest.mark.parametrize(("name", "path", "expected"), INFO)
def test_info_endpoints_answer_as_the_server_does(
    name: str, path: str, expected: dict[str, Any]
) -> None:
    with FakeServer(name) as srv:
        r = httpx.get(srv.root_url + path, timeout=5)
    assert (r.status_code, r.json()) == (200, expected)


def test_llamacpp_props_report_the_template_and_build() -> None:
    with FakeServer("llamacpp") as srv:
        props = httpx.get(srv.root_url + "/props", timeout=5).json()
    assert props["build_info"] == "b1-0c1e570"
    assert "<|im_start|>assistant\\n<think>\\n" in props["chat_template"]


@pytest.mark.parametrize("strict", [False, True])
def test_sglang_server_info_reports_its_parser_and_strictness(strict: bool) -> None:
    with FakeServer("sglang", sglang_strict=strict) as srv:
        info = httpx.get(srv.root_url + "/server_info", timeout=5).json()
    assert (info["reasoning_parser"], info["enable_strict_thinking"]) == ("qwen3", strict)


MISSING = [
    ("vllm", "GET", "/props", {"detail": "Not Found"}),
    ("sglang", "GET", "/version", {"detail": "Not Found"}),
    (
        "llamacpp",
        "GET",
        "/version",
        {"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}},
    ),
    (
        "lmstudio",
        "GET",
        "/server_info",
        {"error": "Unexpected endpoint or method. (GET /server_info)"},
    ),
    ("deepseek", "POST", "/v1/completions", None),
    ("vllm", "POST", "/completion", {"detail": "Not Found"}),
    ("vllm", "GET", "/v1/chat/completions", {"detail": "Not Found"}),
    ("inline", "GET", "/nowhere", None),
]


@pytest.mark.parametrize(("name", "method", "path", "body"), MISSING)
def test_paths_the_real_server_lacks_are_404(
    name: str, method: str, path: str, body: object
) -> None:
    with FakeServer(name) as srv:
        r = httpx.request(
            method, srv.root_url + path, json={} if method == "POST" else None, timeout=5
        )
    assert r.status_code == 404
    if body is not None:
        assert r.json() == body


def test_ollama_404_is_plain_text() -> None:
    with FakeServer("ollama") as srv:
        r = httpx.get(srv.root_url + "/props", timeout=5)
    assert (r.status_code, r.text, r.headers["content-type"]) == (
        404,
        "404 page not found",
        "text/plain",
    )


def test_deepseek_serves_the_beta_prefix_path() -> None:
    with FakeServer("deepseek") as srv:
        r = httpx.post(srv.root_url + "/beta/chat/completions", json=CHAT, timeout=5)
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "JSON object"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"model": "m"}).encode(), "messages"),
        (json.dumps({**CHAT, "max_tokens": "ten"}).encode(), "max_tokens"),
        (json.dumps({**CHAT, "max_tokens": 0}).encode(), "max_tokens"),
    ],
)
def test_invalid_generation_requests_get_400_without_using_a_script(
    body: bytes, message: str
) -> None:
    with FakeServer("vllm") as srv:
        srv.push(Reply(answer="kept"))
        r = httpx.post(srv.base_url + "/chat/completions", content=body, timeout=5)
        assert srv.pending == 1
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "BadRequestError"
    assert message in r.json()["error"]["message"]


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_every_dialect_answers_chat_completions_and_models(name: str) -> None:
    with FakeServer(name) as srv:
        assert (
            httpx.post(srv.base_url + "/chat/completions", json=CHAT, timeout=5).status_code == 200
        )
        assert httpx.get(srv.base_url + "/models", timeout=5).status_code == 200


# --- llama.cpp native endpoints ---------------------------------------------------------------


def test_apply_template_renders_chatml_with_an_open_think_block() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "<think>\nold notes\n</think>\n\nHello!"},
        {"role": "user", "content": [{"type": "text", "text": "Capital of France?"}]},
    ]
    with FakeServer("llamacpp") as srv:
        on = httpx.post(
            srv.root_url + "/apply-template", json={"messages": messages}, timeout=5
        ).json()
        off = httpx.post(
            srv.root_url + "/apply-template",
            json={"messages": messages[:2], "chat_template_kwargs": {"enable_thinking": False}},
            timeout=5,
        ).json()
    assert on["prompt"] == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n\n\nHello!<|im_end|>\n"
        "<|im_start|>user\nCapital of France?<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n"
    )
    assert off["prompt"].endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")


def test_native_completion_streams_llamacpp_chunks_without_done() -> None:
    with FakeServer("llamacpp") as srv:
        srv.push(Reply(reasoning="hm", answer="Paris"))
        conn = connect(srv)
        body = post(
            conn, "/completion", {"prompt": "<think>\n", "n_predict": 50, "stream": True}
        ).read()
        conn.close()
    events = sse_events(body)
    assert "[DONE]" not in events
    partial, final = events[:-1], events[-1]
    assert all(e["stop"] is False and set(e) >= {"content", "tokens_predicted"} for e in partial)
    assert "".join(e["content"] for e in partial) == "hm\n</think>\n\nParis"
    assert (final["stop"], final["stop_type"], final["content"]) == (True, "eos", "")
    assert final["tokens_predicted"] == len(partial)
    assert "timings" in final


def test_native_completion_honours_n_predict() -> None:
    with FakeServer("llamacpp") as srv:
        srv.push(Runaway(token="x"))
        done = httpx.post(
            srv.root_url + "/completion", json={"prompt": "p", "n_predict": 9}, timeout=5
        ).json()
    assert (done["content"], done["stop_type"], done["tokens_predicted"]) == ("x" * 9, "limit", 9)


def test_native_completion_with_n_predict_minus_one_runs_to_the_context_length() -> None:
    with FakeServer("llamacpp", context_length=64) as srv:
        srv.push(Runaway())
        done = httpx.post(
            srv.root_url + "/completion", json={"prompt": "p", "n_predict": -1}, timeout=5
        ).json()
    assert done["tokens_predicted"] == 64
