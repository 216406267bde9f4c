"""Server-sent events, written: what a server puts on the wire for each event.

Pure functions returning bytes; they never touch a socket. JSON goes out compact and
with non-ASCII text as UTF-8 (as vLLM, llama.cpp and OpenAI send it).
"""

from __future__ import annotations

import json
from typing import Final

__all__ = ["DONE", "comment", "dumps", "event", "sse"]

DONE: Final = b"data: [DONE]\n\n"
"""The event that ends an OpenAI-style stream."""

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def dumps(obj: object) -> bytes:
    """``obj`` as compact UTF-8 JSON."""
    return _encode(obj).encode()


def sse(obj: object) -> bytes:
    """One event whose data is ``obj`` as JSON."""
    return b"data: " + dumps(obj) + b"\n\n"


def event(data: bytes) -> bytes:
    """One event carrying ``data`` as is; a multi-line ``data`` becomes several ``data:`` lines."""
    return b"".join(b"data: " + line + b"\n" for line in data.split(b"\n")) + b"\n"


def comment(text: str) -> bytes:
    """A comment line (``: text``): clients ignore it; it keeps an idle stream alive."""
    return b"".join(b": " + line + b"\n" for line in text.encode().split(b"\n")) + b"\n"
