"""The OpenAI chat-completions wire shapes a server sends, as pure builders.

What an OpenAI client expects from ``POST /v1/chat/completions``:

- a stream of ``chat.completion.chunk`` events (`ChunkStream`): every chunk repeats the
  completion's ``id``, ``created`` and ``model``; the first delta carries
  ``role: "assistant"``; the chunk with ``finish_reason`` ends the choice; a chunk with
  empty ``choices`` carries ``usage`` when ``stream_options.include_usage`` asked; and
  ``data: [DONE]`` ends the stream;
- one ``chat.completion`` body (`completion`);
- `usage` objects, with ``completion_tokens_details.reasoning_tokens``;
- tool calls (`tool_call`): ``{"id", "type": "function", "function": {"name",
  "arguments"}}`` in ``message.tool_calls``, and with an ``index`` in ``delta.tool_calls``
  (a stream's later fragments carry only ``index`` and ``function.arguments``);
- error bodies (`error_body`): ``{"error": {"message", "type", "param", "code"}}``.

Nothing here touches a socket; the `terse.testing` fake renders its dialects with
these, and a proxy renders its output with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .sse import DONE, dumps, sse

__all__ = [
    "ERROR_TYPES",
    "ChunkStream",
    "completion",
    "error_body",
    "error_type",
    "tool_call",
    "usage",
]

ERROR_TYPES: Final[Mapping[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "invalid_request_error",
    429: "rate_limit_error",
}
"""OpenAI's error ``type`` by HTTP status; any other 4xx is an ``invalid_request_error``, any
other status a ``server_error``."""


def error_type(status: int) -> str:
    """OpenAI's error ``type`` for an HTTP ``status``."""
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "invalid_request_error" if 400 <= status < 500 else "server_error"


def error_body(
    status: int,
    message: str,
    *,
    type: str | None = None,
    param: str | None = None,
    code: str | int | None = None,
) -> dict[str, Any]:
    """An OpenAI error body: ``{"error": {"message", "type", "param", "code"}}``."""
    return {
        "error": {
            "message": message,
            "type": type or error_type(status),
            "param": param,
            "code": code,
        }
    }


def usage(
    prompt_tokens: int,
    completion_tokens: int,
    *,
    reasoning_tokens: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A ``usage`` object; ``reasoning_tokens`` goes in ``completion_tokens_details``."""
    out: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if reasoning_tokens is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    out.update(extra)
    return out


def tool_call(
    id: str | None, name: str, arguments: object, index: int | None = None
) -> dict[str, Any]:
    """One tool call: ``{"index"?, "id"?, "type": "function", "function": {name, arguments}}``.

    ``arguments`` is a JSON string on the OpenAI wire (some servers send an object);
    ``index`` is set in stream deltas only; a ``None`` id is left out.
    """
    out: dict[str, Any] = {} if index is None else {"index": index}
    if id is not None:
        out["id"] = id
    out["type"] = "function"
    out["function"] = {"name": name, "arguments": arguments}
    return out


def completion(
    id: str,
    created: int,
    model: str,
    message: Mapping[str, Any],
    finish_reason: str | None,
    usage: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A whole ``chat.completion`` body with one choice."""
    out: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": dict(message), "logprobs": None, "finish_reason": finish_reason}
        ],
    }
    if usage is not None:
        out["usage"] = dict(usage)
    out.update(extra)
    return out


class ChunkStream:
    """The ``chat.completion.chunk`` events of one streamed completion (one choice).

    Args:
        id: The completion's id (``chatcmpl-...``).
        created: Unix time the completion was created.
        model: The model name every chunk reports.
        extra: Keys added to every chunk (``system_fingerprint``, ``usage: null``, ...).

    `delta` is the hot path of a stream: the part of a chunk around its delta is encoded
    once per stream, so each token costs one encoding of the delta alone.
    """

    def __init__(
        self,
        id: str,
        created: int,
        model: str,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.base: dict[str, Any] = {
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            **(extra or {}),
        }
        head = dumps(self.base)[:-1]
        self._head = b"data: " + head + b',"choices":[{"index":0,"delta":'
        self._tail = b',"logprobs":null,"finish_reason":null}]}\n\n'

    def chunk(self, delta: Mapping[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        """One chunk (as JSON data) carrying ``delta``, and ``finish_reason`` if given."""
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**self.base, "choices": [choice]}

    def delta(self, delta: Mapping[str, Any], finish_reason: str | None = None) -> bytes:
        """One event carrying ``delta``, and ``finish_reason`` if given."""
        if finish_reason is not None:
            return sse(self.chunk(delta, finish_reason))
        return self._head + dumps(delta) + self._tail

    def role(self, **fields: Any) -> bytes:
        """The first event: ``delta: {"role": "assistant", "content": "", **fields}``."""
        return sse(self.chunk({"role": "assistant", "content": "", **fields}))

    def usage_chunk(self, usage: Mapping[str, Any]) -> dict[str, Any]:
        """The chunk (as JSON data) that carries ``usage``, with empty ``choices``."""
        return {**self.base, "choices": [], "usage": dict(usage)}

    def finish(self, finish_reason: str, usage: Mapping[str, Any] | None = None) -> list[bytes]:
        """The closing events: an empty delta with ``finish_reason``, ``usage`` if given, ``[DONE]``."""
        events = [self.delta({}, finish_reason)]
        if usage is not None:
            events.append(sse(self.usage_chunk(usage)))
        events.append(DONE)
        return events

    @staticmethod
    def done() -> bytes:
        """``data: [DONE]``."""
        return DONE
