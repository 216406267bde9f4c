"""FakeServer survives every malformed request with a 400 and records it (issue 13, item 11).

Deep JSON, bad chunk sizes and garbage heads used to kill the connection's task ("Task
exception was never retrieved") with nothing recorded; a chunked body could be buffered
past the 64 MB cap. Each case here speaks raw bytes to the server over loopback.
"""

from __future__ import annotations

import gc
import json
import logging
import socket

import pytest

from terse.testing import FakeServer

DEEP = b"[" * 100_000 + b"]" * 100_000
HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"


def exchange(srv: FakeServer, request: bytes) -> bytes:
    """Send raw bytes, read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


@pytest.fixture
def srv(caplog: pytest.LogCaptureFixture) -> FakeServer:
    with caplog.at_level(logging.ERROR, logger="asyncio"), FakeServer("vllm") as server:
        yield server  # type: ignore[misc]
        server.wait_idle()
    gc.collect()  # an unretrieved task exception is reported when the task is collected
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]
    assert server.errors == []


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize(
    "body",
    [DEEP, b'{"model": "m", "messages": ' + DEEP + b"}", b'{"a": ' * 100_000],
    ids=["deep-array", "deep-field", "deep-unclosed"],
)
def test_deeply_nested_json_gets_400_and_is_recorded(
    srv: FakeServer, body: bytes, chunked: bool
) -> None:
    if chunked:
        framing = b"transfer-encoding: chunked\r\n\r\n%x\r\n%b\r\n0\r\n\r\n" % (len(body), body)
    else:
        framing = b"content-length: %d\r\n\r\n%b" % (len(body), body)
    response = exchange(srv, HEAD + b"connection: close\r\n" + framing)
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"JSON object" in response
    [rec] = srv.requests
    assert (rec.method, rec.path, rec.status, rec.body, rec.raw) == (
        "POST",
        "/v1/chat/completions",
        400,
        None,
        body,
    )


@pytest.mark.parametrize("size", [b"zz", b"-5", b"0x5", b"+5", b"1_0", b"", b"5 5"])
def test_a_bad_chunk_size_gets_400_and_is_recorded(srv: FakeServer, size: bytes) -> None:
    request = HEAD + b"transfer-encoding: chunked\r\n\r\n" + size + b"\r\nhello\r\n0\r\n\r\n"
    response = exchange(srv, request)
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"bad chunk size" in response
    [rec] = srv.requests
    assert (rec.method, rec.path, rec.status, rec.raw) == ("POST", "/v1/chat/completions", 400, b"")


def test_a_chunk_without_its_crlf_gets_400(srv: FakeServer) -> None:
    request = HEAD + b"transfer-encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"
    assert exchange(srv, request).startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert [r.status for r in srv.requests] == [400]


def test_a_garbage_head_is_recorded_too(srv: FakeServer) -> None:
    assert exchange(srv, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400 Bad Request\r\n")
    [rec] = srv.requests
    assert (rec.method, rec.status) == ("", 400)


def test_a_huge_declared_chunk_is_refused_before_any_of_it_is_buffered(srv: FakeServer) -> None:
    """The size line alone (80 MB announced, nothing sent) is enough to answer 400."""
    request = HEAD + b"transfer-encoding: chunked\r\n\r\n5000000\r\n"
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(request)  # and nothing more: the old code waited for 80 MB to arrive
        response = s.recv(65536)
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"too large" in response


def test_the_64_mb_cap_holds_for_the_sum_of_many_chunks(srv: FakeServer) -> None:
    mb = 1 << 20
    block = b"%x\r\n%b\r\n" % (mb, b"x" * mb)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
        s.sendall(HEAD + b"transfer-encoding: chunked\r\n\r\n")
        for _ in range(64):
            s.sendall(block)
        s.sendall(b"%x\r\n" % mb)  # the 65th megabyte is announced, not sent
        response = s.recv(65536)
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"too large" in response


def test_a_good_chunked_request_still_works(srv: FakeServer) -> None:
    payload = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    half = len(payload) // 2
    request = (
        HEAD
        + b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        + b"%x;ext=1\r\n%b\r\n%X\r\n%b\r\n0\r\n\r\n"
        % (half, payload[:half], len(payload) - half, payload[half:])
    )
    assert exchange(srv, request).startswith(b"HTTP/1.1 200 OK\r\n")
    assert srv.requests[0].body is not None
