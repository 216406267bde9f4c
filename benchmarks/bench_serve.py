"""What `terse serve` costs over talking to the upstream directly, same upstream, one run.

- added latency per non-stream request: p50 and p99 of proxy minus direct (ms), the two
  measured interleaved, request by request;
- per streamed chunk: seconds per chunk of a long streamed answer, proxy / direct;
- throughput at concurrency 64 (non-stream requests/s), proxy / direct.

The upstream is `terse.testing.FakeServer` (vLLM dialect: reasoning in its own field) in
this process; the proxy is ``terse serve`` in its own process (as deployed), so it does not
share this process's GIL with the fake and the client. The client is openai-python (sync
for latency and chunks, async for throughput). Targets (issue 17): <= 1 ms added p50,
<= 1.3x direct per chunk, >= 0.9x direct throughput.

The peer: LiteLLM's proxy, measured side by side when given its ``litellm`` executable
(``--litellm PATH``, or ``$TERSE_BENCH_LITELLM``): it is started in front of the same
FakeServer (one worker, settings in `_litellm.py`) and measured with the same three
figures, interleaved with direct and terse (``serve_litellm_*`` rows). Install it in a venv
of its own, never terse's: ``python3 -m venv /work/litellm-venv &&
/work/litellm-venv/bin/pip install 'litellm[proxy]'``. Without it, only terse is measured.

Run: ``python benchmarks/bench_serve.py [--requests 300] [--chunks 2000]
[--litellm /work/litellm-venv/bin/litellm]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

import _litellm
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


# -- the measures: direct and every proxy in turn, request by request --------------------------

PREFIX = {"terse": "serve", "litellm": "serve_litellm"}  # RESULT rows: serve_*, serve_litellm_*
TARGETS = {  # issue 17's targets, for terse's rows (a peer's rows have none)
    "serve_added_latency_p50": "<=1",
    "serve_per_chunk": "<=1.3",
    "serve_throughput_c64": ">=0.9",
}


def latency(
    direct: openai.OpenAI, proxies: dict[str, openai.OpenAI], n: int
) -> dict[str, tuple[float, float]]:
    """Added ms (p50 of the per-round difference, p99 minus direct's p99) for each proxy.

    Each proxy is measured against direct in a block of its own: one request to each per
    round, the order alternating, so neither always goes first. Blocks rather than one
    three-way round: a peer that keeps working after it answered (LiteLLM logs and books
    each request in the background) would otherwise take the CPU from the next target's
    request on a small machine, and the figure would be the peer's, not the target's.
    """
    out = {}
    for name, proxy in proxies.items():
        d: list[float] = []
        p: list[float] = []
        for i in range(n):
            pair = ((direct, d), (proxy, p)) if i % 2 == 0 else ((proxy, p), (direct, d))
            for client, times in pair:
                t0 = time.perf_counter()
                client.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
                times.append(time.perf_counter() - t0)
        print(
            f"non-stream latency  direct p50 {statistics.median(d) * 1e3:.2f} ms   "
            f"{name} p50 {statistics.median(p) * 1e3:.2f} ms"
        )
        added = [b - a for a, b in zip(d, p, strict=True)]
        out[name] = (statistics.median(added) * 1e3, pct(p, 0.99) * 1e3 - pct(d, 0.99) * 1e3)
    return out


def stream_time(client: openai.OpenAI) -> tuple[float, int]:
    """Seconds to read one streamed reply, and the chunks that carried text."""
    t0 = time.perf_counter()
    chunks = 0
    for chunk in client.chat.completions.create(model="m", messages=USER, stream=True):  # type: ignore[arg-type]
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta is not None and (
            delta.content
            or getattr(delta, "reasoning_content", None)
            or getattr(delta, "reasoning", None)  # vLLM's field, as the upstream sends it
        ):
            chunks += 1
    return time.perf_counter() - t0, chunks


def per_chunk(
    direct: openai.OpenAI, proxies: dict[str, openai.OpenAI], rounds: int
) -> dict[str, float]:
    """Seconds per upstream chunk for direct and each proxy (median of interleaved rounds).

    The divisor is the chunk count direct reads (the upstream's), for every target, so a
    proxy that merged or split chunks is not flattered or penalised by its own count.
    """
    clients = {"direct": direct, **proxies}
    times: dict[str, list[float]] = {k: [] for k in clients}
    counts: dict[str, int] = {}
    for _ in range(rounds):
        for name, client in clients.items():
            seconds, counts[name] = stream_time(client)
            times[name].append(seconds)
    for name, n in counts.items():
        if n != counts["direct"]:
            print(f"  note: {name} delivered {n} text chunks, direct {counts['direct']}")
    return {k: statistics.median(v) / max(counts["direct"], 1) for k, v in times.items()}


async def throughput(url: str, n: int, concurrency: int, key: str = "x") -> float:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with openai.AsyncOpenAI(
        base_url=url,
        api_key=key,
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


def throughputs(targets: dict[str, tuple[str, str]], n: int, rounds: int) -> dict[str, float]:
    """Requests/s at concurrency 64 per target (median of rounds; order reversed each round)."""
    rates: dict[str, list[float]] = {k: [] for k in targets}
    names = list(targets)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            url, key = targets[name]
            rates[name].append(asyncio.run(throughput(url, n, 64, key)))
    return {k: statistics.median(v) for k, v in rates.items()}


# -- the run ------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--chunks", type=int, default=2000)
    ap.add_argument(
        "--rounds", type=int, default=1, help="throughput runs per target, order alternating"
    )
    ap.add_argument(
        "--litellm",
        metavar="PATH",
        default=None,
        help=f"LiteLLM's litellm executable, to measure its proxy side by side (or ${_litellm.ENV})",
    )
    args = ap.parse_args()
    exe = _litellm.executable(args.litellm)
    with FakeServer(dialect="vllm") as up:
        up.default = Reply(reasoning="Thinking briefly.", answer="ok")
        proc, url = start_proxy(up.base_url)
        peer = _litellm.start(exe, {"m": ("openai/m", up.base_url)}) if exe else None
        try:
            targets = {"direct": (up.base_url, "x"), "terse": (url, "x")}
            if peer is not None:
                print(f"peer: LiteLLM {_litellm.version(exe or '')} proxy at {peer.url}")
                targets["litellm"] = (peer.url, peer.key)
            clients = {
                k: openai.OpenAI(base_url=u, api_key=key, max_retries=0)
                for k, (u, key) in targets.items()
            }
            direct = clients.pop("direct")
            latency(direct, clients, 20)  # warm-up (the proxy probes the upstream once)
            added = latency(direct, clients, args.requests)
            for name, (p50, p99) in added.items():
                print(f"added latency       {name:8} p50 {p50:.2f} ms   p99 {p99:.2f} ms")
                metric = f"{PREFIX[name]}_added_latency_p50"
                result(
                    metric,
                    p50,
                    baseline="direct to the upstream",
                    target=TARGETS.get(metric, ""),
                    unit="ms",
                )
                result(
                    f"{PREFIX[name]}_added_latency_p99",
                    p99,
                    baseline="direct to the upstream",
                    unit="ms",
                )

            up.default = Reply(reasoning="r " * 10, answer=" a" * args.chunks)
            chunk = per_chunk(direct, clients, 3)
            d = chunk["direct"]
            for name in clients:
                p = chunk[name]
                print(
                    f"per chunk           {name:8} direct {d * 1e6:.1f} us   "
                    f"proxy {p * 1e6:.1f} us   {p / d:.2f}x"
                )
                metric = f"{PREFIX[name]}_per_chunk"
                result(metric, p / d, baseline="direct stream", target=TARGETS.get(metric, ""))

            up.default = Reply(reasoning="Thinking briefly.", answer="ok")
            rates = throughputs(targets, args.requests * 2, args.rounds)
            td = rates["direct"]
            for name in clients:
                tp = rates[name]
                print(
                    f"throughput @64      {name:8} direct {td:.0f} req/s   "
                    f"proxy {tp:.0f} req/s   {tp / td:.2f}x"
                )
                metric = f"{PREFIX[name]}_throughput_c64"
                result(
                    metric,
                    tp / td,
                    baseline="direct at concurrency 64",
                    target=TARGETS.get(metric, ""),
                )
        finally:
            if peer is not None:
                peer.stop()
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
