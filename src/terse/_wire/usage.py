"""Token usage of one response: what the server reported, completed by what terse counted.

`build_usage` is pure: the `Assembler` hands it the server's ``usage`` object (or None),
its own reasoning and answer counts and the dialect's usage paths, and gets one `Usage`
whose ``source`` says where the numbers came from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._results import Usage
from .._server.dialects import Dialect

__all__ = ["build_usage"]


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def build_usage(
    server: Mapping[str, Any] | None,
    *,
    dialect: Dialect,
    counted_reasoning: int,
    counted_answer: int,
    prompt_estimate: Callable[[], int],
    method: str,
) -> Usage:
    """Combine what the server reported with what terse counted into one `Usage`."""
    local = "counted" if method in ("chunks", "tiktoken") else "estimated"
    sources: set[str] = set()
    prompt = _int(_dig(server, ("prompt_tokens",)))
    if prompt is None:
        prompt = prompt_estimate()
        sources.add("estimated" if prompt else "none")
    else:
        sources.add("server")
    completion = _int(_dig(server, ("completion_tokens",)))
    reasoning = None
    for path in (
        dialect.reasoning_usage,
        ("completion_tokens_details", "reasoning_tokens"),
        ("reasoning_tokens",),
    ):
        if path and reasoning is None:
            reasoning = _int(_dig(server, path))
    if completion is not None and reasoning is not None:
        answer = max(0, completion - reasoning)
        sources.add("server")
    elif completion is not None:
        # Only the total is reported: count the (short) answer, and the rest is reasoning,
        # delimiters included. With no reasoning at all, everything is answer.
        if counted_reasoning == 0:
            counted_answer = completion
        answer = min(counted_answer, completion)
        reasoning = completion - answer
        sources.add("server" if reasoning == 0 or answer == 0 else local)
    else:
        reasoning, answer = counted_reasoning, counted_answer
        if reasoning or answer:
            sources.add(local)
    cached = _int(_dig(server, ("prompt_tokens_details", "cached_tokens")))
    if cached is None:
        cached = _int(_dig(server, ("prompt_cache_hit_tokens",)))
    if len(sources) > 1:
        sources.discard("none")
    source = sources.pop() if len(sources) == 1 else ("mixed" if sources else "none")
    return Usage(
        prompt_tokens=prompt,
        reasoning_tokens=reasoning,
        answer_tokens=answer,
        total_tokens=prompt + reasoning + answer,
        source=source,  # type: ignore[arg-type]  # one of the UsageSource literals by construction
        cached_tokens=cached,
    )
