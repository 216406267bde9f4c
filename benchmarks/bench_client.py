"""terse's client overhead, side by side with the openai client on loopback.

The fake server runs in a separate process (so it does not share the GIL with the
clients being measured), and every figure is a median of interleaved runs.

1. Non-streamed call: ``terse.Client.ask()`` vs bare ``openai.chat.completions.create()``
   (target: ask <= 1.05x).
2. A 5,000-chunk reasoning stream: ``terse.Client.stream()`` vs iterating openai's own
   ``Stream`` (target: terse >= 5x faster) and vs raw HTTP line iteration with
   ``json.loads`` per line (target: terse <= 1.5x of that floor).

3. The same call and stream through terse's driver as it was before issue 13 (openai's
   ``iter_lines`` read in the caller's thread, no clock while reading), side by side with
   today's (the blocking I/O in a worker thread handing raw byte chunks over, the deadline,
   idle timeout and budget seconds checked while waiting, SSE framed on bytes): the cost
   of holding the clock (target: within 1.1x).

Run: ``python benchmarks/bench_client.py``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from collections.abc import Callable
from typing import Any

import openai
from _report import interleaved, result

import terse

CHUNKS = 5000


class _BeforeIssue13(terse.Client):
    """terse's sync driver before issue 13, kept to measure today's against it."""

    def _perform(self, call: Any, settings: Any, box: list[Any]) -> Any:
        asm = self._assembler(call, settings)
        resource, kwargs = self._transport._create_args(call)  # type: ignore[attr-defined]
        with resource.create(**kwargs) as response:
            if call.stream:
                for line in response.iter_lines():
                    events = asm.feed_line(line)
                    if events:
                        yield from events
                    if asm.cut or asm.check_time():
                        break
            else:
                asm.feed_body(json.loads(response.read()))
        yield from asm.flush()
        box.append(asm.result())


def _serve(port_out: Any, stop: Any, stream_tokens: int) -> None:
    from terse.testing import FakeServer, Reply

    reasoning = " think" * stream_tokens
    with FakeServer(dialect="vllm") as srv:
        srv.route("STREAM", Reply(reasoning=reasoning, answer="done"))
        srv.default = Reply(reasoning="Short thought.", answer="Paris")
        port_out.put(srv.base_url)
        stop.wait()


def raw_line_client() -> Callable[[str, dict[str, Any]], int]:
    """POST and iterate SSE lines with json.loads: the floor any client must pay."""
    try:
        import httpx as http
    except ImportError:  # openai 3.x installs httpx2 only
        import httpx2 as http  # type: ignore[import-not-found,no-redef]  # optional

    session = http.Client(timeout=30)

    def run(url: str, body: dict[str, Any]) -> int:
        n = 0
        with session.stream("POST", url, json=body) as r:
            for line in r.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    obj = json.loads(line[6:])
                    choices = obj.get("choices") or [{}]
                    delta = choices[0].get("delta") or {}
                    if delta.get("reasoning") or delta.get("content"):
                        n += 1
        return n

    return run


def main() -> None:
    ctx = mp.get_context("spawn")
    port_q: Any = ctx.Queue()
    stop = ctx.Event()
    proc = ctx.Process(target=_serve, args=(port_q, stop, CHUNKS), daemon=True)
    proc.start()
    base_url = port_q.get(timeout=30)
    try:
        oa = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0)
        client = terse.Client(oa, model="m", dialect="vllm", thinking_open=False)
        before = _BeforeIssue13(oa, model="m", dialect="vllm", thinking_open=False)
        msgs: list[Any] = [{"role": "user", "content": "capital of France?"}]

        for _ in range(50):  # warm up connections and caches
            oa.chat.completions.create(model="m", messages=msgs, max_tokens=64)
            client.ask("capital of France?", max_tokens=64)

        def bare() -> None:
            for _ in range(20):
                oa.chat.completions.create(model="m", messages=msgs, max_tokens=64)

        def ask() -> None:
            for _ in range(20):
                client.ask("capital of France?", max_tokens=64)

        def ask_before() -> None:
            for _ in range(20):
                before.ask("capital of France?", max_tokens=64)

        call = interleaved(
            {"openai create()": bare, "terse ask()": ask, "ask() before #13": ask_before},
            rounds=40,
        )
        print("non-streamed call on loopback (20 calls per round, median of 40 rounds)")
        for name, t in call.items():
            print(f"  {name:24s} {t / 20 * 1e6:8.0f} us/call")
        ask_ratio = call["terse ask()"] / call["openai create()"]
        print(f"  ratio ask/create: {ask_ratio:.3f}x (target <= 1.05x)")
        result(
            "ask_vs_create", ask_ratio, baseline="openai chat.completions.create()", target="<=1.05"
        )
        clock_ask = call["terse ask()"] / call["ask() before #13"]
        print(f"  ratio ask/ask before issue 13: {clock_ask:.3f}x (target <= 1.1x)")
        result(
            "ask_vs_before_clock", clock_ask, baseline="terse ask() before issue 13", target="<=1.1"
        )

        stream_msgs: list[Any] = [{"role": "user", "content": "STREAM please"}]
        raw = raw_line_client()
        url = base_url + "/chat/completions"
        body = {"model": "m", "messages": stream_msgs, "stream": True, "max_tokens": CHUNKS + 10}

        def openai_stream() -> None:
            n = 0
            for chunk in oa.chat.completions.create(
                model="m", messages=stream_msgs, stream=True, max_tokens=CHUNKS + 10
            ):
                if chunk.choices:
                    n += 1
            assert n >= CHUNKS

        def terse_stream() -> None:
            with client.stream("STREAM please", max_tokens=CHUNKS + 10) as s:
                n = sum(1 for e in s if isinstance(e, terse.ReasoningDelta))
            assert n >= CHUNKS

        def raw_lines() -> None:
            assert raw(url, body) >= CHUNKS

        def stream_before() -> None:
            with before.stream("STREAM please", max_tokens=CHUNKS + 10) as s:
                n = sum(1 for e in s if isinstance(e, terse.ReasoningDelta))
            assert n >= CHUNKS

        st = interleaved(
            {
                "openai Stream": openai_stream,
                "terse stream()": terse_stream,
                "stream() before #13": stream_before,
                "raw lines": raw_lines,
            },
            rounds=9,
        )
        print(f"\n{CHUNKS}-chunk reasoning stream (median of 9 interleaved rounds)")
        for name, t in st.items():
            print(f"  {name:24s} {t / CHUNKS * 1e6:8.2f} us/chunk")
        faster = st["openai Stream"] / st["terse stream()"]
        floor = st["terse stream()"] / st["raw lines"]
        print(f"  terse vs openai Stream: {faster:.1f}x faster (target >= 5x)")
        print(f"  terse vs raw lines:     {floor:.2f}x (target <= 1.5x)")
        result(
            "stream_speedup_vs_openai", faster, baseline="openai's Stream iterator", target=">=5"
        )
        result("stream_vs_raw_lines", floor, baseline="raw SSE lines + json.loads", target="<=1.5")
        clock_stream = st["terse stream()"] / st["stream() before #13"]
        print(f"  terse vs before issue 13: {clock_stream:.2f}x per chunk (target <= 1.1x)")
        result(
            "stream_vs_before_clock",
            clock_stream,
            baseline="terse stream() before issue 13",
            target="<=1.1",
        )
    finally:
        stop.set()
        proc.join(timeout=10)


if __name__ == "__main__":
    main()
