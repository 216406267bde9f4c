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
chunk). Tool calls: ``shared/reference/tools.md`` §1 (wire shapes and each server's
streaming quirks, the `ToolStream` fields) and §4 (history rules, ``echo_reasoning``);
Moonshot's error body ``{"error": {"message", "type"}}`` (the ``"kimi"`` style) as
quoted in client bug reports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, Final, Literal

from .._http.openai import error_body as openai_error_body
from .._http.openai import error_type as openai_error_type

__all__ = [
    "ABSENT",
    "DIALECTS",
    "ERROR_STYLES",
    "Dialect",
    "ToolStream",
    "error_body",
    "not_found_body",
]


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
class ToolStream:
    """How a server with a tool parser puts calls on the wire (``tools.md`` §1), as data.

    The default is the canonical OpenAI stream: per call, a first delta with ``index``,
    ``id``, ``type`` and ``function.name`` (``arguments: ""``), then ``index`` plus an
    ``arguments`` fragment per token.

    Attributes:
        index: ``"each"`` numbers calls 0, 1, ...; ``"zero"`` sends 0 for every call (Ollama,
            ollama#15457, so clients merge parallel calls); ``"absent"`` leaves the key out
            (Ollama before 0.4.7, ollama#7881).
        id_every_chunk: Repeat the call's ``id`` on every fragment (older SGLang, LiteLLM).
        whole_call: Send each call in one delta, arguments complete, once generated
            (Ollama ``/v1``, huggingface.js#1512).
        args_one_chunk: Send the name first, then all the arguments in one delta (LM Studio
            with some models, lmstudio-bug-tracker#1868).
        args_object: ``arguments`` as a JSON object instead of a string, whenever the text
            parses (llama.cpp briefly, #20198; Ollama's native API). Streams then send the
            arguments whole.
        send_id: Send ids at all; ``False`` leaves ``id`` out (clients must make them up).
        cut_finish: Streamed ``finish_reason`` when ``max_tokens`` cut a call
            (vLLM says ``"tool_calls"``, vllm#53269); ``None`` says ``"length"``. A
            non-stream reply always says ``"length"``, with the cut call's partial arguments.
        id_format: How the server makes up ids: a format string with ``{req}`` (the
            response's number), ``{index}`` (the call's) and ``{name}`` (vLLM
            ``chatcmpl-tool-…``, DeepSeek ``call_00_…``, Kimi ``functions.{name}:{index}``).
    """

    index: Literal["each", "zero", "absent"] = "each"
    id_every_chunk: bool = False
    whole_call: bool = False
    args_one_chunk: bool = False
    args_object: bool = False
    send_id: bool = True
    cut_finish: str | None = None
    id_format: str = "call_{req}_{index}"


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
        tool_stream: How native tool calls go on the wire (`ToolStream`).
        tool_format: The model family whose call markup the server passes through in the
            text when it has no tool parser (``inline`` rows, ``/v1/completions``), and that
            drafts in the reasoning are written in: a key of `TOOL_FORMATS`.
        tool_delta: Extra keys of a stream delta that carries only tool calls.
        echo_reasoning: The tool-loop history rule of a thinking model (``tools.md`` §4), or
            ``None``. ``"deepseek"``: an assistant message with ``tool_calls`` after the last
            user message must carry ``reasoning_content`` (``""`` will do), or the request is
            refused with 400. ``"kimi"``: every assistant message with ``tool_calls`` must
            carry a non-empty ``reasoning_content``. Either holds only while thinking is on.
        check_tool_ids: Every ``role: "tool"`` message must answer an id of the assistant
            ``tool_calls`` message before it, or the request is refused with 400.
        tool_choice_object: Accept ``tool_choice`` given as an object (LM Studio refuses it).
        fires_drafts: The tool parser also scans the reasoning, so a reply's drafts go out
            as real calls before its own (LM Studio, lmstudio-bug-tracker#1592 and #453:
            "phantom" calls); the drafts stay in the reasoning text too.
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
    tool_stream: ToolStream = ToolStream()
    tool_format: str = "hermes"
    tool_delta: Mapping[str, Any] = field(default_factory=lambda: _m())
    echo_reasoning: Literal["deepseek", "kimi"] | None = None
    check_tool_ids: bool = False
    tool_choice_object: bool = True
    fires_drafts: bool = False


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
    "tool_stream": ToolStream(cut_finish="tool_calls", id_format="chatcmpl-tool-{req}{index}"),
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
        tool_stream=ToolStream(id_format="call_{index:02d}_{req}"),
        tool_format="deepseek_v31",
        tool_delta=_m(content=None, reasoning_content=None),
        echo_reasoning="deepseek",
        check_tool_ids=True,
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
        tool_stream=ToolStream(id_every_chunk=True),
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
        tool_stream=ToolStream(index="zero", whole_call=True),
        tool_delta=_m(content=""),
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
        tool_stream=ToolStream(args_one_chunk=True),
        tool_choice_object=False,
        fires_drafts=True,
    ),
    Dialect("inline", inline=_THINK, **_GENERIC),
    Dialect("inline-close-only", inline=_CLOSE_ONLY, tool_format="qwen3_xml", **_GENERIC),
    Dialect("inline-harmony", inline=_HARMONY, tool_format="harmony", **_GENERIC),
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
        "kimi": lambda s, m: {"error": {"message": m, "type": openai_error_type(s)}},
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
