"""Separating a reasoning model's thinking from its answer, for whole texts and streams.

One engine serves both: `split` feeds the whole text to a `Splitter`
(`terse._wire.splitter`, over the delimiter tables of `terse._wire.scan`) in one call, so
a stream fed in any chunking gives exactly the same result as the whole text.

The rules, in order:

1. Leading whitespace is dropped. If the output then starts with an opening delimiter
   (``<think>``, ``[THINK]``, a harmony analysis channel, … — see `terse._wire.formats.FORMATS`),
   everything up to that format's first closing delimiter is reasoning.
2. If it does not, and the caller did not say whether thinking was pre-opened, the text
   is *undecided*: a closing delimiter before any opening tag means the chat template
   pre-filled the opening tag (close-only output), so the text before it is reasoning.
   An opening tag first (say, a literal ``<think>`` inside a JSON string), or no
   delimiter at all, means the whole text is the answer. Undecided text is held until
   it is resolved; pass ``thinking_open=True`` or ``False`` to stream it without waiting.
3. Once the answer has begun, everything after it is answer: a ``<think>`` inside a code
   block or a line of the answer stays there. Whitespace between the reasoning and the
   answer, and around the answer, is trimmed; beyond that, only rule 5 alters the answer.
4. Reasoning that never closes (cut by ``max_tokens``) gives ``closed=False`` and an empty
   answer. One exception, for Kimi K2's stray tags: ``<think>`` followed by a space and a
   single line that never closes is not thinking; the line is the answer.
5. Leaked tags and terminators are not answer: a think tag (any format's delimiter) where
   the answer starts is dropped with the whitespace after it, one alone on a line outside a
   code fence is dropped with its line, one that ends a line outside a code fence is
   dropped (the line's text stays), and think tags and message terminators (harmony's
   ``<|return|>``, ``<|end|>``, ``<|call|>``) where the answer ends are dropped. A model
   that writes ``</think>`` again after its reasoning (or a server whose reasoning parser
   passes one through in ``content``) never shows it.

Memory: the only text held back while thinking or answering is a possible partial
delimiter (at most the longest delimiter minus one character) and a trailing run of
whitespace and end tokens; undecided text (rule 2) is held whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._exceptions import UsageError, WrongType
from .._results import Part, ReasoningPart, TextPart, ToolCallPart, check_parts
from .formats import ThinkFormat
from .splitter import _DONE, Delta, Splitter

if TYPE_CHECKING:
    from ..tools._calls import ToolCall, ToolProblem

__all__ = ["Delta", "Split", "Splitter", "split", "strip"]


@dataclass(frozen=True)
class Split:
    """A model output separated into reasoning and answer.

    Attributes:
        reasoning: The thinking text, without its delimiters.
        answer: The answer, trimmed of surrounding whitespace.
        closed: False when the thinking never ended (the output was cut while the model
            was thinking); the answer is then empty.
        format: Name of the think format found, or None when there was no thinking.
        parts: The output as typed parts: a `ReasoningPart`, then a `TextPart` for the
            answer (each left out when empty), then a `ToolCallPart` per tool call;
            ``reasoning`` and ``answer`` are their texts.
        tool_calls: With ``tools=``: the calls in the answer region, validated against
            the tools (never a rehearsal from closed reasoning). Empty otherwise.
        tool_problems: With ``tools=``: calls that cannot be executed (unknown tool,
            invalid arguments, cut before their end, malformed), as
            `terse.tools.ToolProblem` records. Their markup is not in ``answer`` either.
    """

    reasoning: str
    answer: str
    closed: bool
    format: str | None = None
    parts: tuple[Part, ...] = field(default=(), repr=False)
    tool_calls: tuple[ToolCall, ...] = ()
    tool_problems: tuple[ToolProblem, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        check_parts(self, self.parts, self.reasoning, self.answer)


def split(
    text: str,
    *,
    thinking_open: bool | None = None,
    formats: Iterable[str | ThinkFormat] | None = None,
    tools: Iterable[Any] | None = None,
) -> Split:
    """Separate a model output into reasoning and answer (and tool calls, given ``tools``).

    With ``tools`` (OpenAI tool dicts, functions or pydantic models), tool calls written
    inline in the answer region are parsed out, their format detected (Hermes/Qwen
    ``<tool_call>``, Qwen3-Coder XML, DeepSeek, Mistral, Kimi, GLM, gpt-oss, …):
    `Split.tool_calls` holds them, validated, and `Split.answer` is the text outside
    them (segments stripped, joined with a newline). Calls drafted inside closed
    reasoning are rehearsals, never calls; a well-formed call that ends unclosed
    reasoning is real. Without ``tools``, nothing changes.

    Example:
        >>> split("<think>The user wants a city.</think>\\n\\nParis")
        Split(reasoning='The user wants a city.', answer='Paris', closed=True, format='think', tool_calls=())
        >>> split("Okay, France... so Paris.</think>Paris").answer
        'Paris'
        >>> split("<think>Let me count: one, two").closed
        False
    """
    if not isinstance(text, str):
        raise WrongType(f"split() and strip() take str, not {type(text).__name__}")
    s = Splitter(thinking_open=thinking_open, formats=formats)
    first = s._run(text, final=True)
    s._state = _DONE
    if tools is not None:
        return _with_calls(text, tools, thinking_open, formats, s.format)
    return Split(first.reasoning, first.answer, s._closed, s.format)


def _with_calls(
    text: str,
    tools: Iterable[Any],
    thinking_open: bool | None,
    formats: Iterable[str | ThinkFormat] | None,
    think_format: str | None,
) -> Split:
    if formats is not None:
        raise UsageError("split(): give formats= or tools=, not both")
    from ..tools._parse import parse_output

    got = parse_output(text, tools, thinking_open=thinking_open)
    reasoning = got.reasoning or ""
    parts: list[Part] = [ReasoningPart(reasoning)] if reasoning else []
    if got.text:
        parts.append(TextPart(got.text))
    parts.extend(ToolCallPart(c) for c in got.calls)
    return Split(
        reasoning,
        got.text,
        got.closed,
        think_format,
        tuple(parts),
        tool_calls=got.calls,
        tool_problems=got.problems,
    )


def strip(
    text: str,
    *,
    thinking_open: bool | None = None,
    formats: Iterable[str | ThinkFormat] | None = None,
) -> str:
    """Return only the answer of a model output (empty if it never stopped thinking).

    Example:
        >>> strip("<think>hmm</think>  42")
        '42'
    """
    return split(text, thinking_open=thinking_open, formats=formats).answer
