"""Batch jobs: throughput against the ideal, the cost of fsync, and memory as rows grow.

Throughput: 2,000 rows against `terse.testing.FakeServer` in its own process (as a real
server is), answering every request after 50 ms. The ideal is ``concurrency / latency``
rows per second. Baseline, measured in the same run and interleaved with the jobs: the
*ceiling* — the same `Client` asked about every row from a plain ``ThreadPoolExecutor``
with no journal, throttle or progress — which is what the client alone can do on this
machine. ``run/ceiling`` is what the job machinery costs; ``run/ideal`` is what a user
sees. Figures are medians over ``--rounds`` interleaved rounds.

fsync: the same job at concurrency 32 with each ``fsync`` policy, against ``"off"``.

Memory: a job over a JSONL file of 10k, 30k and 100k rows, each in a fresh process. With
an in-process client that answers at once (so the job itself is measured, at thousands of
rows a second) it reports the tracemalloc peak; with the real client over HTTP (server
latency 0) it reports peak RSS. What may grow is only the set of ids seen.

Run: ``python benchmarks/bench_batch.py [--rounds 3] [--quick] [--only throughput|memory]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _report import result
from pydantic import BaseModel

import terse
from terse._batch.api import arun_batch, run_batch
from terse._results import Answer, Attempt, Usage

ANSWER = '{"name": "Ann", "n": 1}'
SERVER = f"""
import sys
from terse.testing import FakeServer, Reply, SlowStart
srv = FakeServer("vllm")
srv.default = SlowStart(float(sys.argv[1]), then=Reply(reasoning="It names a person.", answer={ANSWER!r}))
with srv:
    print(srv.base_url, flush=True)
    sys.stdin.read()
"""
PROMPT = "Extract the person from: {text}"


class Rec(BaseModel):
    name: str
    n: int


def rows(n: int) -> Iterator[dict[str, Any]]:
    return ({"id": i, "text": f"Ann, {i % 90} years old, lives in town {i}."} for i in range(n))


@contextlib.contextmanager
def fake_server(latency: float) -> Iterator[str]:
    """A FakeServer in a child process; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def client(url: str) -> terse.Client:
    c = terse.Client(base_url=url, model="m", timeout=60.0)
    c.ask("warm up", response_model=Rec)  # token counter and pydantic caches, once
    return c


# -- throughput --------------------------------------------------------------------------------


def ceiling(url: str, concurrency: int, n: int, out: Path) -> float:
    with client(url) as c, ThreadPoolExecutor(concurrency) as pool:
        started = time.perf_counter()
        prompts = (PROMPT.format_map(row) for row in rows(n))
        for _ in pool.map(lambda p: c.ask(p, response_model=Rec, max_retries=0), prompts):
            pass
        return n / (time.perf_counter() - started)


def threads(url: str, concurrency: int, n: int, out: Path, fsync: str = "group") -> float:
    with client(url) as c:
        started = time.perf_counter()
        report = run_batch(
            rows(n),
            client=c,
            prompt=PROMPT,
            response_model=Rec,
            out=out,
            concurrency=concurrency,
            progress=False,
            fsync=fsync,  # type: ignore[arg-type]  # one of the three policies
            max_retries=0,
        )
        assert report.written == n, report
        return n / (time.perf_counter() - started)


def tasks(url: str, concurrency: int, n: int, out: Path) -> float:
    async def go() -> float:
        async with terse.AsyncClient(base_url=url, model="m", timeout=60.0) as c:
            await c.ask("warm up", response_model=Rec)
            started = time.perf_counter()
            report = await arun_batch(
                rows(n),
                client=c,
                prompt=PROMPT,
                response_model=Rec,
                out=out,
                concurrency=concurrency,
                progress=False,
                max_retries=0,
            )
            assert report.written == n, report
            return n / (time.perf_counter() - started)

    return asyncio.run(go())


def throughput(rounds: int, n: int, latency: float, levels: list[int]) -> None:
    runs: dict[str, Callable[..., float]] = {
        "ceiling": ceiling,
        "run_batch": threads,
        "arun_batch": tasks,
    }
    rates: dict[tuple[int, str], list[float]] = {}
    fsyncs: dict[str, list[float]] = {}
    with fake_server(latency) as url, tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for level in levels:
                for name, fn in runs.items():
                    out = Path(tmp, f"{name}-{level}-{r}.jsonl")
                    rates.setdefault((level, name), []).append(fn(url, level, n, out))
            for policy in ("off", "group", "row"):
                out = Path(tmp, f"fsync-{policy}-{r}.jsonl")
                fsyncs.setdefault(policy, []).append(threads(url, 32, n, out, policy))
    print(
        f"throughput: {n:,} rows, {latency * 1000:.0f} ms per request, server in its own process "
        f"(medians of {rounds} interleaved rounds)"
    )
    head = ("conc", "ideal/s", "ceiling/s", "run_batch/s", "arun_batch/s")
    print(
        "".join(f"{h:>13}" for h in head) + f"{'run/ideal':>11}{'run/ceil':>10}{'arun/ideal':>12}"
    )
    for level in levels:
        ideal = level / latency
        c, t, a = (statistics.median(rates[(level, k)]) for k in runs)
        cells = (level, f"{ideal:,.0f}", f"{c:,.0f}", f"{t:,.0f}", f"{a:,.0f}")
        print(
            "".join(f"{x:>13}" for x in cells)
            + f"{t / ideal:>11.2f}{t / c:>10.2f}{a / ideal:>12.2f}"
        )
        result(
            f"run_batch_c{level}_vs_ideal",
            t / ideal,
            baseline=f"concurrency/latency ({ideal:,.0f}/s)",
        )
        result(
            f"run_batch_c{level}_vs_ceiling", t / c, baseline="the same client from a thread pool"
        )
    base = statistics.median(fsyncs["off"])
    print("\nfsync policy at concurrency 32 (run_batch):")
    for policy in ("off", "group", "row"):
        rate = statistics.median(fsyncs[policy])
        print(f"  {policy:<6} {rate:>8,.0f} rows/s   {rate / base:.2f}x of off")
        if policy != "off":
            result(f"fsync_{policy}_vs_off", rate / base, baseline='fsync="off"')


# -- memory ------------------------------------------------------------------------------------


class InstantClient(terse.Client):
    """Answers every ask at once, in process: what is left to measure is the job itself."""

    def ask(self, prompt: Any, **kwargs: Any) -> Any:
        usage = Usage(prompt_tokens=40, reasoning_tokens=20, answer_tokens=10, total_tokens=70)
        return Answer(
            value=Rec(name="Ann", n=1),
            text=ANSWER,
            reasoning="It names a person.",
            finish_reason="stop",
            usage=usage,
            attempts=(Attempt(1, "ask", "ok", usage),),
            dialect="vllm",
        )


def memory_child(n: int, url: str | None) -> None:
    """One job over ``n`` rows in this fresh process; prints a JSON line of measurements."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp, "in.jsonl")
        with source.open("w") as f:
            for row in rows(n):
                f.write(json.dumps(row) + "\n")
        c = client(url) if url else InstantClient(base_url="http://127.0.0.1:9/v1", model="m")
        if not url:
            tracemalloc.start()
        started = time.perf_counter()
        run_batch(
            source,
            client=c,
            prompt=PROMPT,
            response_model=Rec,
            out=Path(tmp, "o.jsonl"),
            concurrency=32,
            progress=False,
            max_retries=0,
        )
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if not url else 0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak": peak, "rss": rss, "rate": n / elapsed}))


def measure_memory(n: int, url: str | None) -> dict[str, float]:
    args = [sys.executable, __file__, "--memory-child", str(n)] + (["--url", url] if url else [])
    done = subprocess.run(args, capture_output=True, text=True, timeout=1800, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def memory(sizes: list[int], http_sizes: list[int]) -> None:
    print("\nmemory: a job over a JSONL file, each size in a fresh process (concurrency 32)")
    instant = {n: measure_memory(n, None) for n in sizes}
    print("  instant in-process client (the job alone):")
    for n, m in instant.items():
        print(
            f"    {n:>8,} rows  tracemalloc peak {m['peak'] / 2**20:6.2f} MiB  "
            f"RSS {m['rss'] / 2**20:6.1f} MiB  {m['rate']:>7,.0f} rows/s"
        )
    lo, hi = min(sizes), max(sizes)
    per_row = (instant[hi]["peak"] - instant[lo]["peak"]) / (hi - lo)
    print(f"    growth {per_row:.0f} bytes per row (the set of ids seen)")
    result("memory_per_row", per_row, baseline="", unit="bytes")
    if http_sizes:
        print("  real Client over HTTP (FakeServer, latency 0):")
        with fake_server(0.0) as url:
            for n in http_sizes:
                m = measure_memory(n, url)
                print(
                    f"    {n:>8,} rows  RSS {m['rss'] / 2**20:6.1f} MiB  {m['rate']:>7,.0f} rows/s"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--quick", action="store_true", help="1 round, small memory runs")
    parser.add_argument("--only", choices=("throughput", "memory"), help="run one part")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.url)
        return
    started = time.perf_counter()
    rounds = 1 if args.quick else args.rounds
    if args.only != "memory":
        throughput(rounds, args.rows, args.latency, [8, 32, 128])
    if args.only != "throughput":
        memory([10_000, 30_000, 100_000], [10_000] if args.quick else [10_000, 100_000])
    print(f"\ntotal {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
