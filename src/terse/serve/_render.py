"""What the proxy writes back: an `Answer` as OpenAI output, and errors in OpenAI's shape.

Pure: builders from `terse._http.openai`, shared with the fake server. The message carries
the clean answer in ``content``, the reasoning in ``reasoning_content`` (unless the proxy
drops it), the validated calls in ``tool_calls``; ``usage`` is summed over every upstream
request of the call, with ``completion_tokens_details.reasoning_tokens``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from .._exceptions import (
    ConnectionFailed,
    ProtocolError,
    ResponseError,
    ResponseTooLarge,
    RetriesExhausted,
    ServerError,
    TerseError,
    UsageError,
)
from .._http.openai import completion, error_body, tool_call, usage
from .._results import Answer, Usage
from .._secrets import scrub

__all__ = [
    "Reasoning",
    "error_for",
    "finish_reason",
    "message",
    "render",
    "tool_deltas",
    "usage_of",
]

Reasoning = Literal["field", "drop"]
"""Where the reasoning goes: ``message.reasoning_content`` (``field``) or nowhere (``drop``)."""

_TIMEOUT_PREFIXES = (
    "the call's deadline",
    "no data from the server",
    "the request timed out",
)
"""`ConnectionFailed` messages (from `terse._client.clock` and `.http`) meaning silence."""


def usage_of(u: Usage) -> dict[str, Any]:
    """terse's `Usage` (summed over every request) as an OpenAI ``usage`` object."""
    completion_tokens = u.reasoning_tokens + u.answer_tokens
    out = usage(u.prompt_tokens, completion_tokens, reasoning_tokens=u.reasoning_tokens)
    out["total_tokens"] = max(u.total_tokens, u.prompt_tokens + completion_tokens)
    return out


def finish_reason(answer: Answer[Any]) -> str:
    """``tool_calls`` when the answer calls tools, else the upstream's own reason."""
    if answer.tool_calls:
        return "tool_calls"
    return answer.finish_reason or "stop"


def message(answer: Answer[Any], reasoning: Reasoning) -> dict[str, Any]:
    """The assistant message: clean ``content``, ``reasoning_content``, ``tool_calls``."""
    msg: dict[str, Any] = {"role": "assistant", "content": answer.text}
    if reasoning == "field" and answer.reasoning:
        msg["reasoning_content"] = answer.reasoning
    if answer.tool_calls:
        if not answer.text:
            msg["content"] = None
        msg["tool_calls"] = [c.to_openai() for c in answer.tool_calls]
    return msg


def render(
    answer: Answer[Any], *, id: str, created: int, model: str, reasoning: Reasoning
) -> dict[str, Any]:
    """The whole ``chat.completion`` body of ``answer``."""
    return completion(
        id,
        created,
        answer.model or model,
        message(answer, reasoning),
        finish_reason(answer),
        usage_of(answer.usage),
    )


def tool_deltas(answer: Answer[Any]) -> list[dict[str, Any]]:
    """The answer's validated calls as stream deltas, each call whole in one delta."""
    return [
        {
            "tool_calls": [
                tool_call(c.id, c.name, json.dumps(c.arguments, ensure_ascii=False), index=i)
            ]
        }
        for i, c in enumerate(answer.tool_calls)
    ]


def _cause(exc: BaseException) -> BaseException:
    seen = 0
    while isinstance(exc, RetriesExhausted) and exc.last_error is not None and seen < 8:
        exc, seen = exc.last_error, seen + 1
    return exc


def error_for(exc: BaseException, secrets: Iterable[str] = ()) -> tuple[int, dict[str, Any]]:
    """The HTTP status and OpenAI error body for a failed call (never a traceback or key)."""
    keys = tuple(s for s in secrets if s)

    def body(status: int, text: str, code: str, type: str | None = None) -> dict[str, Any]:
        return error_body(status, scrub(text, keys), type=type, code=code)

    if isinstance(exc, UsageError):
        return 400, body(400, str(exc), "invalid_request")
    last = _cause(exc)
    if isinstance(exc, RetriesExhausted) and exc.reason == "deadline":
        return 504, body(504, f"the upstream did not answer in time: {exc}", "upstream_timeout")
    if isinstance(last, ServerError):
        status = last.status if 400 <= last.status <= 599 else 502
        return status, body(status, last.message or str(last), "upstream_error")
    if isinstance(last, ConnectionFailed):
        text = str(last)
        if text.startswith(_TIMEOUT_PREFIXES):
            return 504, body(
                504, f"the upstream did not answer in time: {text}", "upstream_timeout"
            )
        return 502, body(502, f"the upstream cannot be reached: {text}", "upstream_unreachable")
    if isinstance(last, (ProtocolError, ResponseTooLarge)):
        return 502, body(502, f"the upstream's response is unusable: {last}", "upstream_protocol")
    if isinstance(last, ResponseError):
        return 502, body(
            502, f"the model gave no usable answer: {exc}", type(last).__name__.lower()
        )
    if isinstance(exc, TerseError):
        return 502, body(502, str(exc), type(exc).__name__.lower())
    return 500, body(500, "internal error in the terse proxy (see its log)", "internal_error")
