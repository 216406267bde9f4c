"""What `terse serve` costs over talking to the upstream directly, same upstream, one run.

- added latency per non-stream request: p50 and p99 of proxy minus direct (ms), the two
  measured interleaved, request by request;
- per streamed chunk: seconds per chunk of a long streamed answer, proxy / direct;
- throughput at concurrency 64 (non-stream requests/s), proxy / direct.

The upstream is `terse.testing.FakeServer` (vLLM dialect: reasoning in its own field) in
this process; the proxy is ``terse serve`` in its own process (as deployed), so it does not
share this process's GIL with the fake and the client. The client is openai-python (sync
for latency and chunks, async for throughput). Targets (issue 17): <= 1 ms added p50,
<= 1.3x direct per chunk, >= 0.9x direct throughput. Peer proxies (LiteLLM's) are not
measured here: not installed.

Run: ``python benchmarks/bench_serve.py [--requests 300] [--chunks 2000]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

import openai
from _report import result

from terse.testing import FakeServer, Reply

USER = [{"role": "user", "content": "hi"}]


def start_proxy(upstream: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "terse._cli.main",
            "serve",
            "--upstream",
            upstream,
            "--port",
            "0",
            "--model",
            "m",
            "--log-level",
            "error",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = next(w for w in line.split() if w.startswith("http://"))
    return proc, url


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def latency(direct: openai.OpenAI, proxy: openai.OpenAI, n: int) -> tuple[float, float]:
    d: list[float] = []
    p: list[float] = []
    for _ in range(n):
        for client, out in ((direct, d), (proxy, p)):
            t0 = time.perf_counter()
            client.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
            out.append(time.perf_counter() - t0)
    added = [b - a for a, b in zip(d, p, strict=True)]
    print(
        f"non-stream latency  direct p50 {statistics.median(d) * 1e3:.2f} ms   "
        f"proxy p50 {statistics.median(p) * 1e3:.2f} ms"
    )
    return statistics.median(added) * 1e3, pct(p, 0.99) * 1e3 - pct(d, 0.99) * 1e3


def per_chunk(client: openai.OpenAI) -> float:
    t0 = time.perf_counter()
    chunks = 0
    for chunk in client.chat.completions.create(model="m", messages=USER, stream=True):  # type: ignore[arg-type]
        if chunk.choices and (
            chunk.choices[0].delta.content
            or getattr(chunk.choices[0].delta, "reasoning_content", None)
        ):
            chunks += 1
    return (time.perf_counter() - t0) / max(chunks, 1)


async def throughput(url: str, n: int, concurrency: int) -> float:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with openai.AsyncOpenAI(
        base_url=url,
        api_key="x",
        max_retries=0,
        timeout=120,
        http_client=openai.DefaultAsyncHttpxClient(limits=limits),
    ) as c:
        queue = list(range(n))

        async def worker() -> None:
            while queue:
                queue.pop()
                await c.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--chunks", type=int, default=2000)
    args = ap.parse_args()
    with FakeServer(dialect="vllm") as up:
        up.default = Reply(reasoning="Thinking briefly.", answer="ok")
        proc, url = start_proxy(up.base_url)
        try:
            direct = openai.OpenAI(base_url=up.base_url, api_key="x", max_retries=0)
            proxy = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
            latency(direct, proxy, 20)  # warm-up (the proxy probes the upstream once)
            p50, p99 = latency(direct, proxy, args.requests)
            print(f"added latency       p50 {p50:.2f} ms   p99 {p99:.2f} ms")
            result(
                "serve_added_latency_p50",
                p50,
                baseline="direct to the upstream",
                target="<=1",
                unit="ms",
            )
            result("serve_added_latency_p99", p99, baseline="direct to the upstream", unit="ms")

            up.default = Reply(reasoning="r " * 10, answer=" a" * args.chunks)
            d = statistics.median(per_chunk(direct) for _ in range(3))
            p = statistics.median(per_chunk(proxy) for _ in range(3))
            print(
                f"per chunk           direct {d * 1e6:.1f} us   proxy {p * 1e6:.1f} us   {p / d:.2f}x"
            )
            result("serve_per_chunk", p / d, baseline="direct stream", target="<=1.3")

            up.default = Reply(reasoning="Thinking briefly.", answer="ok")
            n = args.requests * 2
            td = asyncio.run(throughput(up.base_url, n, 64))
            tp = asyncio.run(throughput(url, n, 64))
            print(
                f"throughput @64      direct {td:.0f} req/s   proxy {tp:.0f} req/s   {tp / td:.2f}x"
            )
            result(
                "serve_throughput_c64", tp / td, baseline="direct at concurrency 64", target=">=0.9"
            )
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
