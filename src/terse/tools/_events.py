"""Events of `ToolCallStream`: what each `feed` and `finish` returns."""

from __future__ import annotations

from dataclasses import dataclass

from ._calls import ToolCall, ToolProblem

__all__ = [
    "CallDelta",
    "CallDone",
    "CallFailed",
    "CallStarted",
    "InlineEvent",
    "ReasoningText",
    "TextDelta",
]


@dataclass(frozen=True)
class ReasoningText:
    """Reasoning text released by the stream (joined, it is `ParsedCalls.reasoning`)."""

    text: str


@dataclass(frozen=True)
class TextDelta:
    """Answer text outside the calls (joined, it is `ParsedCalls.text`)."""

    text: str


@dataclass(frozen=True)
class CallStarted:
    """A call block began; ``index`` is the position its first call will take."""

    index: int
    name: str


@dataclass(frozen=True)
class CallDelta:
    """Raw markup of the call in progress, as it arrives (for a UI; not parsed yet)."""

    index: int
    text: str


@dataclass(frozen=True)
class CallDone:
    """A complete, validated call."""

    call: ToolCall


@dataclass(frozen=True)
class CallFailed:
    """A call that cannot be executed (unknown tool, invalid, malformed or truncated)."""

    problem: ToolProblem


InlineEvent = ReasoningText | TextDelta | CallStarted | CallDelta | CallDone | CallFailed
