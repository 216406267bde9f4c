"""Tool calls as plain data: `ToolCall`, `ToolProblem`, `ParsedCalls` and `ToolCallError`."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .._exceptions import ResponseError

__all__ = ["ParsedCalls", "ProblemKind", "ToolCall", "ToolCallError", "ToolProblem", "make_id"]

ProblemKind = Literal["unknown_tool", "invalid_arguments", "truncated", "malformed"]


def make_id(index: int, name: str, raw_arguments: str, seed: str = "") -> str:
    """A deterministic call id (``call_`` + 24 hex digits) for a call the model gave no id.

    The same call at the same position gives the same id, so a stream and the whole text
    agree; pass a per-response ``seed`` to keep ids unique across turns.
    """
    digest = hashlib.sha256(f"{seed}\x00{index}\x00{name}\x00{raw_arguments}".encode()).hexdigest()
    return "call_" + digest[:24]


@dataclass(frozen=True)
class ToolCall:
    """One call the model asked for, validated against its tool.

    Attributes:
        id: The call id: the model's or server's own when it gave one (Kimi's
            ``functions.NAME:IDX``, Mistral's 9 characters), else a generated ``call_…``.
        name: The tool's name.
        arguments: The arguments, parsed, validated and coerced to the tool's schema
            (JSON-shaped: what the model would have sent as JSON).
        raw_arguments: The argument text as the model wrote it (JSON, or the XML body).
        repairs: Repairs made to the argument text (``"trailing_commas"``,
            ``"single_quotes"``, ``"missing_brace"``, ``"double_encoded"``, …).
        format: The tool-call format it was written in (``"hermes"``, ``"qwen3_xml"``,
            ``"native"``, …).
    """

    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str = ""
    repairs: tuple[str, ...] = ()
    format: str = ""

    def to_openai(self) -> dict[str, Any]:
        """The call in OpenAI's ``tool_calls`` shape (``arguments`` a JSON string)."""
        import json

        return {
            "id": self.id,
            "type": "function",
            "function": {
                "name": self.name,
                "arguments": json.dumps(self.arguments, ensure_ascii=False),
            },
        }


@dataclass(frozen=True)
class ToolProblem:
    """A call that cannot be executed, and why (plain data, fit for feedback to the model).

    Attributes:
        kind: ``"unknown_tool"``, ``"invalid_arguments"``, ``"truncated"`` (cut by the
            token limit) or ``"malformed"`` (markup or arguments that cannot be read).
        name: The tool name, when it could be read ("" otherwise).
        raw: The call's raw text (arguments, or the markup for malformed/truncated calls).
        message: What is wrong, in one line.
        index: Position of the call among the calls of the response.
        errors: One message per failed schema check (``invalid_arguments``).
    """

    kind: ProblemKind
    name: str
    raw: str
    message: str
    index: int = 0
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedCalls:
    """Calls parsed out of one model output, with the text around them.

    Attributes:
        calls: The calls to execute, valid, in order.
        text: The answer text outside the calls: segments stripped, empty ones dropped,
            joined with a newline.
        reasoning: The reasoning text (stripped), or None when there was none.
        drafts: Calls written inside a closed reasoning block: rehearsals, never executed.
        trailing_draft: A complete call that was the last thing inside a closed reasoning
            block, with no call and no text after the reasoning; see `promote`.
        truncated: Calls cut before their end (``finish_reason="length"``, or the output
            stopped mid-call); never executed.
        errors: Calls that cannot be executed: unknown tool, invalid arguments, malformed.
        closed: False when the reasoning never closed and no call ended it.
    """

    calls: tuple[ToolCall, ...] = ()
    text: str = ""
    reasoning: str | None = None
    drafts: tuple[ToolCall, ...] = ()
    trailing_draft: ToolCall | None = None
    truncated: tuple[ToolProblem, ...] = ()
    errors: tuple[ToolProblem, ...] = ()
    closed: bool = True
    problems: tuple[ToolProblem, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "problems", (*self.errors, *self.truncated))

    @property
    def ok(self) -> bool:
        """Whether every call in the output is usable (no errors, nothing truncated)."""
        return not self.problems

    def promote(self) -> ParsedCalls:
        """Execute the trailing draft: a copy with `trailing_draft` moved to `calls`.

        Opt-in recovery for models that put their only action as the last thing in a closed
        reasoning block (vllm#39056). Without a trailing draft the result is unchanged.
        """
        if self.trailing_draft is None:
            return self
        drafts = tuple(d for d in self.drafts if d is not self.trailing_draft)
        return replace(self, calls=(self.trailing_draft,), trailing_draft=None, drafts=drafts)

    def raise_for_problems(self, *, finish_reason: str | None = None) -> None:
        """Raise `ToolCallError` when any call is unusable."""
        if self.problems:
            raise ToolCallError.from_problems(
                self.problems,
                text=self.text,
                reasoning=self.reasoning or "",
                finish_reason=finish_reason,
            )


class ToolCallError(ResponseError):
    """The model asked for a tool call that cannot be executed.

    ``problems`` lists every unusable call (`ToolProblem`: which call, what kind, why);
    ``problem`` is the first. `feedback` renders a correction request for a re-ask; it
    never includes the reasoning.
    """

    def __init__(
        self,
        message: str,
        *,
        problems: Sequence[ToolProblem],
        text: str = "",
        reasoning: str = "",
        finish_reason: str | None = None,
    ) -> None:
        super().__init__(message, text=text, reasoning=reasoning, finish_reason=finish_reason)
        self.problems = tuple(problems)

    @property
    def problem(self) -> ToolProblem | None:
        """The first unusable call."""
        return self.problems[0] if self.problems else None

    @classmethod
    def from_problems(
        cls,
        problems: Sequence[ToolProblem],
        *,
        text: str = "",
        reasoning: str = "",
        finish_reason: str | None = None,
    ) -> ToolCallError:
        """Build the error with a message naming the first problem."""
        first = problems[0]
        who = f"tool call {first.index}" + (f" ({first.name})" if first.name else "")
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return cls(
            f"{who}: {first.kind}: {first.message}{more}",
            problems=problems,
            text=text,
            reasoning=reasoning,
            finish_reason=finish_reason,
        )

    def feedback(self, limit: int = 1200) -> str:
        """A short text asking the model to redo the failed calls."""
        lines = ["Some of your tool calls could not be executed:"]
        for p in self.problems[:5]:
            who = p.name or "(no name)"
            lines.append(f"- call {p.index} {who}: {p.message}")
            lines.extend(f"  - {e}" for e in p.errors[:5])
        lines.append("Call the tools again with corrected arguments.")
        text = "\n".join(lines)
        return text if len(text) <= limit else text[:limit] + "…"
