"""What a call returns: the answer, its reasoning, and an honest account of what it cost.

A response is also a tuple of typed parts, in the order the model wrote them: a
`ReasoningPart` for its thinking and a `TextPart` for its answer. `Outcome` (one response,
`terse._wire.assemble`), `Split` (one text, `terse._wire.split`) and `Answer` (one call)
carry them as ``parts``; their string attributes (``reasoning``, ``text``/``answer``) are
the same parts joined by kind. A tool call gets its own part type, `ToolCallPart`, in the
`Part` union beside these two, so a response that calls a tool carries its calls in the
same tuple: the strings are unchanged by it (call markup is never in ``text``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from ._secrets import scrub

if TYPE_CHECKING:
    from .tools._calls import ToolCall

__all__ = [
    "Answer",
    "AnswerDelta",
    "Attempt",
    "BudgetReport",
    "Final",
    "NewAttempt",
    "Part",
    "ReasoningDelta",
    "ReasoningPart",
    "ServerInfo",
    "StreamEvent",
    "TextPart",
    "ToolCallDelta",
    "ToolCallPart",
    "ToolResult",
    "ToolStep",
    "Usage",
]

T = TypeVar("T")

UsageSource = Literal["server", "counted", "estimated", "mixed", "none"]


@dataclass(frozen=True)
class ReasoningPart:
    """Reasoning the model wrote (its thinking), without delimiters."""

    text: str


@dataclass(frozen=True)
class TextPart:
    """Answer text the model wrote (never reasoning)."""

    text: str


@dataclass(frozen=True)
class ToolCallPart:
    """A tool call the model asked for (a validated `terse.ToolCall`), in the answer."""

    call: ToolCall


Part = ReasoningPart | TextPart | ToolCallPart
"""One typed piece of a response: `ReasoningPart`, `TextPart` or `ToolCallPart`."""


def parts_of(reasoning: str, text: str) -> tuple[Part, ...]:
    """The parts of a response known only as two strings: its reasoning, then its text."""
    if reasoning:
        return (ReasoningPart(reasoning), TextPart(text)) if text else (ReasoningPart(reasoning),)
    return (TextPart(text),) if text else ()


def call_parts(reasonings: list[str], last: tuple[Part, ...]) -> tuple[Part, ...]:
    """The parts of a call: one `ReasoningPart` per request that reasoned, then the rest.

    ``reasonings`` holds each request's reasoning in order (a budget cut's thought, then
    its conclusion's); ``last`` is the parts of the response that answered, whose
    reasoning is already among them.
    """
    parts: list[Part] = [ReasoningPart(r) for r in reasonings if r]
    parts.extend(p for p in last if type(p) is not ReasoningPart)
    return tuple(parts)


def joined(parts: tuple[Part, ...], kind: type[ReasoningPart] | type[TextPart]) -> str:
    """The text of every part of one kind, joined in order."""
    return "".join([p.text for p in parts if type(p) is kind])


def check_parts(owner: object, parts: tuple[Part, ...], reasoning: str, text: str) -> None:
    """Fill in ``owner.parts`` from the strings, or check that the parts given match them.

    Called by ``__post_init__`` of the frozen results that carry parts: built from strings
    only, a result gets the two-part split of them; built from parts, its strings must be
    those parts joined, so the two views never disagree.
    """
    if not parts:
        if reasoning or text:
            object.__setattr__(owner, "parts", parts_of(reasoning, text))
        return
    if type(parts) is not tuple:  # a list given by hand: stored as the tuple it is typed as
        parts = tuple(parts)
        object.__setattr__(owner, "parts", parts)
    if joined(parts, ReasoningPart) != reasoning or joined(parts, TextPart) != text:
        raise ValueError(f"{type(owner).__name__}: parts do not join to its reasoning and text")


@dataclass(frozen=True)
class Usage:
    """Token usage of one request, or the sum over every request of a call.

    Attributes:
        prompt_tokens: Tokens in the prompts sent.
        reasoning_tokens: Tokens the model spent thinking.
        answer_tokens: Tokens of answer text.
        total_tokens: ``prompt_tokens + reasoning_tokens + answer_tokens``.
        source: Where the numbers come from: ``"server"`` (the server reported them all),
            ``"counted"`` (terse counted streamed chunks or ran a tokenizer),
            ``"estimated"`` (UTF-8 bytes / 4), ``"mixed"`` (a sum of different sources),
            ``"none"`` (nothing was generated).
        cached_tokens: Prompt tokens served from the server's cache, when reported.
    """

    prompt_tokens: int = 0
    reasoning_tokens: int = 0
    answer_tokens: int = 0
    total_tokens: int = 0
    source: UsageSource = "none"
    cached_tokens: int | None = None

    @property
    def completion_tokens(self) -> int:
        """Reasoning plus answer tokens: what the server generated."""
        return self.reasoning_tokens + self.answer_tokens

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        if self.source == "none":
            source = other.source
        elif other.source in ("none", self.source):
            source = self.source
        else:
            source = "mixed"
        cached = (
            None
            if self.cached_tokens is None and other.cached_tokens is None
            else (self.cached_tokens or 0) + (other.cached_tokens or 0)
        )
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            answer_tokens=self.answer_tokens + other.answer_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            source=source,
            cached_tokens=cached,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "answer_tokens": self.answer_tokens,
            "total_tokens": self.total_tokens,
            "source": self.source,
            "cached_tokens": self.cached_tokens,
        }


@dataclass(frozen=True)
class BudgetReport:
    """What the thinking budget did during a call.

    Attributes:
        hit: Whether the budget was reached.
        strategy: How the answer was still obtained: ``"native"`` (the server's own budget
            closed the thinking), ``"conclude"`` (terse cut the stream and asked the model
            to conclude), ``"disable"`` (re-asked with thinking off), ``"off"`` (a budget of
            0 tokens: asked with thinking switched off from the start), or None.
        method: How the request continued after the cut (for example
            ``"llamacpp-completion"``, ``"chat-prefill"``, ``"new-turn"``; ``"switch"`` when
            a 0-token budget sent the server's thinking switch), or None.
        reasoning_tokens: Reasoning tokens the server generated before the cut.
        limit_tokens: The budget in tokens, if any.
        limit_seconds: The budget in seconds, if any.
    """

    hit: bool = False
    strategy: str | None = None
    method: str | None = None
    reasoning_tokens: int = 0
    limit_tokens: int | None = None
    limit_seconds: float | None = None


@dataclass(frozen=True)
class Attempt:
    """One HTTP request terse made while answering a call.

    Attributes:
        number: 1 for the first request of the call, then 2, 3, …
        purpose: Why it was made: ``"ask"``, ``"conclude"`` (after a thinking budget cut),
            ``"disable"`` (re-asked with thinking off), ``"reask"`` (after an invalid
            answer), ``"retry"`` (after a transport fault).
        outcome: ``"ok"``, ``"budget"`` (cut at the thinking budget), ``"transport"``,
            ``"server"``, ``"thinking_truncated"``, ``"answer_truncated"``, ``"no_answer"``,
            ``"invalid"`` (the answer did not validate).
        usage: Tokens this request cost (failed requests included).
        latency: Seconds from sending the request to its end.
        finish_reason: What the server said, if it said anything.
        error: The error this attempt ended with, if any.
        endpoint: The path requested.
    """

    number: int
    purpose: str
    outcome: str
    usage: Usage = field(default_factory=Usage)
    latency: float = 0.0
    finish_reason: str | None = None
    error: BaseException | None = None
    endpoint: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the error as its type name and message, scrubbed of secrets)."""
        return {
            "number": self.number,
            "purpose": self.purpose,
            "outcome": self.outcome,
            "usage": self.usage.to_dict(),
            "latency": round(self.latency, 6),
            "finish_reason": self.finish_reason,
            "error": None
            if self.error is None
            else scrub(f"{type(self.error).__name__}: {self.error}"),
            "endpoint": self.endpoint,
        }


@dataclass(frozen=True)
class Answer(Generic[T]):
    """A clean answer with its reasoning beside it and the true cost of getting it.

    Attributes:
        value: The typed value (``str`` when no response model was asked for).
        text: The answer text, without any reasoning.
        reasoning: The model's reasoning (all of it, across a budget cut and conclusion).
        finish_reason: The server's finish reason for the request that produced the answer;
            ``"tool_calls"`` whenever `tool_calls` is not empty (also for calls the model
            wrote inline, where the server said ``"stop"``).
        usage: Tokens summed over every request made, failed ones included.
        attempts: One record per request made.
        dialect: The server dialect terse spoke (``"vllm"``, ``"llamacpp"``, …).
        model: The model name sent.
        budget: What the thinking budget did, if one was set.
        salvaged: True when the value was taken from the reasoning because the answer was
            empty (only with an explicit opt-in).
        parts: The response as typed parts in order: one `ReasoningPart` per request that
            reasoned (a budget cut's thought, then its conclusion's), then the `TextPart`
            of the answer, then one `ToolCallPart` per tool call. ``reasoning`` and
            ``text`` are these parts joined by kind.
        tool_calls: The tool calls the model asked for, validated against the ``tools``
            given (empty when it answered in text). ``finish_reason`` is then
            ``"tool_calls"``; ``text`` holds any text written beside them, without markup.
        reasoning_echo: What the dialect or model family requires on an assistant
            tool-call message in the history: None (drop the reasoning, the default) or
            the text to send as ``reasoning_content`` when there was no reasoning
            (DeepSeek thinking mode: ``""``; Kimi: ``" "``). Read by `message`.
        steps: From `Client.run_tools`: one `ToolStep` per turn in which the model called
            tools (its answer, and the result of each call), in order. Empty from ``ask``.
    """

    value: T
    text: str
    reasoning: str
    finish_reason: str | None
    usage: Usage
    attempts: tuple[Attempt, ...]
    dialect: str
    model: str = ""
    budget: BudgetReport | None = None
    salvaged: bool = False
    parts: tuple[Part, ...] = field(default=(), repr=False)
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning_echo: str | None = field(default=None, repr=False)
    steps: tuple[ToolStep, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        check_parts(self, self.parts, self.reasoning, self.text)

    @property
    def message(self) -> dict[str, Any]:
        """The assistant message to append to the history for the next turn (OpenAI shape).

        ``{"role": "assistant", "content": text, "tool_calls": [...]}``: each call as
        ``{"id", "type": "function", "function": {"name", "arguments"}}`` with
        ``arguments`` a JSON string and the ids of `tool_calls`; ``content`` is None when
        the model wrote only calls. The reasoning is left out, except on a tool-call
        message where the provider demands it back within the tool loop (DeepSeek thinking
        mode, Kimi: ``reasoning_content``, verbatim; see `reasoning_echo`).
        """
        msg: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            if not self.text:
                msg["content"] = None
            msg["tool_calls"] = [c.to_openai() for c in self.tool_calls]
            if self.reasoning_echo is not None:
                msg["reasoning_content"] = self.reasoning or self.reasoning_echo
        return msg

    def with_value(self, value: Any) -> Answer[Any]:
        """A copy with another value (used when a typed value is extracted)."""
        return replace(self, value=value)


@dataclass(frozen=True)
class ToolResult:
    """What running one tool call gave, as `Client.run_tools` sent it back to the model.

    Attributes:
        call: The call that was run.
        content: The text of the ``role: "tool"`` message: the return value (a string as
            it is, a pydantic model or anything else as JSON), or ``"Error: …"``.
        error: ``"ExceptionType: message"`` when the function raised, else None.
        value: The function's return value (None when it raised).
    """

    call: ToolCall
    content: str
    error: str | None = None
    value: Any = field(default=None, repr=False)


@dataclass(frozen=True)
class ToolStep:
    """One turn of `Client.run_tools` in which the model called tools.

    Attributes:
        answer: That turn's answer (its ``tool_calls``, reasoning, usage and attempts).
        results: One `ToolResult` per call, in the order of ``answer.tool_calls``.
    """

    answer: Answer[Any]
    results: tuple[ToolResult, ...]


@dataclass(frozen=True)
class ServerInfo:
    """What `Client.probe` learned about a server.

    Attributes:
        dialect: The dialect terse will speak (``"llamacpp"``, ``"vllm"``, ``"sglang"``, …).
        label: Human-readable server name.
        version: The version or build the server reported, if any.
        native_budget: Whether a native thinking budget is available (None: unknown).
        template_opens_thinking: Whether the chat template pre-fills the opening think
            tag, so inline output holds only the closing tag (None: unknown).
        raw: The probe response as the server sent it.
        reasoning: Where a test generation put the reasoning: ``"field"`` (a reasoning
            parser fills ``reasoning_content``/``reasoning``), ``"inline"`` (think tags in
            ``content``), ``"close-only"`` (only the closing tag in ``content``) or
            ``"none"`` (no reasoning seen); None when nothing was generated.
        evidence: For each finding (``dialect``, ``native_budget``,
            ``template_opens_thinking``, ``reasoning``), how it is known: a sentence
            starting ``"verified:"`` (the server showed it), ``"assumed:"`` (inferred
            from what the server is) or ``"unknown"``.
    """

    dialect: str
    label: str
    version: str | None = None
    native_budget: bool | None = None
    template_opens_thinking: bool | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    reasoning: str | None = None
    evidence: dict[str, str] = field(default_factory=dict)

    def verified(self, fact: str) -> bool:
        """Whether ``fact`` (e.g. ``"native_budget"``) was shown by the server, not assumed."""
        return self.evidence.get(fact, "").startswith("verified")


class _TextEvent:
    """A piece of streamed text (immutable; cheap to create, one per chunk)."""

    __slots__ = ("text",)
    text: str

    def __init__(self, text: str) -> None:
        object.__setattr__(self, "text", text)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self) and isinstance(other, _TextEvent) and other.text == self.text
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.text))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(text={self.text!r})"


class ReasoningDelta(_TextEvent):
    """A piece of reasoning text, as it streams."""

    __slots__ = ()


class AnswerDelta(_TextEvent):
    """A piece of answer text, as it streams (never contains reasoning)."""

    __slots__ = ()


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a tool call, as it streams (for a UI that shows calls forming).

    The first piece of a call has its ``name`` (and ``id`` when the server sent one);
    the following ones carry ``arguments_delta`` only. Joined per ``index``, the pieces are
    the call as written: the JSON arguments of a server-parsed (native) call, or the
    markup of a call the model wrote inline. Nothing here is validated: the complete,
    validated calls are on ``Final.answer.tool_calls``.

    Attributes:
        index: The call's position among the calls of the response (0, 1, …).
        id: The call's id when the server sent it, else None.
        name: The tool's name on the piece that starts the call, else None.
        arguments_delta: The next piece of the call's text ("" on a start with none).
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments_delta: str = ""


@dataclass(frozen=True)
class NewAttempt:
    """The call starts over: everything streamed before this event is void.

    Sent in a stream before the first delta of a retry — after an answer that did not
    validate (a re-ask), a dropped or failed request, or no answer. The reasoning and
    answer text shown so far belong to a failed try: clear them and show the deltas that
    follow. (A thinking budget's conclusion is not a new attempt: its answer continues the
    reasoning already shown.) `Final` holds the reasoning and answer of the last try only.

    Attributes:
        number: The try that starts now (2 for the first retry).
        reason: Why the previous try failed, as in `Attempt.outcome` (``"invalid"``,
            ``"server"``, ``"transport"``, ``"no_answer"``, ``"answer_truncated"``,
            ``"thinking_truncated"``), or ``"conclude"`` when a budget conclusion that had
            started an answer failed and the next way to conclude starts it again.
        error: The error that ended the previous try.
    """

    number: int
    reason: str
    error: BaseException | None = None


@dataclass(frozen=True)
class Final(Generic[T]):
    """The last event of a stream: the complete `Answer`."""

    answer: Answer[T]


StreamEvent = ReasoningDelta | AnswerDelta | ToolCallDelta | NewAttempt | Final[Any]
