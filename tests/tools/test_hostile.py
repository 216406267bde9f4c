"""Hostile inputs, streamed: the work stays linear in the text, and so does the memory.

Work is counted, not timed: every read of a block costs the text its reader is handed, so
the characters handed to readers while streaming measure the re-reading a block in
progress costs. Reading a growing block from its start on every chunk would cost the
square of its length; the scanner reads it again only when that can change the answer,
and past 4 KiB only after it grew by a quarter.
"""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

import terse.tools._scan as scan_module
from terse.tools import CallDone, ToolCallStream, parse_output

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
PRE = "<think>ok</think>"  # reasoning closed first: the answer streams as it arrives

# Each builds an answer of about n characters that keeps a block open (or opens many).
HOSTILE: dict[str, Callable[[int], str]] = {
    "openers": lambda n: "<tool_call>" * (n // 11),
    "closer_in_a_string": lambda n: (
        '<tool_call>{"name": "get_weather", "arguments": {"city": "' + "</tool_call>" * (n // 12)
    ),
    "unclosed_brackets": lambda n: '<tool_call>{"name": "get_weather", "arguments": ' + "[" * n,
    "brackets_closing": lambda n: '<tool_call>{"a": ' + "[]," * (n // 3),
    "mistral_braces_in_strings": lambda n: (
        '[TOOL_CALLS]get_weather[ARGS]{"city": "x", ' + '"k": "}",' * (n // 10)
    ),
    "xml_value_of_gt": lambda n: (
        "<tool_call>\n<function=get_weather>\n<parameter=city>\n" + "x>" * (n // 2)
    ),
    "fence_lines": lambda n: "```\n" * (n // 4),
    "pythonic_parens": lambda n: "[get_weather(city='" + "a)" * (n // 2),
    "bare_json_objects": lambda n: (
        '{"name": "get_weather", "arguments": {"city": ' + '{"a": 1}, ' * (n // 10)
    ),
    "section_closer_in_a_string": lambda n: (
        "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>"
        + '{"a": "<｜tool▁call▁end｜>' * (n // 24)
    ),
}


def _chunks(text: str, seed: int = 1) -> list[str]:
    rnd = random.Random(seed)
    out, i = [], 0
    while i < len(text):
        n = rnd.randint(1, 4)
        out.append(text[i : i + n])
        i += n
    return out


@contextmanager
def _counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Count the characters handed to block readers (the text after each opener)."""
    handed = [0]
    real = scan_module.read_block

    def counting(row, text, p, ctx):  # type: ignore[no-untyped-def]
        handed[0] += len(text) - p
        return real(row, text, p, ctx)

    with monkeypatch.context() as m:
        m.setattr(scan_module, "read_block", counting)
        yield handed


def _stream_work(raw: str, monkeypatch: pytest.MonkeyPatch) -> int:
    s = ToolCallStream([WEATHER])
    with _counted(monkeypatch) as handed:
        for c in _chunks(raw):
            s.feed(c)
    s.finish()
    whole = parse_output(raw, [WEATHER])
    assert s.result() == whole  # hostile or not, the stream gives what the whole text gives
    return handed[0]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_streaming_hostile_input_does_linear_work(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    small, large = PRE + HOSTILE[name](16_000), PRE + HOSTILE[name](64_000)
    w_small = _stream_work(small, monkeypatch)
    w_large = _stream_work(large, monkeypatch)
    # Re-reading from the start per chunk would hand readers ~n²/8 characters here (about
    # 500 000 000 for the large text); linear re-reading stays a small multiple of n.
    assert w_large <= 64 * len(large), (w_small, w_large)
    assert w_large <= 6 * max(w_small, len(small)), (w_small, w_large)  # 4x the text


def test_a_megabyte_of_openers_streams_in_bounded_memory() -> None:
    raw = PRE + "<tool_call>" * 95_000  # ~1 MB
    tracemalloc.start()
    try:
        s = ToolCallStream([WEATHER])
        for i in range(0, len(raw), 4096):
            s.feed(raw[i : i + 4096])
        s.finish()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not s.result().calls
    assert peak < 16 * len(raw), peak


def test_a_long_call_streamed_in_tiny_chunks_is_done_when_its_closer_arrives() -> None:
    # 200 KB of arguments in 1-4 character chunks: the block is not re-read per chunk, and
    # the call is complete as soon as its closer arrives (not only at the end).
    args = '{"city": "' + "Paris, " * 30_000 + '"}'
    raw = PRE + f'<tool_call>{{"name": "get_weather", "arguments": {args}}}</tool_call> ok'
    s = ToolCallStream([WEATHER])
    done_at = None
    fed = 0
    for c in _chunks(raw):
        fed += len(c)
        if any(isinstance(e, CallDone) for e in s.feed(c)) and done_at is None:
            done_at = fed
    s.finish()
    assert done_at is not None
    assert done_at >= raw.index("</tool_call>") + len("</tool_call>")
    assert done_at <= raw.index("</tool_call>") + len("</tool_call>") + 4
    assert s.result().calls[0].arguments["city"].startswith("Paris, Paris")
