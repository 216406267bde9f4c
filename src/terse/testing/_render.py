"""JSON shapes of the fake's generation responses: pure builders, one per endpoint kind.

A renderer turns generated tokens into what ``dialect``'s server would send: stream
events (``opening``, ``tokens``, ``closing``) or one non-stream ``body``. It reads only
the `Dialect` row; it never touches a socket. The OpenAI shapes themselves (chunk
framing, usage, SSE) come from `terse._http`, which a proxy's output shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .._http.openai import ChunkStream
from .._http.openai import usage as openai_usage
from .._http.sse import DONE, sse
from ._plan import Token
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
    return "".join(t for r, t in tokens if r), "".join(t for r, t in tokens if not r)


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

    def __init__(self, dialect: Dialect, meta: Meta, prefix: str = "") -> None:
        self.d = dialect
        self.meta = meta
        self.prefix = prefix
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
        if finish is None and not self._first and len(tokens) == 1:
            # Streams repeat the same tokens (a runaway, nothing else): encode each once.
            cached = self._cache.get(tokens[0])
            if cached is None:
                cached = self._cache[tokens[0]] = self._events(tokens, None)
            return cached
        return self._events(tokens, finish)

    def _events(self, tokens: Sequence[Token], finish: str | None) -> list[bytes]:
        deltas = self._deltas(*_split(tokens))
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
            chunks.append(self._chunk(dict(self.d.finish_delta or {}), finish))
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


def renderer_for(kind: str, dialect: Dialect, meta: Meta, prefix: str = "") -> Renderer:
    """The renderer for one request to endpoint ``kind``."""
    if kind == "chat":
        return ChatRenderer(dialect, meta, prefix)
    if kind == "completions":
        return CompletionRenderer(dialect, meta)
    return NativeRenderer(dialect, meta)
