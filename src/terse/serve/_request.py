"""An OpenAI chat-completions request body, read and checked for the proxy (pure).

`parse` turns the raw bytes of ``POST /v1/chat/completions`` into a `ChatRequest`: the
messages, the mode (stream or not, ``stream_options.include_usage``), terse's
``thinking_budget`` (an int, or the fields of `terse.Budget`; never sent upstream) and the
keyword options for `AsyncClient.ask`/`stream`. A field of ``chat.completions.create``
keeps openai's meaning; any other field goes to the upstream in ``extra_body``, since a
proxy must pass on what the upstream server understands (``top_k``,
``chat_template_kwargs``, …). Bad input raises `BadRequest` with a message that says what
to fix.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .._core.budget import Budget
from .._core.options import CREATE_PARAMS
from .._exceptions import TerseError

__all__ = ["REASONING_FIELDS", "UNSET", "BadRequest", "ChatRequest", "parse", "without_reasoning"]

UNSET: Final = object()
"""``thinking_budget`` absent from the request: the proxy's default applies."""

_BUDGET_FIELDS = tuple(f.name for f in dataclasses.fields(Budget))
_OWN = frozenset({"messages", "model", "stream", "stream_options", "thinking_budget"})


class BadRequest(Exception):
    """The request body cannot be served as it is; ``message`` says what to fix."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status


@dataclass(frozen=True)
class ChatRequest:
    """One checked chat-completions request."""

    messages: list[dict[str, Any]]
    model: str | None
    stream: bool
    include_usage: bool
    thinking_budget: Any = UNSET
    options: dict[str, Any] = field(default_factory=dict)
    """Keyword options for `AsyncClient.ask`/`stream` (create() fields, ``extra_body``)."""


def _budget(value: Any) -> int | Budget | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, Mapping)):
        raise BadRequest(
            "thinking_budget must be an integer (tokens), an object with the fields of "
            f"terse.Budget ({', '.join(_BUDGET_FIELDS)}), or null; got {json.dumps(value)}",
            param="thinking_budget",
        )
    if isinstance(value, int):
        if value < 0:
            raise BadRequest(
                "thinking_budget must be a number of tokens (0 switches thinking off), "
                f"not {value}",
                param="thinking_budget",
            )
        return value  # 0: thinking off, as Client(thinking_budget=0)
    unknown = sorted(set(value) - set(_BUDGET_FIELDS))
    if unknown:
        raise BadRequest(
            f"thinking_budget has unknown field(s) {', '.join(unknown)}; "
            f"the fields are {', '.join(_BUDGET_FIELDS)}",
            param="thinking_budget",
        )
    try:
        return Budget(**value)
    except (TerseError, TypeError, ValueError) as exc:
        raise BadRequest(f"thinking_budget: {exc}", param="thinking_budget") from None


def parse(raw: bytes) -> ChatRequest:
    """The `ChatRequest` of a raw request body; `BadRequest` says what is wrong with it."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object with model and messages")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty array of message objects", param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise BadRequest(
                f"messages[{i}] must be an object with a string role", param=f"messages[{i}]"
            )
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise BadRequest("model must be a string", param="model")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise BadRequest("stream must be true or false", param="stream")
    stream_options = body.get("stream_options")
    include_usage = False
    if stream_options is not None:
        if not isinstance(stream_options, dict):
            raise BadRequest("stream_options must be an object", param="stream_options")
        include_usage = stream_options.get("include_usage", False)
        if not isinstance(include_usage, bool):
            raise BadRequest(
                "stream_options.include_usage must be true or false", param="stream_options"
            )
    budget: Any = UNSET
    if "thinking_budget" in body:
        budget = _budget(body["thinking_budget"])
    options: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for name, value in body.items():
        if name in _OWN:
            continue
        if name in CREATE_PARAMS:
            options[name] = value
        else:
            extra[name] = value  # the upstream's own fields, as openai's extra_body sends them
    tools = options.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise BadRequest("tools must be an array of tool objects", param="tools")
    if extra:
        options["extra_body"] = extra
    return ChatRequest(
        messages=messages,
        model=model,
        stream=bool(stream),
        include_usage=include_usage,
        thinking_budget=budget,
        options=options,
    )


REASONING_FIELDS: Final = ("reasoning_content", "reasoning", "reasoning_text", "thinking")
"""Where clients put an assistant message's reasoning when they send the history back."""


def without_reasoning(
    messages: list[dict[str, Any]], keep_on_tool_calls: bool
) -> list[dict[str, Any]]:
    """The history with the reasoning taken off the assistant messages.

    Reasoning is never sent back to a model unless the server requires it: some clients
    (pydantic-ai, the Agents SDK) send ``reasoning_content`` back on every assistant
    message. It stays only on a message with ``tool_calls`` when ``keep_on_tool_calls``
    (the server's tool-loop rule demands it: DeepSeek's thinking mode, Kimi). Messages
    left unchanged are the same objects.
    """
    out = []
    for m in messages:
        kept = keep_on_tool_calls and bool(m.get("tool_calls"))
        if m.get("role") == "assistant" and not kept and any(k in m for k in REASONING_FIELDS):
            m = {k: v for k, v in m.items() if k not in REASONING_FIELDS}
        out.append(m)
    return out
