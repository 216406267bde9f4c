"""Server dialects and model families, as data: each server's knowledge in one object.

A *dialect* is everything terse knows about one OpenAI-compatible server (or server
version), in one `Dialect` row of `DIALECTS`:

- usage quirks: where ``usage`` reports reasoning tokens, whether a streamed delta is one
  token;
- its native thinking budget (a `NativeBudget`: the request field, and how a 400 refuses
  it), and the request fields that switch thinking off;
- how to continue cut-off reasoning into an answer (`Continuation` policies, best first);
- how to recognise it: its probe (`ProbeHints`: a GET path, the ``/v1/models`` owner,
  what else the probe asks), hints in the base URL and in response bodies.

A *model family* is what one family of models does differently whichever server runs it.
Adding a server is one row here (plus, for a new kind of budget or continuation, one
object in ``budgets.py`` or ``continuation.py``). Reading responses does not depend on the
dialect at all (every known reasoning field is read, duplicates dropped); the dialect
steers only what terse *sends*. Sources: ``shared/reference/protocols.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from .budgets import LLAMACPP_BUDGET, SGLANG_BUDGET, VLLM_BUDGET, NativeBudget
from .continuation import ChatPrefill, Continuation, DeepSeekPrefix, LlamaCompletion, NewTurn

__all__ = [
    "DIALECTS",
    "MODEL_FAMILIES",
    "Dialect",
    "ModelFamily",
    "ProbeHints",
    "detect_from_response",
    "detect_from_url",
    "dialect_named",
    "dialect_owning",
    "family_for",
    "reasoning_echo",
]


@dataclass(frozen=True)
class ProbeHints:
    """How `probe_flow` recognises a server and what more it asks it.

    Attributes:
        path: A GET path at the server root that describes the server, or None.
        keys: Keys of that answer whose presence identifies the server.
        renders_template: POST ``/apply-template`` with a one-message chat to see whether
            the generation prompt opens a think block (llama.cpp).
        native_flag: A key of the GET answer that says whether the native budget is on
            (SGLang's ``enable_strict_thinking``).
        native_trial: The native budget can only be known by trying it (vLLM refuses it
            with a 400 unless configured): the evidence given without a test generation;
            a test generation then carries the budget.
    """

    path: str | None = None
    keys: tuple[str, ...] = ()
    renders_template: bool = False
    native_flag: str | None = None
    native_trial: str | None = None


Where = Literal["top", "usage"]


@dataclass(frozen=True)
class Dialect:
    """How to talk to one kind of server.

    Attributes:
        name: Identifier (``Client(dialect=...)`` accepts it).
        label: Human-readable server name.
        reasoning_usage: Path into ``usage`` of the reasoning-token count, if reported.
        token_per_chunk: Each streamed delta is exactly one token, so counting deltas is exact.
        native_budget: The native thinking budget the server offers (a `NativeBudget`:
            its request field and its refusal), or None.
        disable_thinking: Request fields that switch thinking off, merged into the body.
        conclude: `Continuation` policies that continue a cut-off reasoning into an
            answer, best first (``ChatPrefill() | NewTurn()``).
        probe: How a probe recognises the server (`ProbeHints`).
        owned_by: ``owned_by`` of the first ``/v1/models`` entry on this server, if it
            names it.
        url_hints: Base-URL hints: a host suffix, or ``":port"``.
        response_hints: Signals in a response body or stream chunk, as ``(where, key,
            value)`` with ``where`` ``"top"`` or ``"usage"`` and value None for "present".
        reasoning_echo: The history rule of tool loops on this server: None (reasoning is
            dropped from assistant messages sent back), or the server demands
            ``reasoning_content`` on every assistant tool-call message of the current user
            turn (HTTP 400 without it), and this is what to send when there was none.
    """

    name: str
    label: str
    reasoning_usage: tuple[str, ...] = ()
    token_per_chunk: bool = False
    native_budget: NativeBudget | None = None
    disable_thinking: Mapping[str, Any] = field(default_factory=dict)
    conclude: tuple[Continuation, ...] = (NewTurn(),)
    probe: ProbeHints = ProbeHints()
    owned_by: str | None = None
    url_hints: tuple[str, ...] = ()
    response_hints: tuple[tuple[Where, str, str | None], ...] = ()
    reasoning_echo: str | None = None


_QWEN_OFF: Mapping[str, Any] = {
    "chat_template_kwargs": {"enable_thinking": False},
    "reasoning_effort": "none",
}
_DETAILS = ("completion_tokens_details", "reasoning_tokens")

# Order matters where servers are told apart: probes GET in this order and the first
# response hint that matches wins.
DIALECTS: tuple[Dialect, ...] = (
    Dialect(
        "llamacpp",
        "llama.cpp llama-server",
        token_per_chunk=True,
        native_budget=LLAMACPP_BUDGET,
        disable_thinking=_QWEN_OFF,
        conclude=LlamaCompletion() | NewTurn(),
        probe=ProbeHints(
            "/props",
            ("build_info", "default_generation_settings", "chat_template"),
            renders_template=True,
        ),
        owned_by="llamacpp",
        response_hints=(("top", "timings", None),),
    ),
    Dialect(
        "deepseek",
        "DeepSeek API",
        reasoning_usage=_DETAILS,
        disable_thinking={"thinking": {"type": "disabled"}},
        conclude=DeepSeekPrefix() | NewTurn(),
        owned_by="deepseek",
        url_hints=("api.deepseek.com",),
        response_hints=(("usage", "prompt_cache_hit_tokens", None),),
        reasoning_echo="",  # thinking mode + tools: 400 without reasoning_content
    ),
    Dialect(
        "sglang",
        "SGLang",
        reasoning_usage=("reasoning_tokens",),
        native_budget=SGLANG_BUDGET,
        disable_thinking={"chat_template_kwargs": {"enable_thinking": False, "thinking": False}},
        conclude=ChatPrefill() | NewTurn(),
        probe=ProbeHints(
            "/server_info",
            ("reasoning_parser", "model_path", "enable_strict_thinking"),
            native_flag="enable_strict_thinking",
        ),
        owned_by="sglang",
        response_hints=(("usage", "reasoning_tokens", None),),
    ),
    Dialect(
        "openrouter",
        "OpenRouter",
        reasoning_usage=_DETAILS,
        disable_thinking={"reasoning": {"enabled": False}},
        url_hints=("openrouter.ai",),
        response_hints=(("top", "provider", None),),
    ),
    Dialect(
        "vllm",
        "vLLM",
        reasoning_usage=_DETAILS,
        token_per_chunk=True,
        native_budget=VLLM_BUDGET,
        disable_thinking=_QWEN_OFF,
        conclude=ChatPrefill() | NewTurn(),
        probe=ProbeHints(
            "/version",
            ("version",),
            native_trial=(
                "unknown: vLLM refuses thinking_token_budget without --reasoning-config; "
                "terse tries it once and falls back (probe with a generation to check)"
            ),
        ),
        owned_by="vllm",
        response_hints=(("top", "owned_by", "vllm"),),
    ),
    Dialect(
        "ollama",
        "Ollama (/v1)",
        disable_thinking={"think": False, "reasoning_effort": "none"},
        probe=ProbeHints("/api/version", ("version",)),
        owned_by="ollama",
        url_hints=(":11434",),
        response_hints=(("top", "system_fingerprint", "fp_ollama"),),
    ),
    Dialect(
        "lmstudio",
        "LM Studio",
        disable_thinking={"reasoning_effort": "none"},
        url_hints=(":1234",),
    ),
    Dialect(
        "openai-compatible",
        "an OpenAI-compatible server",
        reasoning_usage=_DETAILS,
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


def detect_from_url(base_url: str) -> str | None:
    """A dialect name suggested by the base URL alone, or None."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    for d in DIALECTS:
        for hint in d.url_hints:
            if (hint.startswith(":") and hint == port) or host.endswith(hint):
                return d.name
    return None


def detect_from_response(obj: Mapping[str, Any]) -> str | None:
    """A dialect name recognised from one response object or stream chunk, or None.

    The first dialect of `DIALECTS` with a matching response hint wins.
    """
    usage = obj.get("usage")
    for d in DIALECTS:
        for where, key, value in d.response_hints:
            scope = usage if where == "usage" else obj
            if not isinstance(scope, Mapping) or key not in scope:
                continue
            if value is None or scope[key] == value:
                return d.name
    return None


def dialect_owning(owner: str) -> Dialect | None:
    """The dialect whose server lists its models as ``owned_by=owner``, or None."""
    return next((d for d in DIALECTS if d.owned_by is not None and d.owned_by == owner), None)


@dataclass(frozen=True)
class ModelFamily:
    """What one family of models does, whichever server runs it.

    Attributes:
        name: Identifier.
        patterns: Lower-case substrings of the model name that identify the family.
        can_disable: Whether thinking can be switched off at all.
        leaked_prefixes: Channel words some providers leave at the start of the answer
            (gpt-oss: ``final``), removed when they run straight into the answer.
        reasoning_echo: As `Dialect.reasoning_echo`, for the model wherever it runs
            (its chat template or API rejects a tool loop without the reasoning); None
            leaves it to the dialect.
    """

    name: str
    patterns: tuple[str, ...]
    can_disable: bool = True
    leaked_prefixes: tuple[str, ...] = ()
    reasoning_echo: str | None = None


MODEL_FAMILIES: tuple[ModelFamily, ...] = (
    ModelFamily("gpt-oss", ("gpt-oss",), can_disable=False, leaked_prefixes=("final",)),
    ModelFamily("qwen3-thinking-2507", ("thinking-2507",), can_disable=False),
    ModelFamily("qwen3-instruct-2507", ("instruct-2507",), can_disable=False),
    ModelFamily("magistral", ("magistral",), can_disable=False),
    # History rules of tool loops (shared/reference/tools.md §4): these reject an assistant
    # tool-call message without its reasoning within the user turn. Kimi refuses "".
    ModelFamily("kimi-k2", ("kimi-k2",), reasoning_echo=" "),
    ModelFamily("deepseek-v3.2", ("deepseek-v3.2", "deepseek-v4"), reasoning_echo=""),
)


def reasoning_echo(dialect: Dialect, family: ModelFamily | None) -> str | None:
    """The history rule of a tool loop: the family's, else the dialect's (see `Dialect`)."""
    if family is not None and family.reasoning_echo is not None:
        return family.reasoning_echo
    return dialect.reasoning_echo


def family_for(model: str) -> ModelFamily | None:
    """The model family whose pattern occurs in ``model`` (case-insensitive), or None."""
    lowered = model.lower()
    for fam in MODEL_FAMILIES:
        if any(p in lowered for p in fam.patterns):
            return fam
    return None
