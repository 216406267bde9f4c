"""terse._http.openai and .sse: the OpenAI output shapes, checked against openai's own types
and read back by the real openai client over loopback (as a proxy's clients will read them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from terse._http.loopback import LoopbackServer
from terse._http.openai import ChunkStream, completion, error_body, error_type, usage
from terse._http.server import Connection, Request
from terse._http.sse import DONE, comment, event, sse
from terse._wire.sse import SSEDecoder

USER = [{"role": "user", "content": "hi"}]


def events(data: bytes) -> list[str]:
    """The data of each event, as terse's own SSE reader sees it."""
    decoder = SSEDecoder()
    return [d for _, d in decoder.feed(data)] + [d for _, d in decoder.finish()]


def stream_events() -> list[bytes]:
    s = ChunkStream("chatcmpl-1", 1700000000, "m", {"system_fingerprint": "fp"})
    return [
        s.role(reasoning_content=""),
        s.delta({"reasoning_content": "Let me think."}),
        s.delta({"content": "Paris"}),
        *s.finish("stop", usage(5, 7, reasoning_tokens=3)),
    ]


def test_a_stream_is_role_first_then_deltas_finish_usage_and_done() -> None:
    data = b"".join(stream_events())
    raw = events(data)
    assert raw[-1] == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate(json.loads(d)) for d in raw[:-1]]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.id == "chatcmpl-1" and c.system_fingerprint == "fp" for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Paris"
    assert [c.choices[0].finish_reason for c in chunks if c.choices] == [None, None, None, "stop"]
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (
        5,
        7,
        12,
    )
    assert last.usage.completion_tokens_details is not None
    assert last.usage.completion_tokens_details.reasoning_tokens == 3


@given(st.dictionaries(st.sampled_from(["content", "reasoning_content"]), st.text(), min_size=1))
def test_the_fast_delta_is_byte_for_byte_the_plain_encoding(delta: dict[str, Any]) -> None:
    s = ChunkStream("id-\u00e9", 1, "m\u00fcdel", {"usage": None})
    assert s.delta(delta) == sse(s.chunk(delta))
    assert json.loads(s.delta(delta)[len(b"data: ") :]) == s.chunk(delta)


def test_a_whole_completion_and_usage_validate_as_openai_types() -> None:
    body = completion(
        "chatcmpl-2",
        1,
        "m",
        {"role": "assistant", "content": "Paris", "reasoning_content": "hm"},
        "stop",
        usage(3, 4, reasoning_tokens=1),
        system_fingerprint="fp",
    )
    parsed = ChatCompletion.model_validate(body)
    assert parsed.choices[0].message.content == "Paris"
    assert parsed.usage is not None
    assert parsed.usage.total_tokens == 7
    assert body["choices"][0]["message"]["reasoning_content"] == "hm"


def test_error_bodies_have_openais_shape_and_types() -> None:
    assert error_body(400, "bad 'x'", param="x") == {
        "error": {"message": "bad 'x'", "type": "invalid_request_error", "param": "x", "code": None}
    }
    assert [error_type(s) for s in (401, 404, 405, 413, 429, 500, 502, 504)] == [
        "authentication_error",
        "invalid_request_error",
        "invalid_request_error",
        "invalid_request_error",
        "rate_limit_error",
        "server_error",
        "server_error",
        "server_error",
    ]
    assert error_body(502, "upstream down", type="upstream_error", code="bad_gateway")["error"][
        "type"
    ] == ("upstream_error")


def test_sse_helpers() -> None:
    assert events(event(b"one\ntwo") + comment("keep\nalive") + DONE) == ["one\ntwo", "[DONE]"]
    assert comment("x") == b": x\n\n"


# --- read back by the openai client, over loopback ---------------------------------------------


async def _serve(conn: Connection, req: Request) -> None:
    body = json.loads(req.body)
    if body.get("model") == "missing":
        payload = json.dumps(error_body(404, "no such model", code="model_not_found")).encode()
        conn.respond(404, payload, "application/json")
        return
    if not body.get("stream"):
        message = {"role": "assistant", "content": "Paris"}
        payload = json.dumps(completion("c", 1, "m", message, "stop", usage(1, 1))).encode()
        conn.respond(200, payload, "application/json")
        return
    conn.start_stream(200, "text/event-stream")
    for e in stream_events():
        conn.send_chunk(e)
        await conn.drain()
    conn.end_stream()


@pytest.fixture
def base_url() -> Iterator[str]:
    srv = LoopbackServer(_serve)
    host, port = srv.start()
    try:
        yield f"http://{host}:{port}/v1"
    finally:
        srv.close()


def test_the_openai_client_reads_the_stream_and_the_errors(base_url: str) -> None:
    with openai.OpenAI(base_url=base_url, api_key="k", max_retries=0, timeout=10) as client:
        chunks = list(
            client.chat.completions.create(
                model="m",
                messages=USER,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        whole = client.chat.completions.create(model="m", messages=USER)
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.create(model="missing", messages=USER)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Paris"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 7
    assert whole.choices[0].message.content == "Paris"
    assert caught.value.code == "model_not_found"
    assert "no such model" in caught.value.message
