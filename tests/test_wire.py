"""The SSE decoder and strict JSON parsing (terse._wire.sse), byte by byte."""

from __future__ import annotations

import pytest

import terse
from terse._server.dialects import GENERIC
from terse._wire.assemble import Assembler
from terse._wire.sse import Limits, SSEDecoder, parse_json


def _all(decoder: SSEDecoder, data: bytes, step: int) -> list[tuple[str, str]]:
    events: list[tuple[str, str]] = []
    for i in range(0, len(data), step):
        events += decoder.feed(data[i : i + step])
    return events + decoder.finish()


STREAM = (
    b": keep-alive\r\n\r\n"
    b"data: one\r\n\r\n"
    b"event: error\rdata: bad\r\r"
    b"data: a\ndata: b\n\n"
    b"id: 7\nretry: 5\nnonsense line\ndata:no-space\n\n"
    b"data: \xe2\x80\xa8 inside\n\n"
    b"data: last without newline"
)
EXPECTED = [
    ("message", "one"),
    ("error", "bad"),
    ("message", "a\nb"),
    ("message", "no-space"),
    ("message", "\u2028 inside"),
    ("message", "last without newline"),
]


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, 10_000])
def test_framing_is_the_same_whatever_the_chunking(step: int) -> None:
    assert _all(SSEDecoder(), STREAM, step) == EXPECTED


def test_a_crlf_split_across_chunks_is_one_line_end() -> None:
    d = SSEDecoder()
    assert d.feed(b"data: x\r") == []
    assert d.feed(b"\n\r\n") == [("message", "x")]


def test_a_line_over_the_limit_is_refused() -> None:
    d = SSEDecoder(line_limit=100)
    for _ in range(3):  # 78 bytes of a line not yet ended
        d.feed(b"data: " + b"a" * 20)
    with pytest.raises(terse.ResponseTooLarge) as info:
        d.feed(b"data: " + b"a" * 20)
    assert info.value.limit == "line"


def test_invalid_utf8_split_across_chunks_is_an_error_and_valid_utf8_is_not() -> None:
    ok = SSEDecoder()
    assert ok.feed(b"data: caf\xc3") == []
    assert ok.feed(b"\xa9\n\n") == [("message", "café")]
    bad = SSEDecoder()
    with pytest.raises(terse.ProtocolError, match="invalid UTF-8"):
        bad.feed(b"data: caf\xe9\n\n")


def test_parse_json_says_what_arrived() -> None:
    with pytest.raises(terse.ProtocolError, match="nested too deep"):
        parse_json(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(terse.ProtocolError, match="HTML"):
        parse_json(b"  <html>hi</html>")
    with pytest.raises(terse.ProtocolError, match="invalid UTF-8"):
        parse_json(b'{"a": "\xff"}')
    assert parse_json(b'{"a": "\xe2\x80\xa8"}') == {"a": "\u2028"}


def test_consecutive_data_lines_of_a_sloppy_server_are_read_one_by_one() -> None:
    asm = Assembler(dialect=GENERIC)
    one = b'{"choices":[{"delta":{"content":"4"}}]}'
    end = b'{"choices":[{"delta":{},"finish_reason":"stop"}]}'
    asm.feed_bytes(b"data: " + one + b"\ndata: " + end + b"\n\ndata: [DONE]\n\n")
    assert asm.stop
    out = asm.result()
    assert out.error is None
    assert out.text == "4"


def test_limits_are_validated() -> None:
    with pytest.raises(terse.UsageError):
        Limits(body=0)
    with pytest.raises(terse.UsageError):
        terse.Client(base_url="http://127.0.0.1:1/v1", idle_timeout=-1)
