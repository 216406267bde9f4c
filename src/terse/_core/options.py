"""Call options as openai-python means them: which keywords exist, and what each one does.

`ask`/`stream` take the keyword arguments of ``chat.completions.create`` with openai's
meaning: request fields such as ``temperature`` or ``stop`` are sent as JSON fields,
``extra_body`` fields are merged at the top level of the JSON body, ``extra_headers`` are
HTTP headers, ``extra_query`` URL parameters, and ``timeout`` the per-request timeout.
Any other keyword is a typo until proven otherwise: it raises `UsageError` with the
nearest known names, before any request is sent. Server-specific fields (``top_k``,
``min_p``, ``chat_template_kwargs``, …) go through ``extra_body``, as with openai.
"""

from __future__ import annotations

import difflib
import inspect
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import openai

from .._exceptions import UsageError

__all__ = [
    "CREATE_PARAMS",
    "REQUEST_OPTIONS",
    "check_timeout",
    "request_fields",
]

# chat.completions.create's parameters in openai 2.x; the installed openai's own signature
# is added at import, so a newer openai's parameters are accepted as soon as it has them.
_KNOWN_CREATE = frozenset(
    {
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)

REQUEST_OPTIONS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})
"""create()'s request options: not JSON fields, each handled as openai handles it."""

_NOT_FIELDS = frozenset({"self", "messages", "model"}) | REQUEST_OPTIONS


def _installed_create_params() -> frozenset[str]:
    try:
        from openai.resources.chat.completions import Completions

        params = inspect.signature(Completions.create).parameters
    except Exception:  # pragma: no cover - an openai without this layout
        return frozenset()
    return frozenset(name for name, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY)


CREATE_PARAMS = (_KNOWN_CREATE | _installed_create_params()) - _NOT_FIELDS
"""The JSON fields ``chat.completions.create`` takes as keyword arguments."""

_TERSE_PARAMS = (
    "model",
    "response_model",
    "thinking_budget",
    "max_retries",
    "retry_policy",
    "deadline",
    "max_total_tokens",
    "repair_budget",
    "salvage",
    "partial",
)

_MOVED = {
    "wait": "the retry wait moved into retry_policy=terse.RetryPolicy(wait=...)",
    "retry": "the retry predicate moved into retry_policy=terse.RetryPolicy(retry=...)",
    "retrying": "pass retry_policy=terse.RetryPolicy(stop=..., wait=..., retry=...)",
}


def _omitted(value: Any) -> bool:
    """openai's own "not given" markers (``openai.NOT_GIVEN``, ``openai.omit``)."""
    kinds = tuple(
        k for k in (getattr(openai, "NotGiven", None), getattr(openai, "Omit", None)) if k
    )
    return bool(kinds) and isinstance(value, kinds)


def _unknown(name: str, extra_names: Iterable[str]) -> UsageError:
    if name in _MOVED:
        return UsageError(f"unknown argument {name}=: {_MOVED[name]}")
    names = sorted(CREATE_PARAMS | REQUEST_OPTIONS | set(_TERSE_PARAMS) | set(extra_names))
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(c + '=' for c in close)}?" if close else ""
    return UsageError(
        f"unknown argument {name}={hint} Fields only your server knows go in "
        f"extra_body={{{name!r}: ...}}"
    )


def _check_stop(value: Any) -> None:
    if value is None or isinstance(value, str):
        return
    if isinstance(value, (list, tuple)) and all(isinstance(s, str) for s in value):
        return
    hint = ""
    if callable(value):
        hint = (
            "; stop= is OpenAI's stop sequences: pass a tenacity stop strategy as "
            "retry_policy=terse.RetryPolicy(stop=...)"
        )
    raise UsageError(f"stop must be a string or a list of strings, not {value!r}{hint}")


def _check_fields(fields: Mapping[str, Any]) -> None:
    n = fields.get("n")
    if n is not None and n != 1:
        raise UsageError(
            f"n={n!r} is not supported: terse validates, retries and accounts for one answer "
            "per call; make n calls (e.g. terse.run_batch) instead"
        )
    if fields.get("logprobs") or fields.get("top_logprobs") is not None:
        raise UsageError(
            "logprobs/top_logprobs are not supported: an answer may come from several "
            "requests (retries, a concluded budget) and logprobs would cover the reasoning "
            "too; call the openai client directly for logprobs"
        )
    if "stop" in fields:
        _check_stop(fields["stop"])
    options = fields.get("stream_options")
    if options is not None and not isinstance(options, Mapping):
        raise UsageError(f"stream_options must be a dict, not {options!r}")
    for key in ("model", "messages"):
        if key in fields:
            raise UsageError(f"pass {key} as ask()'s own argument, not as a request field")
    try:
        json.dumps(dict(fields), allow_nan=False)
    except (TypeError, ValueError) as exc:
        bad = next((k for k, v in fields.items() if not _serialisable(v)), "?")
        raise UsageError(f"request field {bad}= is not JSON serialisable: {exc}") from None


def _serialisable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def request_fields(
    named: Mapping[str, Any],
    extra_body: Any,
    *,
    stream: bool | None = None,
    extra_names: Iterable[str] = (),
) -> dict[str, Any]:
    """The JSON fields of ``create()``-style keywords plus ``extra_body``, checked.

    Unknown keywords raise `UsageError` with a did-you-mean. openai's omitted markers are
    dropped. ``extra_body`` fields are merged over the named ones, as openai merges them.
    ``stream`` is the mode of the method called (None on a constructor).
    """
    fields: dict[str, Any] = {}
    for name, value in named.items():
        if name not in CREATE_PARAMS:
            raise _unknown(name, extra_names)
        if _omitted(value):
            continue
        if name == "stream":
            if stream is None or bool(value) != stream:
                raise UsageError(
                    "stream= is chosen by the method: use Client.stream() for events and "
                    "Client.ask() for one answer"
                )
            continue
        fields[name] = value
    if extra_body is not None and not _omitted(extra_body):
        if not isinstance(extra_body, Mapping):
            raise UsageError(f"extra_body must be a dict, not {extra_body!r}")
        if "stream" in extra_body:
            raise UsageError("stream is chosen by terse; leave it out of extra_body")
        fields.update(extra_body)
    _check_fields(fields)
    return fields


def check_mapping(name: str, value: Any) -> dict[str, Any] | None:
    """``extra_headers``/``extra_query``/``default_headers``/``default_query``: a dict or None."""
    if value is None or _omitted(value):
        return None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise UsageError(f"{name} must be a dict with str keys, not {value!r}")
    return dict(value)


def check_timeout(value: Any, name: str = "timeout") -> Any:
    """A timeout as openai takes it: seconds (> 0), an ``openai.Timeout``, or None (none)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, openai.Timeout)):
        raise UsageError(f"{name} must be seconds > 0, an openai.Timeout or None, not {value!r}")
    if isinstance(value, openai.Timeout):
        parts = (value.connect, value.read, value.write, value.pool)
        if any(p is not None and not (p > 0 and math.isfinite(p)) for p in parts):
            raise UsageError(f"{name} must have positive parts, not {value!r}")
        return value
    if not (value > 0 and math.isfinite(value)):
        raise UsageError(f"{name} must be seconds > 0 (or None for no timeout), not {value!r}")
    return float(value)


def check_seconds(value: Any, name: str) -> float | None:
    """A positive, finite number of seconds, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{name} must be seconds > 0 or None, not {value!r}")
    if not (value > 0 and math.isfinite(value)):
        raise UsageError(f"{name} must be seconds > 0 or None, not {value!r}")
    return float(value)


def check_tokens(value: Any, name: str) -> int | None:
    """A positive int, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UsageError(f"{name} must be an int > 0 or None, not {value!r}")
    return value


def check_response_model(value: Any) -> None:
    """A type (or typing form) to extract; a string such as ``"str"`` is a mistake."""
    if value is None:
        return
    if isinstance(value, str):
        raise UsageError(
            f"response_model must be a type such as str, int or a pydantic model, "
            f"not the string {value!r}"
        )
    from .._extract.targets import target_for

    try:
        target_for(value)
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(
            f"response_model {value!r} is not a type terse can extract: {exc}"
        ) from exc
