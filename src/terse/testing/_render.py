"""JSON shapes of the fake's generation responses: pure builders, one per endpoint kind.

A renderer turns generated tokens into what ``dialect``'s server would send: stream
events (``opening``, ``tokens``, ``closing``) or one non-stream ``body``. It reads only
the `Dialect` row; it never touches a socket. The OpenAI shapes themselves (chunk
framing, usage, SSE) come from `terse._http`, which a proxy's output shares.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .._http.openai import ChunkStream, tool_call
from .._http.openai import usage as openai_usage
from .._http.sse import DONE, sse
from ._plan import CallPiece, Token
from ._scripts import Call
from ._wire import ABSENT, Dialect

__all__ = ["DONE", "Counts", "Meta", "Renderer", "renderer_for", "sse"]


@dataclass(frozen=True)
class Meta:
    """What every response of one request repeats: id, creation time, model, prompt."""

    id: str
    created: int
    model: str
    prompt: str
    prompt_tokens: int
    include_usage: bool
    limit: int | None


@dataclass(frozen=True)
class Counts:
    """How many tokens a request generated, and in how many seconds."""

    reasoning: int
    answer: int
    seconds: float

    @property
    def total(self) -> int:
        """All generated tokens."""
        return self.reasoning + self.answer


def usage(dialect: Dialect, meta: Meta, counts: Counts) -> dict[str, Any]:
    """The ``usage`` object ``dialect``'s server reports."""
    details = counts.reasoning if dialect.usage_reasoning == "details" else None
    out = openai_usage(meta.prompt_tokens, counts.total, reasoning_tokens=details)
    if dialect.usage_reasoning == "top":
        out["reasoning_tokens"] = counts.reasoning
    if dialect.cache_usage:
        out["prompt_tokens_details"] = {"cached_tokens": 0}
        out["prompt_cache_hit_tokens"] = 0
        out["prompt_cache_miss_tokens"] = meta.prompt_tokens
    return out


def timings(meta: Meta, counts: Counts) -> dict[str, Any]:
    """llama.cpp's ``timings`` object."""
    predicted_ms = max(counts.seconds * 1000.0, 0.001)
    n = counts.total
    return {
        "cache_n": 0,
        "prompt_n": meta.prompt_tokens,
        "prompt_ms": 0.5,
        "prompt_per_token_ms": 0.5 / max(meta.prompt_tokens, 1),
        "prompt_per_second": 2000.0 * meta.prompt_tokens,
        "predicted_n": n,
        "predicted_ms": predicted_ms,
        "predicted_per_token_ms": predicted_ms / max(n, 1),
        "predicted_per_second": 1000.0 * n / predicted_ms,
    }


def _split(tokens: Sequence[Token]) -> tuple[str, str]:
    return "".join(t for r, t in tokens if r), "".join(
        t for r, t in tokens if not r and not isinstance(t, CallPiece)
    )


def _pieces(tokens: Sequence[Token]) -> list[CallPiece]:
    return [t for _, t in tokens if isinstance(t, CallPiece)]


class _Calls:
    """The native tool calls of one response, as their pieces arrive."""

    def __init__(self, dialect: Dialect, meta: Meta, calls: Sequence[Call]) -> None:
        self.q = dialect.tool_stream
        req = meta.id.rpartition("-")[2]
        self.ids = [
            c.id or self.q.id_format.format(req=req, index=i, name=c.name)
            for i, c in enumerate(calls)
        ]
        self.names: list[str] = []
        self.args: list[str] = []
        self.done: list[bool] = []
        self.sent: list[int] = []  # argument characters already streamed, per call

    def add(self, piece: CallPiece) -> None:
        if piece.head:
            self.names.append(str(piece))
            self.args.append("")
            self.done.append(False)
            self.sent.append(0)
        else:
            self.args[piece.call] += piece
        self.done[piece.call] = piece.last

    def arguments(self, i: int) -> object:
        text = self.args[i]
        if self.q.args_object:
            try:
                return json.loads(text)
            except ValueError:
                pass
        return text

    def message(self) -> list[dict[str, Any]]:
        """``message.tool_calls``: every call begun, with the arguments generated."""
        return [
            tool_call(self.ids[i] if self.q.send_id else None, name, self.arguments(i))
            for i, name in enumerate(self.names)
        ]

    def _entry(self, i: int, head: bool, arguments: object) -> dict[str, Any]:
        q = self.q
        index = None if q.index == "absent" else (0 if q.index == "zero" else i)
        send_id = q.send_id and (head or q.id_every_chunk)
        if head:
            return tool_call(self.ids[i] if send_id else None, self.names[i], arguments, index)
        entry: dict[str, Any] = {} if index is None else {"index": index}
        if send_id:
            entry["id"] = self.ids[i]
        entry["function"] = {"arguments": arguments}
        return entry

    def deltas(self, pieces: Sequence[CallPiece], final: bool) -> list[dict[str, Any]]:
        """The ``delta.tool_calls`` entries for one chunk's pieces; ``final`` flushes."""
        q = self.q
        held = q.args_one_chunk or q.args_object
        out: list[dict[str, Any]] = []
        for i, group in itertools.groupby(pieces, key=lambda p: p.call):
            run = list(group)
            for piece in run:
                self.add(piece)
            done = self.done[i] or final
            if q.whole_call:
                if done:
                    out.append(self._entry(i, True, self.arguments(i)))
                continue
            ready = done or not held
            fresh = ""
            if ready:
                fresh, self.sent[i] = self.args[i][self.sent[i] :], len(self.args[i])
            if run[0].head and not held:
                out.append(self._entry(i, True, fresh))  # name and first arguments together
                continue
            if run[0].head:
                out.append(self._entry(i, True, ""))
            if ready and (fresh or (held and not run[0].head)):
                out.append(self._entry(i, False, self.arguments(i) if held else fresh))
        return out


class Renderer(Protocol):
    """What the engine needs from a renderer (one per request)."""

    def opening(self) -> list[bytes]:
        """Events sent before the first token."""

    def tokens(self, tokens: Sequence[Token], finish: str | None) -> list[bytes]:
        """Events for one chunk of tokens; ``finish`` is set on the last chunk."""

    def closing(self, finish: str, counts: Counts) -> list[bytes]:
        """Events after the last token, ending the stream."""

    def malformed(self) -> bytes:
        """An event whose data is not JSON."""

    def body(self, tokens: Sequence[Token], finish: str, counts: Counts) -> dict[str, Any]:
        """The whole non-stream response body."""


class ChatRenderer:
    """``/v1/chat/completions``: reasoning in the dialect's keys, or inline in ``content``."""

    def __init__(
        self, dialect: Dialect, meta: Meta, prefix: str = "", calls: Sequence[Call] = ()
    ) -> None:
        self.d = dialect
        self.meta = meta
        self.prefix = prefix
        self._calls = _Calls(dialect, meta, calls)
        self._first = True
        self._stream = ChunkStream(meta.id, meta.created, meta.model, dialect.chunk_extra)
        self._event = self._stream.delta
        self._chunk = self._stream.chunk
        self._cache: dict[Token, list[bytes]] = {}

    def _deltas(self, reasoning: str, answer: str) -> list[dict[str, Any]]:
        d = self.d
        if d.inline is not None:
            return [{"content": reasoning + answer}]
        r_delta: dict[str, Any] = dict.fromkeys(d.reasoning_keys, reasoning)
        if reasoning and answer and d.split_mixed:
            return [r_delta, {"content": answer}]  # Ollama drops content from the reasoning half
        if reasoning and answer:
            return [{**r_delta, "content": answer}]
        if reasoning:
            return [{**r_delta, **d.reasoning_delta}]
        return [{"content": answer, **d.answer_delta}]

    def opening(self) -> list[bytes]:
        if self.d.role_delta is None:
            return []
        self._first = False
        return [sse(self._chunk(dict(self.d.role_delta)))]

    def tokens(self, tokens: Sequence[Token], finish: str | None) -> list[bytes]:
        if (
            finish is None
            and not self._first
            and len(tokens) == 1
            and not isinstance(tokens[0][1], CallPiece)
        ):
            # Streams repeat the same tokens (a runaway, nothing else): encode each once.
            cached = self._cache.get(tokens[0])
            if cached is None:
                cached = self._cache[tokens[0]] = self._events(tokens, None)
            return cached
        return self._events(tokens, finish)

    def _finish(self, finish: str | None) -> str | None:
        """The streamed finish reason: a call cut by the limit may say ``tool_calls`` (vLLM)."""
        cut = self.d.tool_stream.cut_finish
        if finish == "length" and cut is not None and self._calls.names:
            return cut
        return finish

    def _events(self, tokens: Sequence[Token], finish: str | None) -> list[bytes]:
        pieces = _pieces(tokens)
        reasoning, answer = _split(tokens)
        deltas = self._deltas(reasoning, answer) if reasoning or answer or not pieces else []
        if pieces:
            entries = self._calls.deltas(pieces, final=finish is not None)
            if entries and deltas and "content" in deltas[-1] and deltas[-1]["content"]:
                deltas[-1]["tool_calls"] = entries  # content and calls in one delta
            elif entries:
                deltas.append({**self.d.tool_delta, "tool_calls": entries})
        finish = self._finish(finish)
        if not deltas:
            if finish is None or self.d.finish_delta is not None:
                return []
            deltas = [{}]
        if self._first:
            deltas[0] = {"role": "assistant", **deltas[0]}
            self._first = False
        on_last = finish if self.d.finish_delta is None else None
        last = len(deltas) - 1
        return [
            self._event(delta, on_last if i == last else None) for i, delta in enumerate(deltas)
        ]

    def closing(self, finish: str, counts: Counts) -> list[bytes]:
        chunks: list[dict[str, Any]] = []
        if self.d.finish_delta is not None or counts.total == 0:
            chunks.append(self._chunk(dict(self.d.finish_delta or {}), self._finish(finish)))
        if self.meta.include_usage:
            chunks.append(self._stream.usage_chunk(usage(self.d, self.meta, counts)))
        if self.d.timings and chunks:
            chunks[-1]["timings"] = timings(self.meta, counts)
        return [*map(sse, chunks), DONE]

    def malformed(self) -> bytes:
        return (
            b'data: {"id": "'
            + self.meta.id.encode()
            + b'", "choices": [{"delta": {"content": "\n\n'
        )

    def body(self, tokens: Sequence[Token], finish: str, counts: Counts) -> dict[str, Any]:
        d = self.d
        reasoning, answer = _split(tokens)
        if d.inline is not None:
            reasoning, answer = "", reasoning + answer
        content = self.prefix + answer
        message: dict[str, Any] = {"role": "assistant", "content": content or d.empty_content}
        for key in d.reasoning_keys:
            value = reasoning or d.empty_reasoning
            if value is not ABSENT:
                message[key] = value
        message.update(d.message_extra)
        for piece in _pieces(tokens):
            self._calls.add(piece)
        if self._calls.names:
            message["tool_calls"] = self._calls.message()
        out: dict[str, Any] = {
            "id": self.meta.id,
            "object": "chat.completion",
            "created": self.meta.created,
            "model": self.meta.model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": usage(d, self.meta, counts),
        }
        if "system_fingerprint" in d.chunk_extra:
            out["system_fingerprint"] = d.chunk_extra["system_fingerprint"]
        if d.timings:
            out["timings"] = timings(self.meta, counts)
        return out


class CompletionRenderer:
    """``/v1/completions``: raw text; the reasoning is inline in ``text``."""

    def __init__(self, dialect: Dialect, meta: Meta) -> None:
        self.d = dialect
        self.meta = meta
        self._base = {
            "id": meta.id,
            "object": "text_completion",
            "created": meta.created,
            "model": meta.model,
        }

    def _chunk(self, text: str, finish: str | None) -> dict[str, Any]:
        return {
            **self._base,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}],
        }

    def opening(self) -> list[bytes]:
        return []

    def tokens(self, tokens: Sequence[Token], finish: str | None) -> list[bytes]:
        return [sse(self._chunk("".join(t for _, t in tokens), None))]

    def closing(self, finish: str, counts: Counts) -> list[bytes]:
        chunks = [self._chunk("", finish)]
        if self.meta.include_usage:
            chunks.append({**self._base, "choices": [], "usage": usage(self.d, self.meta, counts)})
        if self.d.timings:
            chunks[-1]["timings"] = timings(self.meta, counts)
        return [*map(sse, chunks), DONE]

    def malformed(self) -> bytes:
        return b'data: {"choices": [{"text": "\n\n'

    def body(self, tokens: Sequence[Token], finish: str, counts: Counts) -> dict[str, Any]:
        out = {
            **self._chunk("".join(t for _, t in tokens), finish),
            "usage": usage(self.d, self.meta, counts),
        }
        if self.d.timings:
            out["timings"] = timings(self.meta, counts)
        return out


class NativeRenderer:
    """llama.cpp ``/completion``: ``{"content", "stop": false}`` chunks, a full final object, no ``[DONE]``."""

    def __init__(self, dialect: Dialect, meta: Meta) -> None:
        self.d = dialect
        self.meta = meta
        self._n = 0

    def opening(self) -> list[bytes]:
        return []

    def tokens(self, tokens: Sequence[Token], finish: str | None) -> list[bytes]:
        self._n += len(tokens)
        text = "".join(t for _, t in tokens)
        chunk = {
            "index": 0,
            "content": text,
            "tokens": [],
            "stop": False,
            "id_slot": 0,
            "tokens_predicted": self._n,
            "tokens_evaluated": self.meta.prompt_tokens,
        }
        return [sse(chunk)]

    def _final(self, content: str, finish: str, counts: Counts) -> dict[str, Any]:
        return {
            "index": 0,
            "content": content,
            "tokens": [],
            "id_slot": 0,
            "stop": True,
            "model": self.meta.model,
            "tokens_predicted": counts.total,
            "tokens_evaluated": self.meta.prompt_tokens,
            "generation_settings": {
                "n_predict": -1 if self.meta.limit is None else self.meta.limit,
                "stream": True,
            },
            "prompt": self.meta.prompt,
            "has_new_line": "\n" in content,
            "truncated": False,
            "stop_type": "limit" if finish == "length" else "eos",
            "stopping_word": "",
            "tokens_cached": self.meta.prompt_tokens + counts.total,
            "timings": timings(self.meta, counts),
        }

    def closing(self, finish: str, counts: Counts) -> list[bytes]:
        return [sse(self._final("", finish, counts))]

    def malformed(self) -> bytes:
        return b'data: {"content": "\n\n'

    def body(self, tokens: Sequence[Token], finish: str, counts: Counts) -> dict[str, Any]:
        final = self._final("".join(t for _, t in tokens), finish, counts)
        final["generation_settings"]["stream"] = False
        return final


def renderer_for(
    kind: str, dialect: Dialect, meta: Meta, prefix: str = "", calls: Sequence[Call] = ()
) -> Renderer:
    """The renderer for one request to endpoint ``kind``; ``calls`` are its native calls."""
    if kind == "chat":
        return ChatRenderer(dialect, meta, prefix, calls)
    if kind == "completions":
        return CompletionRenderer(dialect, meta)
    return NativeRenderer(dialect, meta)
