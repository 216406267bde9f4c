"""Continuation policies: how a server lets terse turn cut-off reasoning into an answer.

When a thinking budget cuts a model off, terse *concludes*: it hands the reasoning so far
back with the think block closed after a short nudge, so the model writes its answer.
Each server offers different ways to do that, and each way is one small policy object:

- `LlamaCompletion`: llama.cpp renders the chat (``/apply-template``) and a raw
  ``/completions`` continues it after the closed think block;
- `ChatPrefill`: a chat whose last assistant message is continued
  (``continue_final_message``; vLLM, SGLang);
- `DeepSeekPrefix`: DeepSeek's beta prefix completion with ``reasoning_content``;
- `NewTurn`: a new user turn that hands back the notes (works on any chat endpoint).

A policy builds its `Call` from a `Cut` (messages, reasoning, nudge, answer cap) and the
request `Bodies` of the call; it says what else it needs (`needs_template`: the rendered
chat prompt). A dialect lists its policies best first; ``a | b`` chains them the way
tenacity chains its strategies, and the flow tries them in order until one answers.
Adding a continuation method is one subclass here and its place in a dialect's chain.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from .._core.ops import Call

if TYPE_CHECKING:
    from .._wire.assemble import Limit

__all__ = [
    "ChatPrefill",
    "Continuation",
    "Cut",
    "DeepSeekPrefix",
    "LlamaCompletion",
    "NewTurn",
    "closed_reasoning",
    "conclude_messages",
    "new_turn_messages",
    "prefix_messages",
    "raw_prompt",
]


@dataclass(frozen=True)
class Cut:
    """What a continuation works from.

    Attributes:
        messages: The conversation as asked (without the cut reply).
        reasoning: The reasoning written before the cut.
        nudge: Appended to the reasoning before the think block is closed.
        cap: Tokens the answer may take.
        stream: Whether the caller streams.
        guard: terse's own thinking limit for a continuation that may think again (the
            budget's), or None without a budget.
        thinking_off: The dialect's request fields that switch thinking off, or None when
            the model cannot switch it off.
    """

    messages: Sequence[Mapping[str, Any]]
    reasoning: str
    nudge: str
    cap: int
    stream: bool = False
    guard: Limit | None = None
    thinking_off: Mapping[str, Any] | None = None


class Bodies(Protocol):
    """How the call builds request bodies (its model, options and token caps)."""

    def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        stream: bool,
        answer_tokens: int,
        patch: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A chat body with the caller's options, capped at ``answer_tokens``."""

    def raw(self, prompt: str, max_tokens: int) -> dict[str, Any]:
        """A raw-completion body with the caller's options that mean something there."""


class Continuation(ABC):
    """One way to continue cut-off reasoning into an answer."""

    name: ClassVar[str]
    """Identifier, as reported in `BudgetReport.method`."""
    needs_template: ClassVar[bool] = False
    """Whether `build` needs the chat rendered to a raw prompt (llama.cpp ``/apply-template``)."""

    @abstractmethod
    def build(self, cut: Cut, bodies: Bodies, template: str | None = None) -> Call:
        """The request that continues ``cut``; ``template`` is the rendered chat when needed."""

    def __or__(self, other: Continuation | tuple[Continuation, ...]) -> tuple[Continuation, ...]:
        return (self, *(other if isinstance(other, tuple) else (other,)))

    def __ror__(self, other: tuple[Continuation, ...]) -> tuple[Continuation, ...]:
        return (*other, self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))


class LlamaCompletion(Continuation):
    """llama.cpp: the rendered chat, the reasoning, the nudge and ``</think>`` as a raw prompt."""

    name = "llamacpp-completion"
    needs_template = True

    def build(self, cut: Cut, bodies: Bodies, template: str | None = None) -> Call:
        if template is None:
            raise ValueError("LlamaCompletion needs the rendered chat template")
        body = bodies.raw(raw_prompt(template, cut.reasoning, cut.nudge), cut.cap)
        return Call("completions", body, stream=cut.stream, purpose="conclude", answer_only=True)


class ChatPrefill(Continuation):
    """vLLM, SGLang: continue an assistant message holding the closed reasoning."""

    name = "chat-prefill"

    def build(self, cut: Cut, bodies: Bodies, template: str | None = None) -> Call:
        body = bodies.chat(
            conclude_messages(cut.messages, cut.reasoning, cut.nudge),
            stream=cut.stream,
            answer_tokens=cut.cap,
            patch={"continue_final_message": True, "add_generation_prompt": False},
        )
        return Call("chat", body, stream=cut.stream, purpose="conclude", answer_only=True)


class DeepSeekPrefix(Continuation):
    """DeepSeek: beta prefix completion, the reasoning so far as the assistant's prefix."""

    name = "deepseek-prefix"

    def build(self, cut: Cut, bodies: Bodies, template: str | None = None) -> Call:
        body = bodies.chat(
            prefix_messages(cut.messages, cut.reasoning, cut.nudge),
            stream=cut.stream,
            answer_tokens=cut.cap,
        )
        return Call("beta-chat", body, stream=cut.stream, purpose="conclude")


class NewTurn(Continuation):
    """Any chat endpoint: a new user turn hands back the notes, thinking off where it can be.

    The model may think again here, so under a budget the request streams and carries the
    budget's guard.
    """

    name = "new-turn"

    def build(self, cut: Cut, bodies: Bodies, template: str | None = None) -> Call:
        stream = True if cut.guard is not None else cut.stream
        body = bodies.chat(
            new_turn_messages(cut.messages, cut.reasoning),
            stream=stream,
            answer_tokens=cut.cap,
            patch=cut.thinking_off,
        )
        return Call(
            "chat",
            body,
            stream=bool(body.get("stream")),
            purpose="conclude",
            limit=cut.guard,
            thinking_disabled=cut.thinking_off is not None,
        )


def closed_reasoning(reasoning: str, nudge: str, open_tag: str = "<think>\n") -> str:
    """The assistant text that continues the reasoning, nudges, and closes the think block."""
    body = reasoning.rstrip()
    return f"{open_tag}{body}{nudge}\n</think>\n\n"


def conclude_messages(
    messages: Sequence[Mapping[str, Any]], reasoning: str, nudge: str
) -> list[dict[str, Any]]:
    """Messages for a chat continuation (``continue_final_message``) of closed reasoning."""
    return [
        *(dict(m) for m in messages),
        {"role": "assistant", "content": closed_reasoning(reasoning, nudge)},
    ]


def new_turn_messages(
    messages: Sequence[Mapping[str, Any]], reasoning: str
) -> list[dict[str, Any]]:
    """Messages for the universal fallback: a new turn that hands back the notes."""
    notes = reasoning.strip()
    ask = (
        "You ran out of thinking time. These are your notes so far:\n\n"
        f"<notes>\n{notes}\n</notes>\n\n"
        "Do not think any further. Give only your final answer to my previous message now."
    )
    return [*(dict(m) for m in messages), {"role": "user", "content": ask}]


def prefix_messages(
    messages: Sequence[Mapping[str, Any]], reasoning: str, nudge: str
) -> list[dict[str, Any]]:
    """DeepSeek beta prefix completion: the reasoning so far as the assistant's prefix."""
    return [
        *(dict(m) for m in messages),
        {
            "role": "assistant",
            "content": "",
            "reasoning_content": reasoning.rstrip() + nudge,
            "prefix": True,
        },
    ]


def raw_prompt(template_prompt: str, reasoning: str, nudge: str) -> str:
    """A raw completion prompt: the rendered chat, the reasoning, the nudge, ``</think>``."""
    stripped = template_prompt.rstrip()
    if stripped.endswith("<think>"):
        return template_prompt + closed_reasoning(reasoning, nudge, open_tag="")
    return template_prompt + closed_reasoning(reasoning, nudge)
