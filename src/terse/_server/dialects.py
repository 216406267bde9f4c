"""Server dialects and model families, as data.

A *dialect* is what one OpenAI-compatible server (or server version) does differently:
where it reports reasoning tokens, whether a streamed delta is one token, which native
thinking budget it honours, how a request switches thinking off, and how a cut-off
reasoning can be continued into an answer. A *model family* is what one family of models
does differently whichever server runs it.

This module is the only place that knows such quirks. Reading responses does not depend
on the dialect at all (every known reasoning field is read, duplicates dropped); the
dialect steers only what terse *sends*. Sources: ``shared/reference/protocols.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "DIALECTS",
    "MODEL_FAMILIES",
    "Dialect",
    "ModelFamily",
    "detect_from_response",
    "detect_from_url",
    "dialect_named",
    "family_for",
]


@dataclass(frozen=True)
class Dialect:
    """How to talk to one kind of server.

    Attributes:
        name: Identifier (``Client(dialect=...)`` accepts it).
        label: Human-readable server name.
        reasoning_usage: Path into ``usage`` of the reasoning-token count, if reported.
        token_per_chunk: Each streamed delta is exactly one token, so counting deltas is exact.
        native_budget: Which native thinking budget the server offers (``"llamacpp"``,
            ``"vllm"``, ``"sglang"``), or None.
        disable_thinking: Request fields that switch thinking off, merged into the body.
        conclude: Ways to continue a cut-off reasoning into an answer, best first.
        probe_paths: GET paths (relative to the server root) that describe the server.
    """

    name: str
    label: str
    reasoning_usage: tuple[str, ...] = ()
    token_per_chunk: bool = False
    native_budget: str | None = None
    disable_thinking: Mapping[str, Any] = field(default_factory=dict)
    conclude: tuple[str, ...] = ("new-turn",)
    probe_paths: tuple[str, ...] = ()


_QWEN_OFF: Mapping[str, Any] = {
    "chat_template_kwargs": {"enable_thinking": False},
    "reasoning_effort": "none",
}

DIALECTS: tuple[Dialect, ...] = (
    Dialect(
        "deepseek",
        "DeepSeek API",
        reasoning_usage=("completion_tokens_details", "reasoning_tokens"),
        disable_thinking={"thinking": {"type": "disabled"}},
        conclude=("deepseek-prefix", "new-turn"),
    ),
    Dialect(
        "vllm",
        "vLLM",
        reasoning_usage=("completion_tokens_details", "reasoning_tokens"),
        token_per_chunk=True,
        native_budget="vllm",
        disable_thinking=_QWEN_OFF,
        conclude=("chat-prefill", "new-turn"),
        probe_paths=("/version",),
    ),
    Dialect(
        "llamacpp",
        "llama.cpp llama-server",
        token_per_chunk=True,
        native_budget="llamacpp",
        disable_thinking=_QWEN_OFF,
        conclude=("llamacpp-completion", "new-turn"),
        probe_paths=("/props",),
    ),
    Dialect(
        "sglang",
        "SGLang",
        reasoning_usage=("reasoning_tokens",),
        native_budget="sglang",
        disable_thinking={"chat_template_kwargs": {"enable_thinking": False, "thinking": False}},
        conclude=("chat-prefill", "new-turn"),
        probe_paths=("/server_info",),
    ),
    Dialect(
        "ollama", "Ollama (/v1)", disable_thinking={"think": False, "reasoning_effort": "none"}
    ),
    Dialect(
        "openrouter",
        "OpenRouter",
        reasoning_usage=("completion_tokens_details", "reasoning_tokens"),
        disable_thinking={"reasoning": {"enabled": False}},
    ),
    Dialect("lmstudio", "LM Studio", disable_thinking={"reasoning_effort": "none"}),
    Dialect(
        "openai-compatible",
        "an OpenAI-compatible server",
        reasoning_usage=("completion_tokens_details", "reasoning_tokens"),
        disable_thinking=_QWEN_OFF,
    ),
)

_BY_NAME = {d.name: d for d in DIALECTS}
GENERIC = _BY_NAME["openai-compatible"]


def dialect_named(name: str) -> Dialect:
    """The dialect called ``name``; `UsageError` for an unknown name."""
    from .._exceptions import UsageError

    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(_BY_NAME))
        raise UsageError(f"unknown dialect {name!r}; known dialects: {known}") from None


# Hints in the base URL: (host suffix or ":port", dialect).
_URL_HINTS: tuple[tuple[str, str], ...] = (
    ("api.deepseek.com", "deepseek"),
    ("openrouter.ai", "openrouter"),
    (":11434", "ollama"),
    (":1234", "lmstudio"),
)


def detect_from_url(base_url: str) -> str | None:
    """A dialect name suggested by the base URL alone, or None."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    for hint, name in _URL_HINTS:
        if (hint.startswith(":") and hint == port) or host.endswith(hint):
            return name
    return None


# Signals in a response body: (where, key, value or None for "present", dialect). First match wins.
_RESPONSE_HINTS: tuple[tuple[str, str, str | None, str], ...] = (
    ("top", "timings", None, "llamacpp"),
    ("usage", "prompt_cache_hit_tokens", None, "deepseek"),
    ("usage", "reasoning_tokens", None, "sglang"),
    ("top", "provider", None, "openrouter"),
    ("top", "system_fingerprint", "fp_ollama", "ollama"),
    ("top", "owned_by", "vllm", "vllm"),
)


def detect_from_response(obj: Mapping[str, Any]) -> str | None:
    """A dialect name recognised from one response object or stream chunk, or None."""
    usage = obj.get("usage")
    for where, key, value, name in _RESPONSE_HINTS:
        scope = usage if where == "usage" else obj
        if not isinstance(scope, Mapping) or key not in scope:
            continue
        if value is None or scope[key] == value:
            return name
    return None


@dataclass(frozen=True)
class ModelFamily:
    """What one family of models does, whichever server runs it.

    Attributes:
        name: Identifier.
        patterns: Lower-case substrings of the model name that identify the family.
        can_disable: Whether thinking can be switched off at all.
        leaked_prefixes: Channel words some providers leave at the start of the answer
            (gpt-oss: ``final``), removed when they run straight into the answer.
        nudge: The sentence that asks this family to stop thinking and answer.
    """

    name: str
    patterns: tuple[str, ...]
    can_disable: bool = True
    leaked_prefixes: tuple[str, ...] = ()
    nudge: str | None = None


MODEL_FAMILIES: tuple[ModelFamily, ...] = (
    ModelFamily("gpt-oss", ("gpt-oss",), can_disable=False, leaked_prefixes=("final",)),
    ModelFamily("qwen3-thinking-2507", ("thinking-2507",), can_disable=False),
    ModelFamily("qwen3-instruct-2507", ("instruct-2507",), can_disable=False),
    ModelFamily("magistral", ("magistral",), can_disable=False),
)


def family_for(model: str) -> ModelFamily | None:
    """The model family whose pattern occurs in ``model`` (case-insensitive), or None."""
    lowered = model.lower()
    for fam in MODEL_FAMILIES:
        if any(p in lowered for p in fam.patterns):
            return fam
    return None
