"""Checking the tool parts of a chat request, as real servers do: pure, raising `Rejected`.

- ``tools``: a list of ``{"type": "function", "function": {"name", "description"?,
  "parameters"?}}``; names of 1 to 64 letters, digits, ``_`` or ``-`` (OpenAI's rule);
  ``parameters`` a JSON Schema object.
- ``tool_choice``: ``"none"``, ``"auto"``, ``"required"`` or ``{"type": "function",
  "function": {"name"}}`` naming one of the tools (LM Studio refuses the object form).
- History (`Dialect.check_tool_ids`): a ``role: "tool"`` message must follow an assistant
  message with ``tool_calls`` (or other tool messages answering it) and answer one of its ids.
- History (`Dialect.echo_reasoning`), while thinking is on (``tools.md`` §4):
  ``"deepseek"``: every assistant message with ``tool_calls`` after the last user message
  must carry ``reasoning_content`` (a string, ``""`` included), or the API answers 400
  "Missing `reasoning_content` field in the assistant message at message index N".
  ``"kimi"``: every assistant message with ``tool_calls``, in the whole history, must carry a
  non-empty ``reasoning_content`` (Moonshot treats ``""`` as missing), or 400 "thinking is
  enabled but reasoning_content is missing in assistant tool call message at index N".
  The messages are the ones the real APIs send, as quoted in client bug reports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ._plan import Rejected, thinking_off
from ._wire import Dialect

__all__ = ["DEEPSEEK_MISSING", "KIMI_MISSING", "check_tools"]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CHOICES = ("none", "auto", "required")

DEEPSEEK_MISSING = (
    "Missing `reasoning_content` field in the assistant message at message index {index}. "
    "For more information, please refer to "
    "https://api-docs.deepseek.com/guides/thinking_mode#tool-calls"
)
"""DeepSeek's 400 message for a tool loop that drops ``reasoning_content``."""

KIMI_MISSING = (
    "thinking is enabled but reasoning_content is missing in assistant tool call message "
    "at index {index}"
)
"""Moonshot's (Kimi) 400 message for the same."""


def _tool_names(tools: object) -> list[str]:
    if not isinstance(tools, list):
        raise Rejected(f"'tools' must be a list, got {type(tools).__name__}")
    names = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise Rejected(f"{where}: expected an object with type 'function'")
        function = tool.get("function")
        if not isinstance(function, dict):
            raise Rejected(f"{where}.function: expected an object")
        name = function.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise Rejected(
                f"{where}.function.name: expected 1-64 letters, digits, '_' or '-', got {name!r}"
            )
        if "description" in function and not isinstance(function["description"], str):
            raise Rejected(f"{where}.function.description: expected a string")
        params = function.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise Rejected(f"{where}.function.parameters: expected a JSON Schema object")
        names.append(name)
    return names


def _check_choice(dialect: Dialect, choice: object, names: Sequence[str] | None) -> None:
    if isinstance(choice, str):
        if choice not in _CHOICES:
            raise Rejected(f"tool_choice must be one of {', '.join(_CHOICES)}, got {choice!r}")
        if choice == "required" and not names:
            raise Rejected("tool_choice 'required' needs 'tools'")
        return
    if not isinstance(choice, dict):
        raise Rejected(f"tool_choice: expected a string or an object, got {choice!r}")
    if not dialect.tool_choice_object:
        raise Rejected("tool_choice as an object is not supported")
    function = choice.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    if choice.get("type") != "function" or not isinstance(name, str):
        raise Rejected("tool_choice: expected {'type': 'function', 'function': {'name': ...}}")
    if name not in (names or ()):
        raise Rejected(f"tool_choice names {name!r}, which is not one of the tools")


def _call_ids(message: Mapping[str, Any]) -> set[str]:
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return set()
    return {c["id"] for c in calls if isinstance(c, dict) and isinstance(c.get("id"), str)}


def _check_ids(messages: Sequence[object]) -> None:
    answerable: set[str] | None = None  # ids of the tool-call message the tool messages answer
    for m in messages:
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        if role == "tool":
            if answerable is None:
                raise Rejected(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceding message with 'tool_calls'."
                )
            call_id = m.get("tool_call_id")
            if call_id not in answerable:
                raise Rejected(
                    f"Invalid parameter: 'tool_call_id' of {call_id!r} not found in "
                    "'tool_calls' of previous message."
                )
        elif role == "assistant" and m.get("tool_calls"):
            answerable = _call_ids(m)
        else:
            answerable = None


def _check_echo(rule: str, messages: Sequence[object]) -> None:
    kimi = rule == "kimi"
    last_user = -1
    if not kimi:  # DeepSeek: only the current user turn's tool loop
        last_user = max(
            (i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "user"),
            default=-1,
        )
    for i, m in enumerate(messages):
        if i <= last_user or not isinstance(m, dict):
            continue
        if m.get("role") != "assistant" or not m.get("tool_calls"):
            continue
        echo = m.get("reasoning_content")
        if not isinstance(echo, str) or (kimi and not echo):
            raise Rejected((KIMI_MISSING if kimi else DEEPSEEK_MISSING).format(index=i))


def check_tools(dialect: Dialect, body: Mapping[str, Any]) -> None:
    """Refuse a chat request whose tools, tool choice or tool history ``dialect``'s server would."""
    names = _tool_names(body["tools"]) if body.get("tools") is not None else None
    if body.get("tool_choice") is not None:
        _check_choice(dialect, body["tool_choice"], names)
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    if dialect.check_tool_ids:
        _check_ids(messages)
    if dialect.echo_reasoning is not None and not thinking_off(body):
        _check_echo(dialect.echo_reasoning, messages)
