"""`ToolCallStream.feed`'s fast paths change nothing: chunk for chunk, they return the
events the general path (the splitter, then the scanners) returns, and the same result.

The fast paths: known plain reasoning chunks taken with one lookup (`_Hot`: held
whitespace and a held partial opener are part of its state), plain reasoning past the
splitter (`reasoning_passthrough`), and mid-line answer text past the splitter
(`answer_passthrough`). Their edges are where a chunk ends in half an opener, an opener
or a delimiter is split over chunks, a fence opens, or whitespace is held.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terse.tools import (
    CallDone,
    InlineEvent,
    ReasoningText,
    TextDelta,
    ToolCallStream,
    _hot,
    parse_output,
)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
DRAFT = 'functools[{"name": "get_weather", "arguments": {"city": "Rome"}}]'


class GeneralPath(ToolCallStream):
    """The same engine with every fast path off: each chunk takes the general path."""

    def _set_fast(self) -> None:
        super()._set_fast()
        self._rfast = self._afast = False
        self._hot = _hot.OFF


def run(cls: type[ToolCallStream], chunks: list[str], **kw: Any) -> tuple[list[Any], Any]:
    s = cls([WEATHER], **kw)
    events: list[list[InlineEvent]] = [s.feed(c) for c in chunks]
    events.append(s.finish())
    return events, s.result()


def assert_same(chunks: list[str], **kw: Any) -> list[list[InlineEvent]]:
    expected = run(GeneralPath, chunks, **kw)
    # Twice: the second stream finds the first one's chunks in the shared caches.
    assert run(ToolCallStream, chunks, **kw) == expected
    assert run(ToolCallStream, chunks, **kw) == expected
    assert expected[1] == parse_output("".join(chunks), [WEATHER], **kw)
    return expected[0]


def cut(text: str, sizes: list[int]) -> list[str]:
    out, i, k = [], 0, 0
    while i < len(text):
        n = sizes[k % len(sizes)]
        out.append(text[i : i + n])
        i += n
        k += 1
    return out


def reasoning(events: list[list[InlineEvent]]) -> str:
    return "".join(e.text for es in events for e in es if isinstance(e, ReasoningText))


def test_known_reasoning_chunks_keep_held_whitespace() -> None:
    text = "<think>\nLet  me  think \t about   this .\n</think>\n\nDone."
    events = assert_same(cut(text, [1, 2, 3, 4]))
    assert reasoning(events) == "Let  me  think \t about   this ."


def test_a_chunk_ending_in_half_an_opener_is_held_across_the_hot_path() -> None:
    # "f" may start "functools" (Phi-4's opener): held, then released or read as a draft.
    plain = "<think>\nthe file is fine, f\n</think>\n\nok"
    assert reasoning(assert_same(cut(plain, [1, 3, 2, 4]))) == "the file is fine, f"
    drafted = f"<think>\nfirst a file, then {DRAFT}\n</think>\n\nok"
    for sizes in ([1], [2, 3], [4, 1, 2], [17]):
        events = assert_same(cut(drafted, sizes))
        assert not [e for es in events for e in es if isinstance(e, CallDone)]
    assert parse_output(drafted, [WEATHER]).drafts[0].arguments == {"city": "Rome"}


def test_an_opener_split_over_chunks_in_the_answer() -> None:
    text = "<think>\nok\n</think>\n\nLet me check the weather now. " + CALL + "\nThen done."
    for sizes in ([1], [2], [3, 1], [4, 2, 1], [5]):
        events = assert_same(cut(text, sizes))
        assert [e.call.name for es in events for e in es if isinstance(e, CallDone)] == [
            "get_weather"
        ]


def test_answer_text_ending_in_half_an_opener_or_an_end_token() -> None:
    for tail in ("<tool_", "<tool_call", "<|end|>", "<|", "</think>", "  \t "):
        text = "<think>\nok\n</think>\n\nplain answer text " + tail
        events = assert_same(cut(text, [1, 2, 3]))
        whole = parse_output(text, [WEATHER])
        joined = "".join(e.text for es in events for e in es if isinstance(e, TextDelta))
        assert joined == whole.text


def test_markup_in_a_code_fence_stays_text() -> None:
    text = "<think>\nok\n</think>\n\nExample:\n```\n" + CALL + "\n```\nno call above. " + CALL
    for sizes in ([1], [3, 1, 2], [4]):
        events = assert_same(cut(text, sizes))
        assert len([e for es in events for e in es if isinstance(e, CallDone)]) == 1


def test_open_reasoning_and_close_only_output() -> None:
    text = "plain thinking without a tag, f and more\n</think>\n\nanswer " + CALL
    for thinking_open in (None, True, False):
        assert_same(cut(text, [1, 2, 4]), thinking_open=thinking_open)


def test_a_non_str_chunk_is_refused_on_every_path() -> None:
    s = ToolCallStream([WEATHER])
    for c in cut("<think>\nsome plain reasoning here and there", [2]):
        s.feed(c)
    for bad in (["x"], b"plain", 3):
        with pytest.raises(TypeError, match="takes str"):
            s.feed(bad)  # type: ignore[arg-type]


def test_a_copied_or_pickled_stream_goes_on_like_the_original() -> None:
    # The hot path holds the whitespace and opener prefix in shared states; a copy made in
    # or out of it (after a line end, where none is hot) must hold them too.
    text = (
        "<think>\nfirst line \nsecond f line  \n\nthird\tline f\n</think>\n\n"
        "answer text \nmore " + CALL
    )
    chunks = cut(text, [3])
    expected, result = run(ToolCallStream, chunks)
    for k in range(len(chunks)):
        for clone in (copy.deepcopy, lambda s: pickle.loads(pickle.dumps(s))):
            s = ToolCallStream([WEATHER])
            for c in chunks[:k]:
                s.feed(c)
            twin = clone(s)
            for stream in (twin, s):
                rest = [stream.feed(c) for c in chunks[k:]]
                assert [*rest, stream.finish()] == expected[k:]
                assert stream.result() == result


_PIECES = [
    "<think>\n",
    "</think>",
    "\n</think>\n\n",
    "Let me think ",
    "about ",
    "the file ",
    "f",
    "fun",
    DRAFT,
    "  ",
    " \t",
    "\n",
    "\n\n",
    "```\n",
    "`x` ",
    "<",
    "<tool_",
    CALL,
    "<|end|>",
    "plain answer ",
    "[",
    "{",
    ", so ",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(_PIECES), max_size=14),
    st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=8),
    st.sampled_from([None, True, False]),
)
def test_generated_streams_match_the_general_path(
    pieces: list[str], sizes: list[int], thinking_open: bool | None
) -> None:
    assert_same(cut("".join(pieces), sizes), thinking_open=thinking_open)
