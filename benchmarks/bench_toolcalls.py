"""Tool-call parsing cost, as ratios against baselines measured in the same run.

Parse: µs per call of `terse.tools.parse_output` on an output holding 200 Hermes calls and
200 Qwen3-Coder XML calls, against ``json.loads`` of each call's JSON alone (the floor any
parser pays).
Stream: ns per chunk of `terse.tools.ToolCallStream.feed` on a realistic tool turn
(reasoning, a sentence, three calls with long arguments; 1-4-character chunks), against
`terse.Splitter.feed` on plain text of the same length and chunking.

Run: ``python benchmarks/bench_toolcalls.py``. Target: streaming with tool-call deltas
within 1.2x of plain-text streaming through `terse.Splitter`.

Where the stream's cost lies is printed too: per chunk in the reasoning and in the answer
(the calls), for `ToolCallStream`, for `terse.Splitter` on the same tool turn (the share
the splitter alone pays on call markup), for `ToolCallStream` and `terse.Splitter` on the
plain text (a tool turn answered in prose), and what reading and validating the turn's
three calls costs alone, spread over its chunks (a floor no intake goes under).
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Protocol

from _report import interleaved, result

from terse import Splitter
from terse.tools import ToolCallStream, parse_output

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "write_file",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                "required": ["path", "content"],
            },
        },
    }
]


class Feeder(Protocol):
    def feed(self, chunk: str, /) -> object: ...
    def finish(self) -> object: ...


WORDS = "Let me think about this file . The user wants a helper , so write it".split()
CODE = "def add(a, b):\n    return a + b  # sum\n\n"


def prose(n: int, seed: int) -> str:
    rnd = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < n:
        w = rnd.choice(WORDS) + " "
        out.append(w)
        size += len(w)
    return "".join(out)


def hermes(i: int) -> str:
    args = {"path": f"f{i}.py", "content": CODE * 3}
    return (
        "<tool_call>\n" + json.dumps({"name": "write_file", "arguments": args}) + "\n</tool_call>\n"
    )


def qwen_xml(i: int) -> str:
    return (
        f"<tool_call>\n<function=write_file>\n<parameter=path>\nf{i}.py\n</parameter>\n"
        f"<parameter=content>\n{CODE * 3}\n</parameter>\n</function>\n</tool_call>\n"
    )


def chunk(text: str, seed: int = 2) -> list[str]:
    rnd = random.Random(seed)
    out, i = [], 0
    while i < len(text):
        n = rnd.randint(1, 4)
        out.append(text[i : i + n])
        i += n
    return out


def main() -> None:
    # Parse cost per call.
    n = 200
    many_json = "<think>ok</think>\n" + "".join(hermes(i) for i in range(n))
    many_xml = "<think>ok</think>\n" + "".join(qwen_xml(i) for i in range(n))
    payloads = [json.dumps({"path": f"f{i}.py", "content": CODE * 3}) for i in range(n)]
    assert len(parse_output(many_json, TOOLS).calls) == n
    assert len(parse_output(many_xml, TOOLS).calls) == n
    t = interleaved(
        {
            "hermes": lambda: parse_output(many_json, TOOLS),
            "qwen_xml": lambda: parse_output(many_xml, TOOLS),
            "json.loads": lambda: [json.loads(p) for p in payloads],
        },
        rounds=30,
    )
    print(f"{'parse, per call':32} {'µs':>8} {'x json.loads':>13}")
    for k in ("hermes", "qwen_xml", "json.loads"):
        print(f"{k:32} {t[k] / n * 1e6:8.2f} {t[k] / t['json.loads']:13.2f}")
    result(
        "toolcall_parse_vs_json_loads",
        t["hermes"] / t["json.loads"],
        baseline="json.loads per call",
    )

    # Per-chunk stream cost.
    turn = (
        "<think>\n"
        + prose(3000, 1)
        + "\n</think>\n\nI will write the files.\n"
        + hermes(1)
        + hermes(2)
        + hermes(3)
    )
    plain = "<think>\n" + prose(3000, 1) + "\n</think>\n\n" + prose(len(turn) - 3020, 3)
    tool_chunks = chunk(turn)
    plain_chunks = chunk(plain)

    def stream_tools() -> None:
        s = ToolCallStream(TOOLS)
        for c in tool_chunks:
            s.feed(c)
        s.finish()

    def stream_plain() -> None:
        s = Splitter()
        for c in plain_chunks:
            s.feed(c)
        s.finish()

    check = ToolCallStream(TOOLS)
    for c in tool_chunks:
        check.feed(c)
    check.finish()
    assert len(check.result().calls) == 3
    t = interleaved({"tools": stream_tools, "plain": stream_plain}, rounds=40)
    per_tool = t["tools"] / len(tool_chunks) * 1e9
    per_plain = t["plain"] / len(plain_chunks) * 1e9
    print(f"\n{'stream, per chunk':32} {'ns':>8}")
    print(f"{'ToolCallStream (tool turn)':32} {per_tool:8.0f}")
    print(f"{'Splitter (plain text)':32} {per_plain:8.0f}")
    print(f"chunks: {len(tool_chunks)} vs {len(plain_chunks)}")

    # Where the cost lies: reasoning chunks and answer chunks, timed separately.
    def phases(make: Callable[[], Feeder], chunks: list[str]) -> tuple[float, float]:
        k, size = 0, 0
        while size < 3020:  # "<think>\n" and the reasoning prose
            size += len(chunks[k])
            k += 1
        first: list[float] = []
        rest: list[float] = []
        for _ in range(40):
            s = make()
            t0 = time.perf_counter()
            for c in chunks[:k]:
                s.feed(c)
            t1 = time.perf_counter()
            for c in chunks[k:]:
                s.feed(c)
            s.finish()
            t2 = time.perf_counter()
            first.append((t1 - t0) / k)
            rest.append((t2 - t1) / (len(chunks) - k))
        return statistics.median(first) * 1e9, statistics.median(rest) * 1e9

    rows = {
        "ToolCallStream (tool turn)": phases(lambda: ToolCallStream(TOOLS), tool_chunks),
        "Splitter (same tool turn)": phases(Splitter, tool_chunks),
        "ToolCallStream (plain text)": phases(lambda: ToolCallStream(TOOLS), plain_chunks),
        "Splitter (plain text)": phases(Splitter, plain_chunks),
    }
    print(f"\n{'per chunk, by phase':32} {'reasoning':>10} {'answer':>8}")
    for k, (r, a) in rows.items():
        print(f"{k:32} {r:10.0f} {a:8.0f}")

    # A floor no intake can go under: reading and validating the turn's three calls, whole
    # (`parse_output` on the calls, less `parse_output` on the same text without them),
    # spread over the turn's chunks.
    empty = "<think>ok</think>\nI will write the files.\n"
    calls = empty + hermes(1) + hermes(2) + hermes(3)
    t = interleaved(
        {"calls": lambda: parse_output(calls, TOOLS), "empty": lambda: parse_output(empty, TOOLS)},
        rounds=60,
    )
    floor = (t["calls"] - t["empty"]) / len(tool_chunks) * 1e9
    print(
        f"\nreading + validating the 3 calls: {floor:.0f} ns per chunk of the turn "
        f"({floor / per_plain:.2f}x the plain-text chunk)"
    )
    result(
        "toolcall_stream_vs_plain_splitter",
        per_tool / per_plain,
        baseline="Splitter.feed per chunk, plain text",
        target="<=1.2",
    )


if __name__ == "__main__":
    main()
