"""Findings 7, 8 and 11 of issue 13: every byte sequence is a typed error or a right answer.

Each case is served in both forms (an SSE stream to a streamed request, a whole body to a
non-streamed one) and run on the four paths, without retries so the error itself shows.
"""

from __future__ import annotations

import json

import pytest

import terse

from .conftest import (
    LOAD_MARGIN,
    PATHS,
    SLACK,
    Conn,
    Hostile,
    Request,
    chunk,
    event,
    head,
    response,
    run_paths,
)

DEEP = 100_000


def _serve(stream_body: bytes, whole_body: bytes, status: int = 200, ctype: str = "") -> object:
    def script(conn: Conn, req: Request) -> None:
        if req.stream:
            conn.send(head(status, ctype or "text/event-stream") + stream_body)
        else:
            conn.send(response(status, whole_body, ctype or "application/json"))

    return script


def _run(server: Hostile) -> dict[str, object]:
    return run_paths(server, client_kw={"max_retries": 0}, call_kw={"deadline": 10})  # type: ignore[return-value]


def _done(*events: bytes) -> bytes:
    return b"".join(events) + event(chunk(finish="stop")) + b"data: [DONE]\n\n"


def _check(server: Hostile, error: type[BaseException], needle: str) -> None:
    results = run_paths(server, client_kw={"max_retries": 0}, call_kw={"deadline": 10})
    for path in PATHS:
        ran = results[path]
        assert isinstance(ran.error, error), (path, ran)
        assert needle in str(ran.error).lower(), (path, str(ran.error))
        assert ran.elapsed <= SLACK + LOAD_MARGIN, (path, ran.elapsed)


def test_deep_json_body(server: Hostile) -> None:
    deep = b"[" * DEEP + b"]" * DEEP
    server.script = _serve(b"data: " + deep + b"\n\n", deep)  # type: ignore[assignment]
    _check(server, terse.ProtocolError, "nested too deep")


def test_deep_json_inside_a_field_of_a_valid_completion(server: Hostile) -> None:
    deep = "[" * DEEP + "]" * DEEP
    good = {"choices": [{"index": 0, "message": {"content": "4"}, "finish_reason": "stop"}]}
    whole = json.dumps(good)[:-1].encode() + b', "usage": ' + deep.encode() + b"}"
    streamed = json.dumps(chunk(content="4"))[:-1].encode() + b', "extra": ' + deep.encode() + b"}"
    server.script = _serve(_done(b"data: " + streamed + b"\n\n"), whole)  # type: ignore[assignment]
    _check(server, terse.ProtocolError, "nested too deep")


def test_deep_json_error_body(server: Hostile) -> None:
    deep = b'{"error": ' + b"[" * DEEP + b"]" * DEEP + b"}"
    server.script = _serve(deep, deep, status=500, ctype="application/json")  # type: ignore[assignment]
    _check(server, terse.ServerError, "http 500")


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u0085"])
def test_unicode_line_breaks_inside_json_strings(server: Hostile, char: str) -> None:
    """Raw U+2028/U+2029/U+0085 are legal in a JSON string; only CR and LF end SSE lines."""
    answer = f"a{char}b"
    body = json.dumps(
        {"choices": [{"message": {"content": answer}, "finish_reason": "stop"}]},
        ensure_ascii=False,
    ).encode()
    streamed = _done(event(chunk(reasoning=f"x{char}y")), event(chunk(content=answer)))
    server.script = _serve(streamed, body)  # type: ignore[assignment]
    results = run_paths(server, client_kw={"max_retries": 0})
    for path in PATHS:
        ran = results[path]
        assert ran.answer is not None, (path, ran)
        assert ran.answer.text == answer


def test_sse_framing_cr_crlf_comments_and_multiline_data(server: Hostile) -> None:
    one = json.dumps(chunk(content="4"))
    half = one.index(", ") + 1  # multi-line data is joined with "\n": split between tokens
    streamed = (
        b": a comment\r\n\r\n"
        b"event: message\rid: 1\rretry: 10\r"
        b"data: " + one[:half].encode() + b"\r\ndata: " + one[half:].encode() + b"\r\n\r\n"
        b"data: " + json.dumps(chunk(finish="stop")).encode() + b"\r\rdata: [DONE]\r\n\r\n"
    )
    body = json.dumps({"choices": [{"message": {"content": "4"}, "finish_reason": "stop"}]})
    server.script = _serve(streamed, body.encode())  # type: ignore[assignment]
    results = run_paths(server, client_kw={"max_retries": 0})
    for path in PATHS:
        ran = results[path]
        assert ran.answer is not None, (path, ran)
        assert ran.answer.text == "4"


def test_html_page(server: Hostile) -> None:
    page = b"<!DOCTYPE html><html><body>Please log in</body></html>"
    server.script = _serve(page, page, ctype="text/html")  # type: ignore[assignment]
    _check(server, terse.ProtocolError, "html")


def test_html_page_labelled_as_an_event_stream(server: Hostile) -> None:
    page = b"<html><body>Gateway says hello</body></html>\n"
    server.script = _serve(page, page, ctype="text/event-stream")  # type: ignore[assignment]
    _check(server, terse.ProtocolError, "html")


@pytest.mark.parametrize(
    "line",
    [
        b'event: error\ndata: {"error": {"message": "model overloaded", "code": 503}}\n\n',
        b'error: {"code": 503, "message": "model overloaded", "type": "unavailable"}\n\n',
    ],
)
def test_error_event(server: Hostile, line: bytes) -> None:
    body = json.dumps({"error": {"message": "model overloaded"}}).encode()
    streamed = event(chunk(reasoning="Let me")) + line
    server.script = _serve(streamed, body)  # type: ignore[assignment]
    results = run_paths(
        server,
        client_kw={"max_retries": 0},
        paths=("sync-stream", "async-stream", "aiohttp-stream"),
    )
    for ran in results.values():
        assert isinstance(ran.error, terse.ServerError), ran
        assert ran.error.status == 503
        assert "model overloaded" in str(ran.error)


def test_invalid_utf8_is_the_same_error_streamed_and_whole(server: Hostile) -> None:
    bad = b'{"choices": [{"message": {"content": "caf\xe9"}, "finish_reason": "stop"}]}'
    streamed = _done(b'data: {"choices": [{"delta": {"content": "caf\xe9"}}]}\n\n')
    server.script = _serve(streamed, bad)  # type: ignore[assignment]
    _check(server, terse.ProtocolError, "invalid utf-8")
