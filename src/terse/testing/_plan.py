"""Reading a generation request and planning its tokens: pure functions, no I/O.

The server asks three questions of every generation request — what is the prompt, is it
a continuation (or has thinking been switched off), what limits apply — and then walks a
`Generation`: the tokens a script produces, in order, cut by the token limit and by a
native thinking budget.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .._server.budgets import LLAMACPP_BUDGET, SGLANG_BUDGET, VLLM_BUDGET
from .._wire.formats import FORMATS
from ._families import tool_markup
from ._scripts import Call, Reply, Runaway, calls_of, tokenize
from ._wire import Dialect

__all__ = [
    "CallPiece",
    "Generation",
    "Kind",
    "Rejected",
    "Token",
    "fired_calls",
    "is_continuation",
    "message_text",
    "native_budget",
    "plan",
    "prefill_prefix",
    "prompt_text",
    "thinking_off",
    "token_limit",
]

Kind = Literal["chat", "completions", "native"]
"""Generation endpoints: OpenAI chat, OpenAI (legacy) completions, llama.cpp ``/completion``."""

Token = tuple[bool, str]
"""One generated token: (is it reasoning, its text)."""


class CallPiece(str):
    """A token of a native tool call: the call's name (``head``) or a piece of its arguments.

    Native calls are generated like any answer token (they count, ``max_tokens`` cuts
    them), and the renderer turns them into ``tool_calls`` deltas instead of text.
    """

    call: int
    head: bool
    last: bool

    @classmethod
    def make(cls, text: str, call: int, *, head: bool, last: bool) -> CallPiece:
        """A piece of call number ``call``."""
        piece = cls(text)
        piece.call, piece.head, piece.last = call, head, last
        return piece


def call_pieces(calls: Sequence[Call]) -> list[CallPiece]:
    """The tokens of ``calls``: per call, its name, then its argument text token by token."""
    out: list[CallPiece] = []
    for i, call in enumerate(calls):
        args = tokenize(call.arguments_text)
        out.append(CallPiece.make(call.name, i, head=True, last=not args))
        out.extend(
            CallPiece.make(t, i, head=False, last=j == len(args) - 1) for j, t in enumerate(args)
        )
    return out


_CLOSES = tuple(sorted({c for f in FORMATS for c in f.closes}, key=len, reverse=True))


class Rejected(Exception):
    """The request is invalid for this server: answer 400 with ``message``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def message_text(content: Any) -> str:
    """The text of a message ``content``: a string, or a list of ``{"type": "text"}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "")
            for p in content
            if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _raw_prompt(body: Mapping[str, Any]) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        prompt = prompt[0] if prompt and isinstance(prompt[0], str) else ""
    return prompt if isinstance(prompt, str) else ""


def prompt_text(kind: Kind, body: Mapping[str, Any]) -> str:
    """The prompt as plain text: message contents joined by newlines, or the raw prompt."""
    if kind == "chat":
        messages = body.get("messages")
        if not isinstance(messages, list):
            return ""
        return "\n".join(message_text(m.get("content")) for m in messages if isinstance(m, dict))
    return _raw_prompt(body)


def _last_assistant(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    messages = body.get("messages")
    if isinstance(messages, list) and messages:
        last = messages[-1]
        if isinstance(last, dict) and last.get("role") == "assistant":
            return last
    return None


def _ends_closed(text: str) -> bool:
    return text.rstrip().endswith(_CLOSES)


# Thinking switches, as (path into the body, value that means "off").
_THINKING_OFF: tuple[tuple[tuple[str, ...], object], ...] = (
    (("chat_template_kwargs", "enable_thinking"), False),
    (("chat_template_kwargs", "thinking"), False),
    (("reasoning_effort",), "none"),
    (("thinking", "type"), "disabled"),
    (("think",), False),
    (("reasoning", "enabled"), False),
    (("reasoning", "effort"), "none"),
)


def _lookup(body: Mapping[str, Any], path: tuple[str, ...]) -> object:
    node: object = body
    for key in path:
        if (
            not isinstance(node, dict) or key not in node
        ):  # JSON objects: dict, not any Mapping (faster)
            return None
        node = node[key]
    return node


def thinking_off(body: Mapping[str, Any]) -> bool:
    """Whether the request switches thinking off, by any server's switch."""
    return any(_lookup(body, path) == value for path, value in _THINKING_OFF)


def is_continuation(kind: Kind, body: Mapping[str, Any]) -> bool:
    """Whether the request asks for the answer alone, the think block being closed or off.

    True for a chat whose last message is the assistant's and either carries
    ``prefix: true`` (DeepSeek beta) or ends with a closing delimiter of any think format;
    for a raw prompt ending with a closing delimiter; and for thinking switched off.
    """
    if thinking_off(body):
        return True
    if kind == "chat":
        last = _last_assistant(body)
        return last is not None and (
            last.get("prefix") is True or _ends_closed(message_text(last.get("content")))
        )
    return _ends_closed(_raw_prompt(body))


def prefill_prefix(body: Mapping[str, Any]) -> str:
    """The content of a final assistant message (a prefill), or ``""``."""
    last = _last_assistant(body)
    return "" if last is None else message_text(last.get("content"))


def _int_field(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Rejected(f"{key} must be an integer, got {value!r}")
    return value


_LIMIT_KEYS: Mapping[Kind, tuple[str, ...]] = {
    "chat": ("max_completion_tokens", "max_tokens"),
    "completions": ("max_tokens",),
    "native": ("n_predict",),
}


def token_limit(kind: Kind, body: Mapping[str, Any], context_length: int) -> int:
    """How many tokens the request may generate: its own cap, within the context length."""
    for key in _LIMIT_KEYS[kind]:
        value = _int_field(body, key)
        if value is None or (kind == "native" and value < 0):
            continue  # n_predict = -1 means "no limit" on llama.cpp
        if value < 1:
            raise Rejected(f"{key} must be at least 1, got {value}")
        return min(value, context_length)
    return context_length


@dataclass(frozen=True)
class Budget:
    """A native thinking budget: at most ``tokens`` reasoning tokens, then ``message`` and the close."""

    tokens: int
    message: str = ""


def native_budget(
    dialect: Dialect, body: Mapping[str, Any], *, vllm_config: bool, sglang_strict: bool
) -> Budget | None:
    """The native thinking budget the request sets and ``dialect``'s server enforces, if any.

    llama.cpp: ``reasoning_budget_tokens`` or its alias ``thinking_budget_tokens`` (-1 is
    unlimited), with ``reasoning_budget_message`` inserted before the forced close. vLLM:
    ``thinking_token_budget``, refused with 400 unless the server has a reasoning config.
    SGLang: ``custom_params.thinking_budget``, silently ignored unless strict thinking is on.
    The field names are terse's own (`terse._server.budgets`), so client and fake agree.
    """
    if dialect.budget == LLAMACPP_BUDGET.name:
        for path in (LLAMACPP_BUDGET.path, *LLAMACPP_BUDGET.aliases):
            n = _int_field(body, path[0])
            if n is not None and n >= 0:
                message = body.get(LLAMACPP_BUDGET.message_field or "")
                return Budget(n, message if isinstance(message, str) else "")
        return None
    if dialect.budget == VLLM_BUDGET.name:
        (key,) = VLLM_BUDGET.path
        n = _int_field(body, key)
        if n is None:
            return None
        if not vllm_config:
            raise Rejected(f"{key} is set but reasoning_config is not configured")
        return Budget(max(n, 0))
    if dialect.budget == SGLANG_BUDGET.name and sglang_strict:
        found = SGLANG_BUDGET.requested(body)
        value = found[1] if found is not None else None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return Budget(value)
    return None


class Generation:
    """The tokens one request generates, in order; `finish_reason` is set once exhausted.

    Reasoning comes first, wrapped in ``wrap`` (open, close) when the dialect writes it
    inline; a budget cuts it after that many reasoning tokens and inserts its message
    before the close; then the answer. At most ``limit`` tokens are produced: hitting the
    limit gives ``finish_reason="length"``, running out of tokens ``"stop"`` (``"tool_calls"``
    when native ``calls`` (`CallPiece` tokens) follow the answer).
    """

    __slots__ = (
        "_answer",
        "_budget",
        "_calls",
        "_limit",
        "_reasoning",
        "_wrap",
        "finish_reason",
    )

    def __init__(
        self,
        reasoning: Iterable[str],
        answer: Sequence[str],
        *,
        limit: int,
        budget: Budget | None = None,
        wrap: tuple[str, str] | None = None,
        calls: Sequence[CallPiece] = (),
    ) -> None:
        self._reasoning = reasoning
        self._answer = answer
        self._limit = limit
        self._budget = budget
        self._wrap = wrap
        self._calls = calls
        self.finish_reason: Literal["stop", "length", "tool_calls"] | None = None

    def _tokens(self) -> Iterator[Token]:
        reasoning = iter(self._reasoning)
        first = next(reasoning, None)
        if first is not None:
            open_, close = self._wrap or ("", "")
            for t in tokenize(open_):
                yield True, t
            budget = self._budget
            cap = None if budget is None else budget.tokens
            for count, t in enumerate(itertools.chain((first,), reasoning)):
                if budget is not None and cap is not None and count >= cap:
                    for m in tokenize(budget.message):
                        yield True, m
                    break
                yield True, t
            for t in tokenize(close):
                yield True, t
        for t in self._answer:
            yield False, t
        for piece in self._calls:
            yield False, piece

    def __iter__(self) -> Iterator[Token]:
        limit = self._limit
        for produced, token in enumerate(self._tokens()):
            if produced >= limit:
                self.finish_reason = "length"
                return
            yield token
        self.finish_reason = "tool_calls" if self._calls else "stop"


def fired_calls(script: Reply | Runaway, fires_drafts: bool) -> tuple[Call, ...]:
    """The calls a server sends as native calls: the script's, after its drafts if it fires them."""
    calls, drafts = calls_of(script)
    return (*drafts, *calls) if fires_drafts else calls


_HARMONY_CALLS = ("<|end|>", "<|start|>assistant<|channel|>commentary<|message|>", "<|end|>")
_HARMONY_START = "<|start|>assistant"


def plan(
    script: Reply | Runaway,
    *,
    answer_only: bool,
    limit: int,
    budget: Budget | None,
    wrap: tuple[str, str] | None,
    native_calls: bool = False,
    family: str = "hermes",
    fires_drafts: bool = False,
) -> Generation:
    """The `Generation` a Reply or Runaway produces for one request.

    A Reply's tool calls become `CallPiece` tokens after the answer when the server parses
    calls (``native_calls``), or ``family``'s markup after the answer text when it does not;
    its drafts are written in ``family``'s markup at the end of the reasoning (gpt-oss
    drafts as Hermes text inside the analysis channel), and also fired as native calls
    before the real ones when the server scans the reasoning (``fires_drafts``).
    """
    calls, drafts = fired_calls(script, native_calls and fires_drafts), calls_of(script)[1]
    reasoning: Iterable[str]
    if answer_only:
        reasoning = ()
    elif isinstance(script, Runaway):
        reasoning = itertools.repeat(script.token)
    else:
        reasoning_text = script.reasoning
        if drafts:
            draft = tool_markup(drafts, "hermes" if family == "harmony" else family)
            reasoning_text += ("\n" if reasoning_text else "") + draft
        reasoning = tokenize(reasoning_text)
    answer = script.answer
    if native_calls or not calls:
        pieces = call_pieces(calls) if native_calls else []
        return Generation(
            reasoning, tokenize(answer), limit=limit, budget=budget, wrap=wrap, calls=pieces
        )
    markup = tool_markup(calls, family)
    if family == "harmony":
        close, pre_open, pre_close = _HARMONY_CALLS
        text = (pre_open + answer + pre_close if answer else "") + markup
        if reasoning:  # an empty tuple or list when nothing is reasoned
            wrap = ((wrap or ("", ""))[0], close)
        else:
            text = text.removeprefix(_HARMONY_START)
    else:
        text = answer + ("\n" if answer else "") + markup
    return Generation(reasoning, tokenize(text), limit=limit, budget=budget, wrap=wrap)
