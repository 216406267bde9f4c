"""A hostile HTTP server on 127.0.0.1 that writes exact bytes on a script, and helpers to
run one call on all four paths (`Client.ask`, `Client.stream`, `AsyncClient.ask`,
`AsyncClient.stream`) at once, timing each.

The server is raw sockets: one thread per connection reads the request head and body,
then runs the test's script, which writes bytes and sleeps as it likes (trickles, floods,
silence, never closing). Every script stops when the client goes away or the server is
closed, so no thread outlives its test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import terse

PATHS = ("sync-ask", "sync-stream", "async-ask", "async-stream", "aiohttp-ask", "aiohttp-stream")
"""Every way a call reaches a server: the sync and async clients over openai, asking and
streaming, and the async client over `terse serve`'s own upstream transport (aiohttp)."""

SLACK = 0.5
"""The stated slack: a call ends within its bound plus this (measured: see the report)."""

LOAD_MARGIN = 2.0
"""Added to every time bound in the tests, for a loaded 2-CPU machine; a real hang (the
old behaviour: 24 s to never) still fails."""


class Gone(Exception):
    """The client went away or the server closed: the script stops."""


@dataclass
class Request:
    method: str
    path: str
    body: dict[str, Any]
    number: int  # 1 for the first generation request the server saw, 2 for the next…

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


@dataclass
class Conn:
    sock: socket.socket
    closed: threading.Event

    def send(self, data: bytes) -> None:
        if self.closed.is_set():
            raise Gone
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise Gone from exc

    def sleep(self, seconds: float) -> None:
        if self.closed.wait(seconds):
            raise Gone

    def hold(self) -> None:
        """Keep the connection open and silent until the client leaves or the test ends."""
        self.sock.settimeout(0.05)
        while not self.closed.is_set():
            try:
                if self.sock.recv(1) == b"":
                    return
            except TimeoutError:
                continue
            except OSError:
                return


Script = Callable[[Conn, Request], None]


@dataclass
class Hostile:
    """The server. Set ``script`` (generation requests) and ``other`` (every other path)."""

    script: Script | None = None
    other: Script | None = None
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._handle, args=(sock,), daemon=True)
            t.start()
            self._threads.append(t)

    def _handle(self, sock: socket.socket) -> None:
        conn = Conn(sock, self._closed)
        try:
            sock.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                got = sock.recv(65536)
                if not got:
                    return
                data += got
            head, _, rest = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            while len(rest) < length:
                got = sock.recv(65536)
                if not got:
                    return
                rest += got
            body = json.loads(rest) if rest.strip() else {}
            generation = path.endswith("/completions")
            with self._lock:
                number = sum(1 for r in self.requests if r.path.endswith("/completions"))
                req = Request(method, path, body, number + 1 if generation else 0)
                self.requests.append(req)
            script = self.script if generation else self.other
            if script is None:
                conn.send(response(404, b'{"error":{"message":"not found"}}', "application/json"))
                return
            script(conn, req)
        except Gone:
            pass
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        self._accept.join(timeout=5)
        for t in self._threads:
            t.join(timeout=5)


# -- bytes ------------------------------------------------------------------------------------


def head(status: int = 200, ctype: str = "text/event-stream", length: int | None = None) -> bytes:
    """Response headers; without ``length`` the body runs until the connection closes."""
    lines = [f"HTTP/1.1 {status} X", f"content-type: {ctype}"]
    if length is None:
        lines.append("connection: close")
    else:
        lines.append(f"content-length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def response(status: int, body: bytes, ctype: str = "application/json") -> bytes:
    return head(status, ctype, len(body)) + body


def chunk(reasoning: str = "", content: str = "", finish: str | None = None) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if reasoning:
        delta["reasoning_content"] = reasoning
    if content:
        delta["content"] = content
    return {
        "id": "x",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def event(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


def completion(answer: str, reasoning: str = "") -> dict[str, Any]:
    message = {"role": "assistant", "content": answer}
    if reasoning:
        message["reasoning_content"] = reasoning
    return {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


def answer_script(answer: str, reasoning: str = "") -> Script:
    """A well-behaved reply in whichever form the request asked for."""

    def script(conn: Conn, req: Request) -> None:
        if req.stream:
            conn.send(head())
            if reasoning:
                conn.send(event(chunk(reasoning=reasoning)))
            conn.send(event(chunk(content=answer)))
            conn.send(event(chunk(finish="stop")))
            conn.send(b"data: [DONE]\n\n")
        else:
            body = json.dumps(completion(answer, reasoning)).encode()
            conn.send(response(200, body))

    return script


# -- running one call on every path -----------------------------------------------------------


@dataclass
class Ran:
    path: str
    elapsed: float
    answer: terse.Answer[Any] | None = None
    error: BaseException | None = None

    def root(self) -> BaseException | None:
        """The error, or for `RetriesExhausted` its last error."""
        err = self.error
        if isinstance(err, terse.RetriesExhausted) and err.last_error is not None:
            return err.last_error
        return err


def _sync(path: str, base_url: str, client_kw: dict[str, Any], call_kw: dict[str, Any]) -> Ran:
    start = time.monotonic()
    try:
        with terse.Client(base_url=base_url, model="m", **client_kw) as client:
            if path == "sync-ask":
                answer = client.ask("q", **call_kw)
            else:
                with client.stream("q", **call_kw) as s:
                    answer = s.get_answer()
        return Ran(path, time.monotonic() - start, answer=answer)
    except Exception as exc:
        return Ran(path, time.monotonic() - start, error=exc)


async def _async(
    path: str, base_url: str, client_kw: dict[str, Any], call_kw: dict[str, Any]
) -> Ran:
    start = time.monotonic()
    try:
        async with terse.AsyncClient(base_url=base_url, model="m", **client_kw) as client:
            lean = _aiohttp_transport(client) if path.startswith("aiohttp") else None
            try:
                if path.endswith("-ask"):
                    answer = await client.ask("q", **call_kw)
                else:
                    async with client.stream("q", **call_kw) as s:
                        answer = await s.get_answer()
            finally:
                if lean is not None:
                    await lean.aclose()
        return Ran(path, time.monotonic() - start, answer=answer)
    except Exception as exc:
        return Ran(path, time.monotonic() - start, error=exc)


def _aiohttp_transport(client: terse.AsyncClient) -> Any:
    """Put the proxy's upstream transport under ``client`` (as `terse serve` does)."""
    from terse.serve._upstream import AiohttpTransport

    lean = AiohttpTransport(
        client.base_url,
        api_key=client._openai.api_key,
        limits=client._limits,
        idle_timeout=client._idle_timeout,
    )
    client._transport = lean
    return lean


def run_paths(
    server: Hostile,
    client_kw: dict[str, Any] | None = None,
    call_kw: dict[str, Any] | None = None,
    paths: tuple[str, ...] = PATHS,
) -> dict[str, Ran]:
    """Run the same call on each path, concurrently (sync ones in threads), timing each."""
    client_kw = {"dialect": "openai-compatible", **(client_kw or {})}
    call_kw = call_kw or {}
    results: dict[str, Ran] = {}

    def sync_one(path: str) -> None:
        results[path] = _sync(path, server.base_url, client_kw, call_kw)

    def async_all() -> None:
        async def main() -> list[Ran]:
            wanted = [p for p in paths if not p.startswith("sync")]
            return list(
                await asyncio.gather(
                    *(_async(p, server.base_url, client_kw, call_kw) for p in wanted)
                )
            )

        for ran in asyncio.run(main()):
            results[ran.path] = ran

    threads = [threading.Thread(target=sync_one, args=(p,)) for p in paths if p.startswith("sync")]
    if any(not p.startswith("sync") for p in paths):
        threads.append(threading.Thread(target=async_all))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert set(results) == set(paths), f"a path hung: only {sorted(results)} returned"
    return results


@pytest.fixture
def server() -> Iterator[Hostile]:
    srv = Hostile()
    yield srv
    srv.close()
