"""What the fake server does with a request: scripted behaviours, and the fake's tokenizer.

Each script is a frozen dataclass. Queue them with ``FakeServer.push``, bind them to
prompts with ``FakeServer.route``, or set ``FakeServer.default``. One script serves one
generation request (chat completions, completions, llama.cpp ``/completion``).

The tokenizer
-------------
The fake has no model vocabulary, so it cuts text into *word-ish* tokens with one regex
(`tokenize`): a run of word characters, or one other character, each with the
whitespace before it; special tokens (``<|channel|>``, ``<think>``, ``</think>``) are one
token; trailing whitespace is a token of its own. Joining the tokens gives the text
back exactly. Usage counts are the number of these tokens, and streams send one of them
per chunk (unless ``chunk=`` says otherwise), as llama.cpp and vLLM send one real token
per chunk::

    >>> tokenize("Let me think... Paris!")
    ['Let', ' me', ' think', '.', '.', '.', ' Paris', '!']
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, cast

from .._exceptions import UsageError

__all__ = [
    "DEFAULT_REPLY",
    "Call",
    "Drop",
    "Fail",
    "Hang",
    "Malformed",
    "Reply",
    "Runaway",
    "Script",
    "SlowStart",
    "tokenize",
]

_TOKEN = re.compile(r"\s*(?:<\|[^|\s]*\|>|</?think>)|\s*\w+|\s*[^\s\w]|\s+")

FinishReason = Literal["stop", "length"]


def tokenize(text: str) -> list[str]:
    """Cut ``text`` into the fake's tokens; ``"".join(tokenize(t)) == t`` always."""
    return _TOKEN.findall(text)


def _check_rate(rate: float | None) -> None:
    if rate is not None and not rate > 0:
        raise UsageError(f"tokens_per_second must be positive, got {rate!r}")


@dataclass(frozen=True)
class Call:
    """One tool call a `Reply` makes (or drafts in its reasoning).

    Attributes:
        name: The function's name.
        arguments: The arguments: a mapping (sent as JSON, or as XML parameters in the XML
            families), or a string sent verbatim, which is how a test makes the model write
            invalid arguments (``'{"city": Paris}'``) or double-encoded ones.
        id: The call id; ``None`` lets the server make one up, as real servers do.
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise UsageError(f"Call.name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.arguments, (Mapping, str)):
            raise UsageError(
                f"Call.arguments must be a mapping or a string, got {type(self.arguments).__name__}"
            )
        if isinstance(self.arguments, Mapping):
            object.__setattr__(self, "arguments", MappingProxyType(dict(self.arguments)))

    @property
    def arguments_text(self) -> str:
        """The arguments as the model writes them: JSON text, or the string verbatim."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), ensure_ascii=False)


CallLike: TypeAlias = Call | Mapping[str, Any]
"""A `Call`, or a dict with its fields: ``{"name": ..., "arguments": ..., "id": ...}``."""


def _calls(items: Iterable[CallLike], field: str) -> tuple[Call, ...]:
    if isinstance(items, (str, bytes, Mapping)):
        raise UsageError(f"{field} must be a list of calls, got {type(items).__name__}")
    out = []
    for item in items:
        if isinstance(item, Call):
            out.append(item)
        elif isinstance(item, Mapping) and set(item) <= {"name", "arguments", "id"}:
            out.append(Call(**item))
        else:
            raise UsageError(
                f"{field} items must be Call or {{'name', 'arguments', 'id'}} dicts, got {item!r}"
            )
    return tuple(out)


@dataclass(frozen=True)
class Reply:
    """Stream ``reasoning`` then ``answer``, one token per chunk, then stop.

    Honours the request's ``max_tokens``/``max_completion_tokens`` (``n_predict`` on
    llama.cpp's ``/completion``): after that many tokens, counting reasoning and answer
    alike, it stops with ``finish_reason="length"``. A native thinking budget cuts the
    reasoning short. A request with thinking switched off, or one that continues after a
    closed think block, gets the answer alone.

    Attributes:
        answer: The answer text.
        reasoning: The reasoning text; where it goes depends on the dialect. Put decoy
            drafts here (``'{"city": "Lyon"}'``) to test that clients never extract them.
        finish_reason: Report this instead of the true reason (``"length"`` simulates an
            answer cut by the token limit).
        tokens_per_second: Generation rate; ``None`` uses the server's, which defaults to
            as fast as the client reads.
        chunk: ``"token"`` for one token per chunk, or ``N`` for N tokens per chunk (a
            chunk may then hold the end of the reasoning and the start of the answer).
        tool_calls: Calls the model makes after the answer text (`Call` objects or
            ``{"name", "arguments", "id"}`` dicts). A server with a tool parser sends them
            as ``message.tool_calls`` / ``delta.tool_calls`` with ``finish_reason:
            "tool_calls"``, in its own streaming manner (`Dialect.tool_stream`); a server
            without one (the ``inline*`` dialects, and ``/v1/completions``) writes the
            family's markup into the text (`Dialect.tool_format`, `tool_markup`). The
            arguments count as generated tokens, so ``max_tokens`` can cut a call short.
        drafts: Calls the model rehearses at the end of its reasoning, written in the
            family's markup inside the reasoning (never sent as calls: a rehearsal).
    """

    answer: str = ""
    reasoning: str = ""
    finish_reason: FinishReason | None = None
    tokens_per_second: float | None = None
    chunk: Literal["token"] | int = "token"
    tool_calls: Sequence[CallLike] = ()
    drafts: Sequence[CallLike] = ()

    def __post_init__(self) -> None:
        _check_rate(self.tokens_per_second)
        object.__setattr__(self, "tool_calls", _calls(self.tool_calls, "tool_calls"))
        object.__setattr__(self, "drafts", _calls(self.drafts, "drafts"))
        if self.finish_reason not in (None, "stop", "length"):
            raise UsageError(
                f"finish_reason must be 'stop', 'length' or None, got {self.finish_reason!r}"
            )
        positive = (
            isinstance(self.chunk, int) and not isinstance(self.chunk, bool) and self.chunk >= 1
        )
        if self.chunk != "token" and not positive:
            raise UsageError(f"chunk must be 'token' or a positive int, got {self.chunk!r}")


def calls_of(script: Reply | Runaway) -> tuple[tuple[Call, ...], tuple[Call, ...]]:
    """A script's (tool calls, drafts), as the `Call` tuples ``__post_init__`` made of them."""
    drafts = script.drafts if isinstance(script, Reply) else ()
    return cast("tuple[Call, ...]", script.tool_calls), cast("tuple[Call, ...]", drafts)


@dataclass(frozen=True)
class Runaway:
    """Reasoning that never closes: ``token`` over and over, one per chunk.

    It stops at ``max_tokens`` (``finish_reason="length"``), when the client disconnects,
    at the server's context length, or when a native thinking budget forces the think
    block shut — then it answers with ``answer``.

    The same script answers the *continuation* that follows it: the most recently
    started Runaway stays armed until a continuation request arrives, and that request
    (whatever the queue holds) streams ``answer`` with no reasoning. A continuation is a
    chat whose last message is the assistant's and ends with a closed think block (or
    carries ``prefix: true``), a raw prompt that ends after a closing delimiter, or a
    request with thinking switched off (``chat_template_kwargs.enable_thinking=false``,
    ``reasoning_effort="none"``, ``thinking={"type": "disabled"}``, ``think=false``).

    ``tool_calls`` follow ``answer`` wherever it is given (after a forced close, or in the
    continuation), as in `Reply`: a thinking budget cut short in a tool turn may conclude
    with a call.
    """

    answer: str = "ok"
    token: str = " hmm"  # one generated token per emission, whatever its text
    tokens_per_second: float | None = None
    tool_calls: Sequence[CallLike] = ()

    def __post_init__(self) -> None:
        _check_rate(self.tokens_per_second)
        object.__setattr__(self, "tool_calls", _calls(self.tool_calls, "tool_calls"))
        if not self.token:
            raise UsageError("Runaway.token must not be empty")


@dataclass(frozen=True)
class Fail:
    """Answer with an HTTP error, in the body shape of the dialect's real server.

    Attributes:
        status: The HTTP status (400, 429, 500, 503, or any other 4xx/5xx).
        retry_after: Seconds to send in a ``Retry-After`` header.
        message: The error message; the status phrase when not given.
    """

    status: int = 500
    retry_after: float | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise UsageError(
                f"Fail.status must be an HTTP error status (4xx/5xx), got {self.status}"
            )
        if self.retry_after is not None and self.retry_after < 0:
            raise UsageError("Fail.retry_after must not be negative")


@dataclass(frozen=True)
class Hang:
    """Accept the request and never answer, until the client leaves or the server stops."""


DEFAULT_REPLY = Reply(reasoning="The user wants a short reply.", answer="ok")


@dataclass(frozen=True)
class Drop:
    """Play ``then`` for ``after_chunks`` token chunks, then close the connection mid-response.

    No final chunk, no ``[DONE]``, no terminating empty chunk: the client sees the peer
    close an unfinished chunked body. A non-stream request gets its headers and half of
    its body (shorter than its ``Content-Length``) before the close.
    """

    after_chunks: int = 0
    then: Reply | Runaway = DEFAULT_REPLY

    def __post_init__(self) -> None:
        if self.after_chunks < 0:
            raise UsageError("Drop.after_chunks must not be negative")


@dataclass(frozen=True)
class Malformed:
    """Play ``then`` for ``after_chunks`` token chunks, then send a ``data:`` line that is not JSON.

    The response then ends (a proper end of the chunked body, but no ``[DONE]``). A
    non-stream request gets a 200 whose JSON body is cut in half.
    """

    after_chunks: int = 0
    then: Reply | Runaway = DEFAULT_REPLY

    def __post_init__(self) -> None:
        if self.after_chunks < 0:
            raise UsageError("Malformed.after_chunks must not be negative")


@dataclass(frozen=True)
class SlowStart:
    """Wait ``seconds`` before the first byte, then play ``then``."""

    seconds: float
    then: Reply | Runaway | Fail | Drop | Malformed = DEFAULT_REPLY

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise UsageError("SlowStart.seconds must not be negative")


Script: TypeAlias = Reply | Runaway | Fail | Drop | Malformed | SlowStart | Hang
"""Anything the fake server can do with one generation request."""
