"""How fast terse.testing.FakeServer serves: requests/s (non-stream) and chunks/s (stream).

Baseline, measured in the same run: a *floor* server on the same raw asyncio transport,
in a background thread like the fake, that answers every request with a constant body
(or constant SSE chunks) and does nothing else. The ratio fake/floor says what the fake's
logic (routing, scripts, dialect rendering, accounting) costs over bare HTTP on asyncio.

Clients are raw HTTP/1.1 over a socket (keep-alive), run two ways: in a separate process
(the server's own capacity) and in a thread of the same process (what a test sees: the
client and the fake share the GIL). Rounds are interleaved fake/floor; figures are
medians.

Run: ``python benchmarks/bench_fake_server.py [--rounds 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from _raw_client import main as raw_client
from _report import result

from terse.testing import FakeServer, Reply, Runaway

REQUESTS = 2000
CHUNKS = 20000
CHAT = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
CLIENT = Path(__file__).with_name("_raw_client.py")
STREAM = json.dumps(
    {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "max_tokens": CHUNKS,
    }
).encode()


class _Floor(asyncio.Protocol):
    """Answers each request with a constant body or a constant stream of SSE chunks."""

    BODY = json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
        }
    ).encode()
    EVENT = b'data: {"id":"x","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"reasoning":" hmm"},"logprobs":null,"finish_reason":null}]}\n\n'

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, _, rest = self.buf.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            if len(rest) < length:
                return
            body, self.buf = rest[:length], rest[length:]
            if b'"stream": true' in body:
                asyncio.get_running_loop().create_task(self._stream())
            else:
                head = (
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
                    % len(self.BODY)
                )
                self.transport.write(head + self.BODY)

    async def _stream(self) -> None:
        # Eight frames per write and a yield between writes: the fake's own batching.
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        self.transport.write(head)
        batch = b"%x\r\n%b\r\n" % (len(self.EVENT), self.EVENT) * 8
        for _ in range(CHUNKS // 8):
            self.transport.write(batch)
            await asyncio.sleep(0)
        self.transport.write(b"0\r\n\r\n")


class FloorServer:
    """The baseline: `_Floor` on its own event loop in a background thread."""

    def __enter__(self) -> FloorServer:
        ready = threading.Event()

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            server = self.loop.run_until_complete(self.loop.create_server(_Floor, "127.0.0.1", 0))
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            self.loop.run_forever()
            server.close()
            self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def measure(port: int, mode: str, n: int, body: bytes, where: str) -> float:
    """Seconds for ``n`` requests (or one stream of ``n`` chunks) from a raw client."""
    if where == "another process":
        done = subprocess.run(
            [sys.executable, str(CLIENT), str(port), mode, str(n)],
            input=body,
            capture_output=True,
            check=True,
            timeout=120,
        )
        return float(done.stdout)
    result: list[float] = []
    t = threading.Thread(target=lambda: result.append(raw_client(port, mode, n, body)))
    t.start()
    t.join(120)
    return result[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    cases = [
        ("requests/s, non-stream", "requests", REQUESTS, CHAT),
        ("chunks/s, stream", "stream", CHUNKS, STREAM),
    ]
    rows = []
    with FakeServer("vllm") as fake, FloorServer() as floor:
        fake.default = Reply(answer="ok")
        for where in ("another process", "a thread"):
            for label, mode, n, body in cases:
                fake_t, floor_t = [], []
                for _ in range(rounds):
                    fake.default = Runaway() if mode == "stream" else Reply(answer="ok")
                    fake_t.append(measure(fake.port, mode, n, body, where))
                    floor_t.append(measure(floor.port, mode, n, body, where))
                f, b = statistics.median(fake_t), statistics.median(floor_t)
                rows.append((f"{label}, client in {where}", n / f, n / b, b / f))
        fake.wait_idle(10)
    print(f"{'':54} {'fake':>10} {'floor':>10} {'fake/floor':>11}")
    for label, fake_rate, floor_rate, ratio in rows:
        print(f"{label:54} {fake_rate:10,.0f} {floor_rate:10,.0f} {ratio:10.2f}x")
    print(
        f"(medians of {rounds} interleaved rounds; {REQUESTS} requests per round, {CHUNKS} chunks per stream)"
    )
    for label, _, _, ratio in rows:
        metric = (
            label.replace("/s", "").replace(", client in ", "_").replace(" ", "_").replace(",", "")
        )
        result(f"fake_{metric}_vs_floor", ratio, baseline="bare asyncio HTTP server (floor)")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.1f}s")
