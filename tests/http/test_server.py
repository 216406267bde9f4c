"""terse._http.server: the h11-based HTTP/1.1 server, spoken to in raw bytes over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from terse._http.loopback import LoopbackServer
from terse._http.server import MAX_HEAD, Connection, Request


class Echo:
    """A handler: answers each request with its method, path, query and body as JSON.

    Paths choose hostile answers: ``/cut`` (a body short of its Content-Length),
    ``/stream`` (three chunks, properly ended), ``/drop`` (two chunks, then a hang-up),
    ``/hang`` (no answer until the client leaves).
    """

    def __init__(self) -> None:
        self.seen: list[Request] = []
        self.left = threading.Event()  # a /hang request saw its client go away

    async def __call__(self, conn: Connection, req: Request) -> None:
        self.seen.append(req)
        if req.error is not None:
            conn.respond(400, req.error.encode(), "text/plain", keep_alive=False)
            return
        if req.path == "/hang":
            await conn.wait_closed()
            self.left.set()
            return
        if req.path in ("/stream", "/drop"):
            conn.start_stream(200, "text/event-stream")
            for i in range(2):
                conn.send_chunk(b"data: %d\n\n" % i)
                await conn.drain()
            if req.path == "/drop":
                conn.hang_up()
                return
            conn.end_stream(b"data: [DONE]\n\n")
            return
        body = json.dumps(
            {"method": req.method, "path": req.path, "query": req.query, "body": req.body.decode()}
        ).encode()
        conn.respond(200, body, "application/json", cut_at=10 if req.path == "/cut" else None)


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
def server(echo: Echo) -> Iterator[LoopbackServer]:
    srv = LoopbackServer(echo, max_body=1000)
    srv.start()
    try:
        yield srv
    finally:
        srv.close()


def port(srv: LoopbackServer) -> int:
    assert srv.bound is not None
    return srv.bound[1]


def connect(srv: LoopbackServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port(srv), timeout=10)


def exchange(srv: LoopbackServer, data: bytes) -> bytes:
    """Send raw bytes, read until the server closes."""
    with socket.create_connection(("127.0.0.1", port(srv)), timeout=10) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def post(path: str, body: bytes, *extra: bytes, version: bytes = b"1.1") -> bytes:
    head = b"POST %b HTTP/%b\r\nhost: x\r\ncontent-length: %d\r\n" % (path, version, len(body))
    return head + b"".join(h + b"\r\n" for h in extra) + b"\r\n" + body


def test_pipelined_requests_on_one_connection_are_answered_in_order(
    server: LoopbackServer, echo: Echo
) -> None:
    response = exchange(
        server,
        post(b"/one?x=1", b"first") + post(b"/two", b"second", b"connection: close"),
    )
    assert response.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert response.index(b'"first"') < response.index(b'"second"')
    assert [(r.path, r.query, r.body, r.keep_alive) for r in echo.seen] == [
        ("/one", "x=1", b"first", True),
        ("/two", "", b"second", False),
    ]


def test_header_names_go_out_in_lower_case_even_those_h11_adds(server: LoopbackServer) -> None:
    response = exchange(server, post(b"/stream", b"", b"connection: close"))
    head = response.split(b"\r\n\r\n")[0]
    assert b"connection: close" in head.split(b"\r\n")
    assert b"transfer-encoding: chunked" in head.split(b"\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 200 OK"
    names = [line.partition(b":")[0] for line in head.split(b"\r\n")[1:]]
    assert names == [n.lower() for n in names]


def test_a_chunked_stream_reads_back_whole_with_http_client(server: LoopbackServer) -> None:
    with contextlib.closing(connect(server)) as conn:
        conn.request("POST", "/stream", b"")
        r = conn.getresponse()
        assert (r.getheader("transfer-encoding"), r.read()) == (
            "chunked",
            b"data: 0\n\ndata: 1\n\ndata: [DONE]\n\n",
        )
        conn.request("POST", "/after", b"again")  # the connection is still good
        assert json.loads(conn.getresponse().read())["body"] == "again"


def test_an_http_10_client_gets_a_close_delimited_stream(server: LoopbackServer) -> None:
    response = exchange(server, post(b"/stream", b"", version=b"1.0"))
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head
    assert b"connection: close" in head
    assert body == b"data: 0\n\ndata: 1\n\ndata: [DONE]\n\n"


def test_a_response_cut_short_of_its_content_length(server: LoopbackServer) -> None:
    with contextlib.closing(connect(server)) as conn:
        conn.request("POST", "/cut", b"x")
        r = conn.getresponse()
        with pytest.raises(http.client.IncompleteRead) as caught:
            r.read()
    assert len(caught.value.partial) == 10


def test_a_stream_abandoned_mid_body(server: LoopbackServer) -> None:
    with contextlib.closing(connect(server)) as conn:
        conn.request("POST", "/drop", b"")
        r = conn.getresponse()
        with pytest.raises(http.client.IncompleteRead) as caught:
            r.read()
    assert caught.value.partial == b"data: 0\n\ndata: 1\n\n"


def test_expect_100_continue_is_answered_before_the_body_is_sent(
    server: LoopbackServer,
) -> None:
    with socket.create_connection(("127.0.0.1", port(server)), timeout=10) as s:
        s.sendall(
            b"POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\nexpect: 100-continue\r\n\r\n"
        )
        assert s.recv(65536).startswith(b"HTTP/1.1 100 Continue\r\n")
        s.sendall(b"body")
        assert b'"body":"body"' in s.recv(65536).replace(b" ", b"")


@pytest.mark.parametrize(
    ("request_bytes", "words"),
    [
        (b"NONSENSE\r\n\r\n", b"request line"),
        (b"POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: ten\r\n\r\n", b"Content-Length"),
        (
            b"POST /x HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
            b"bad chunk size",
        ),
        # a head that grows past the cap without ending (one that ends is served, as before)
        (b"GET /x HTTP/1.1\r\nhost: x\r\nbig: " + b"a" * MAX_HEAD, b"too long"),
    ],
    ids=["request-line", "content-length", "chunk-size", "head-too-large"],
)
def test_malformed_requests_reach_the_handler_as_errors(
    server: LoopbackServer, echo: Echo, request_bytes: bytes, words: bytes
) -> None:
    response = exchange(server, request_bytes)
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert words in response
    [req] = echo.seen
    assert req.error
    assert not req.keep_alive


def test_a_declared_body_over_the_cap_is_refused_before_it_is_sent(
    server: LoopbackServer, echo: Echo
) -> None:
    with socket.create_connection(("127.0.0.1", port(server)), timeout=10) as s:
        s.sendall(b"POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 1001\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert echo.seen[0].error == "request body too large"
    assert echo.seen[0].path == "/x"


def test_the_cap_holds_for_chunks_and_allows_a_body_of_exactly_the_cap(
    server: LoopbackServer, echo: Echo
) -> None:
    def chunked(sizes: list[int]) -> bytes:
        head = b"POST /x HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        return head + b"".join(b"%x\r\n%b\r\n" % (n, b"y" * n) for n in sizes) + b"0\r\n\r\n"

    assert exchange(server, chunked([500, 500])).startswith(b"HTTP/1.1 200 OK")
    assert exchange(server, chunked([500, 500, 1])).startswith(b"HTTP/1.1 400 Bad Request")
    assert [len(r.body) for r in echo.seen] == [1000, 0]
    assert echo.seen[1].error == "request body too large"


def test_a_client_leaving_is_seen_at_once_and_close_stops_hanging_requests(
    echo: Echo,
) -> None:
    srv = LoopbackServer(echo)
    srv.start()
    try:
        with socket.create_connection(("127.0.0.1", port(srv)), timeout=10) as s:
            s.sendall(post(b"/hang", b""))
            time.sleep(0.05)
            assert not echo.left.is_set()
        assert echo.left.wait(5)
        hanging = socket.create_connection(("127.0.0.1", port(srv)), timeout=10)
        hanging.sendall(post(b"/hang", b""))
        deadline = time.monotonic() + 5
        while len(echo.seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
    finally:
        srv.close()
    assert time.monotonic() - started < 4  # a hanging request does not hold up close()
    assert srv.bound is None
    with hanging:
        assert hanging.recv(100) == b""  # the server's side is gone


def test_start_reports_a_bind_failure_and_refuses_a_second_start(echo: Echo) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="in use"):
            LoopbackServer(echo, port=taken.getsockname()[1]).start()
    srv = LoopbackServer(echo)
    srv.start()
    try:
        with pytest.raises(RuntimeError):
            srv.start()
    finally:
        srv.close()
    srv.close()  # closing twice is harmless


async def test_serves_an_async_caller_without_blocking_its_loop(
    server: LoopbackServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port(server))
    writer.write(post(b"/a", b"async", b"connection: close"))
    response = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert b'"async"' in response
