"""The fake server's dialects, as data: how each real server puts reasoning on the wire.

One `Dialect` row per server (or server version) the fake imitates. Everything that
differs between servers — which keys carry the reasoning, what a streamed delta looks
like, what usage reports, which endpoints exist, which native thinking budget is
honoured, what an error body looks like — is a field here; the renderer and the request
handlers only read these fields. Adding a server is adding a row.

Sources: ``shared/reference/protocols.md`` §1, §3, §6 and ``llama-server.md`` (measured
on a real llama-server), plus the servers' own code: vLLM ``ErrorResponse``/``ErrorInfo``
(``{"error": {message, type, param, code: int}}``), SGLang's flat ``ErrorResponse``
(``{"object": "error", ...}``), llama.cpp ``format_error_response`` and its native
``/completion`` chunks, Ollama ``openai/openai.go`` (``toChunk``, ``ToStreamChunks``,
``NewError``), OpenRouter's documented ``{"error": {"code": int, "message"}}``, and
captured DeepSeek streams (``content: null`` beside reasoning, ``usage: null`` on every
chunk).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, Final, Literal

from .._http.openai import error_body as openai_error_body

__all__ = ["ABSENT", "DIALECTS", "ERROR_STYLES", "Dialect", "error_body", "not_found_body"]


class _Absent:
    """Marker for a JSON key that is left out altogether (not sent as ``null``)."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()

Budget = Literal["llamacpp", "vllm", "sglang"]
UsageReasoning = Literal["details", "top"]

# Endpoints: (method, path) -> handler name. Every server has the OpenAI trio.
_OPENAI: Mapping[tuple[str, str], str] = {
    ("POST", "/v1/chat/completions"): "chat",
    ("POST", "/v1/completions"): "completions",
    ("GET", "/v1/models"): "models",
}
_LLAMACPP = {
    **_OPENAI,
    ("POST", "/apply-template"): "apply_template",
    ("POST", "/completion"): "native",
    ("GET", "/props"): "props",
    ("GET", "/health"): "health",
}
_VLLM = {**_OPENAI, ("GET", "/version"): "version"}
_OLLAMA = {**_OPENAI, ("GET", "/api/version"): "version"}
_SGLANG = {**_OPENAI, ("GET", "/server_info"): "server_info"}
# DeepSeek has no legacy completions outside its FIM beta; prefix completion lives on /beta.
_DEEPSEEK = {
    ("POST", "/v1/chat/completions"): "chat",
    ("POST", "/chat/completions"): "chat",
    ("POST", "/beta/chat/completions"): "chat",
    ("GET", "/v1/models"): "models",
    ("GET", "/models"): "models",
}


def _m(**kwargs: Any) -> Mapping[str, Any]:
    return MappingProxyType(kwargs)


@dataclass(frozen=True)
class Dialect:
    """How one server, at one version, puts a reasoning model's output on the wire.

    Attributes:
        name: The name used in ``FakeServer(dialect=...)``.
        reasoning_keys: Message and delta keys that carry the reasoning, each with the same
            text. Empty for a server without a reasoning parser: then ``inline`` applies.
        inline: ``(open, close)`` delimiters written around the reasoning inside
            ``content`` when the server has no reasoning parser; ``None`` otherwise.
        model: Model id the server reports.
        echo_model: Whether responses repeat the request's ``model`` (llama.cpp does not).
        owned_by: ``owned_by`` of the ``/v1/models`` entry.
        version: What the server's version endpoint reports.
        role_delta: A first stream delta sent on its own before any token (vLLM, DeepSeek,
            llama.cpp); ``None`` puts ``role`` on the first token's delta (Ollama).
        reasoning_delta: Extra keys of a delta that carries only reasoning (DeepSeek sends
            ``content: null``, Ollama ``content: ""``).
        answer_delta: Extra keys of a delta that carries only answer text.
        finish_delta: Delta of the separate chunk that carries ``finish_reason``; ``None``
            puts ``finish_reason`` on the last token's chunk instead (vLLM).
        chunk_extra: Keys added to every stream chunk.
        split_mixed: A chunk holding both reasoning and answer text goes out as two chunks,
            reasoning first (Ollama's ``ToStreamChunks``).
        message_extra: Extra keys of a non-stream message.
        empty_reasoning: The reasoning keys' value in a message without reasoning:
            ``ABSENT`` (llama.cpp omits the key) or ``None``.
        empty_content: ``content`` of a message without answer text: ``""`` or ``None``.
        usage_reasoning: Where usage reports reasoning tokens: ``"details"``
            (``completion_tokens_details.reasoning_tokens``), ``"top"``
            (``usage.reasoning_tokens``, SGLang) or ``None``.
        cache_usage: DeepSeek's ``prompt_cache_hit_tokens``/``prompt_cache_miss_tokens``.
        timings: llama.cpp's ``timings`` object on non-stream bodies and final chunks.
        prefill_echo: A non-stream reply to a chat whose last message is the assistant's
            repeats that message's content at the start of ``content`` (llama.cpp).
        budget: The native thinking-budget knob the server honours, if any.
        errors: Error body style, a key of ``ERROR_STYLES``.
        endpoints: ``(method, path)`` to handler name; every other path is a 404.
        stream_preamble: Bytes sent before the first ``data:`` line (OpenRouter's comment).
        stale_keep_alive: A request that arrives on a kept-alive connection which already
            served one is dropped unanswered and the connection closed: llama-server's
            stale keep-alive (it closes connections it advertised as kept alive), made
            deterministic. Off in every built-in row; set it on a row of your own.
    """

    name: str
    reasoning_keys: tuple[str, ...]
    model: str
    errors: str
    endpoints: Mapping[tuple[str, str], str] = field(default_factory=lambda: _OPENAI)
    inline: tuple[str, str] | None = None
    echo_model: bool = True
    owned_by: str = "fake"
    version: str = ""
    role_delta: Mapping[str, Any] | None = field(
        default_factory=lambda: _m(role="assistant", content="")
    )
    reasoning_delta: Mapping[str, Any] = field(default_factory=lambda: _m())
    answer_delta: Mapping[str, Any] = field(default_factory=lambda: _m())
    finish_delta: Mapping[str, Any] | None = field(default_factory=lambda: _m())
    chunk_extra: Mapping[str, Any] = field(default_factory=lambda: _m())
    split_mixed: bool = False
    message_extra: Mapping[str, Any] = field(default_factory=lambda: _m())
    empty_reasoning: object = None
    empty_content: str | None = ""
    usage_reasoning: UsageReasoning | None = None
    cache_usage: bool = False
    timings: bool = False
    prefill_echo: bool = False
    budget: Budget | None = None
    stream_preamble: bytes = b""
    stale_keep_alive: bool = False


_THINK = ("<think>\n", "\n</think>\n\n")
_CLOSE_ONLY = ("", "\n</think>\n\n")
_HARMONY = (
    "<|channel|>analysis<|message|>",
    "<|end|><|start|>assistant<|channel|>final<|message|>",
)

_VLLM_COMMON: dict[str, Any] = {
    "model": "Qwen/Qwen3-8B",
    "errors": "vllm",
    "endpoints": _VLLM,
    "owned_by": "vllm",
    "finish_delta": None,
    "message_extra": _m(tool_calls=[]),
    "empty_content": None,
}
_GENERIC: dict[str, Any] = {
    "reasoning_keys": (),
    "model": "generic-reasoner",
    "errors": "openai",
}

_ROWS = (
    Dialect(
        "deepseek",
        ("reasoning_content",),
        model="deepseek-reasoner",
        errors="openai",
        endpoints=_DEEPSEEK,
        owned_by="deepseek",
        role_delta=_m(role="assistant", content=None, reasoning_content=""),
        reasoning_delta=_m(content=None),
        answer_delta=_m(reasoning_content=None),
        finish_delta=_m(content=""),
        chunk_extra=_m(system_fingerprint="fp_fake", usage=None),
        usage_reasoning="details",
        cache_usage=True,
    ),
    Dialect("vllm", ("reasoning",), version="0.26.0", budget="vllm", **_VLLM_COMMON),
    Dialect(
        "vllm-transition", ("reasoning", "reasoning_content"), version="0.11.2", **_VLLM_COMMON
    ),
    Dialect("vllm-old", ("reasoning_content",), version="0.10.1", **_VLLM_COMMON),
    Dialect(
        "llamacpp",
        ("reasoning_content",),
        model="SmolLM2-135M-Instruct.Q4_1.gguf",
        echo_model=False,
        errors="llamacpp",
        endpoints=_LLAMACPP,
        owned_by="llamacpp",
        version="b1-0c1e570",
        role_delta=_m(role="assistant", content=None),
        chunk_extra=_m(system_fingerprint="b1-0c1e570"),
        empty_reasoning=ABSENT,
        timings=True,
        prefill_echo=True,
        budget="llamacpp",
    ),
    Dialect(
        "sglang",
        ("reasoning_content",),
        model="Qwen/Qwen3-8B",
        errors="sglang",
        endpoints=_SGLANG,
        owned_by="sglang",
        version="0.5.21",
        empty_content=None,
        usage_reasoning="top",
        budget="sglang",
    ),
    Dialect(
        "ollama",
        ("reasoning",),
        model="qwen3:8b",
        errors="ollama",
        endpoints=_OLLAMA,
        owned_by="library",
        version="0.12.3",
        role_delta=None,
        reasoning_delta=_m(content=""),
        chunk_extra=_m(system_fingerprint="fp_ollama"),
        split_mixed=True,
        empty_reasoning=ABSENT,
    ),
    Dialect(
        "openrouter",
        ("reasoning",),
        model="deepseek/deepseek-r1",
        errors="openrouter",
        owned_by="openrouter",
        message_extra=_m(refusal=None, reasoning_details=[]),
        usage_reasoning="details",
        stream_preamble=b": OPENROUTER PROCESSING\n\n",
    ),
    Dialect(
        "lmstudio",
        ("reasoning_content",),
        model="qwen3-8b",
        errors="lmstudio",
        owned_by="organization_owner",
        empty_reasoning=ABSENT,
    ),
    Dialect("inline", inline=_THINK, **_GENERIC),
    Dialect("inline-close-only", inline=_CLOSE_ONLY, **_GENERIC),
    Dialect("inline-harmony", inline=_HARMONY, **_GENERIC),
)

DIALECTS: Mapping[str, Dialect] = MappingProxyType({d.name: d for d in _ROWS})
"""Every dialect the fake speaks, by name."""


# --- error bodies --------------------------------------------------------------------------

# llama-server has no 429 of its own (a proxy in front sends it); the fake borrows OpenAI's type.
_LLAMACPP_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "server_error",
    501: "not_supported_error",
    503: "unavailable_error",
}
_OLLAMA_TYPES = {400: "invalid_request_error", 404: "not_found_error"}


def _phrase_type(status: int) -> str:
    """vLLM/SGLang error types: the exception class name, or the HTTP phrase for the rest."""
    named = {400: "BadRequestError", 404: "NotFoundError", 500: "InternalServerError"}
    return named.get(status) or HTTPStatus(status).phrase


ERROR_STYLES: Mapping[str, Callable[[int, str], object]] = MappingProxyType(
    {
        "openai": openai_error_body,
        "vllm": lambda s, m: {
            "error": {"message": m, "type": _phrase_type(s), "param": None, "code": s}
        },
        "sglang": lambda s, m: {
            "object": "error",
            "message": m,
            "type": _phrase_type(s),
            "param": None,
            "code": s,
        },
        "llamacpp": lambda s, m: {
            "error": {"code": s, "message": m, "type": _LLAMACPP_TYPES.get(s, "server_error")}
        },
        "ollama": lambda s, m: {
            "error": {
                "message": m,
                "type": _OLLAMA_TYPES.get(s, "api_error"),
                "param": None,
                "code": None,
            }
        },
        "openrouter": lambda s, m: {"error": {"code": s, "message": m}},
        "lmstudio": lambda s, m: {"error": m},
    }
)
"""Error body builders by style: ``(status, message) -> JSON body``."""


def error_body(dialect: Dialect, status: int, message: str) -> object:
    """The JSON body ``dialect``'s server sends with an HTTP error ``status``."""
    return ERROR_STYLES[dialect.errors](status, message)


# FastAPI servers answer unknown paths with Starlette's own body, not their error model.
_NOT_FOUND: Mapping[str, Callable[[str, str], tuple[object, str]]] = MappingProxyType(
    {
        "vllm": lambda _m, _p: ({"detail": "Not Found"}, "application/json"),
        "sglang": lambda _m, _p: ({"detail": "Not Found"}, "application/json"),
        "llamacpp": lambda _m, _p: (
            ERROR_STYLES["llamacpp"](404, "File Not Found"),
            "application/json",
        ),
        "ollama": lambda _m, _p: ("404 page not found", "text/plain"),
        "lmstudio": lambda m, p: (
            {"error": f"Unexpected endpoint or method. ({m} {p})"},
            "application/json",
        ),
    }
)


def not_found_body(dialect: Dialect, method: str, path: str) -> tuple[object, str]:
    """What ``dialect``'s server sends for a path it does not serve: (body, content type).

    A ``str`` body is sent as plain text; anything else as JSON.
    """
    build = _NOT_FOUND.get(dialect.errors)
    if build is not None:
        return build(method, path)
    return error_body(dialect, 404, f"Not found: {method} {path}"), "application/json"
