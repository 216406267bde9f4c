"""Call options as openai-python means them: which keywords exist, and what each one does.

`ask`/`stream` take the keyword arguments of ``chat.completions.create`` with openai's
meaning: request fields such as ``temperature`` or ``stop`` are sent as JSON fields,
``extra_body`` fields are merged at the top level of the JSON body, ``extra_headers`` are
HTTP headers, ``extra_query`` URL parameters, and ``timeout`` the per-request timeout.
Any other keyword is a typo until proven otherwise: it raises `UsageError` with the
nearest known names, before any request is sent. Server-specific fields (``top_k``,
``min_p``, ``chat_template_kwargs``, …) go through ``extra_body``, as with openai.

The options are declared once, as the TypedDict `CallOptions` (terse's own `TerseOptions`,
openai's `RequestOptions` and `CreateFields`), and ``ask``/``stream`` of both clients take
``**options: Unpack[CallOptions]`` (PEP 692). Why a TypedDict: type checkers and IDEs
(mypy, pyright/Pylance, PyCharm) read it as the list of keyword arguments, each with its
type — a misspelt or mistyped option is an error before the code runs, and ``ask``'s
overloads on ``response_model`` stay as they were; the runtime check (`request_fields`,
the did-you-mean) reads the same declaration; the calls stay plain keyword calls. An
options object would change every call site; generated sync code (unasync) removes the
sync/async copy but not the seven copies within each client. ``Unpack`` comes from
``typing_extensions`` (a dependency of pydantic and openai) and is imported for type
checking only. The defaults of terse's own options are `terse._client.base.CALL_DEFAULTS`.
"""

from __future__ import annotations

import difflib
import inspect
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import openai

from .._exceptions import UsageError

if TYPE_CHECKING:
    from .budget import Budget
    from .retry import RetryPolicy

__all__ = [
    "CREATE_PARAMS",
    "REQUEST_OPTIONS",
    "CallOptions",
    "check_timeout",
    "request_fields",
]


class CreateFields(TypedDict, total=False):
    """The JSON fields ``chat.completions.create`` takes, sent as openai sends them.

    Their meaning and types are openai's (and vary between openai 2.x and 3.x), so they are
    typed loosely here: what terse relies on (``stop``, ``n``, ``stream_options``, JSON
    serialisability) is checked when the call is made. Fields only your server knows go
    in ``extra_body``.
    """

    audio: Any
    frequency_penalty: Any
    function_call: Any
    functions: Any
    logit_bias: Any
    logprobs: Any
    max_completion_tokens: Any
    max_tokens: Any
    metadata: Any
    modalities: Any
    moderation: Any
    n: Any
    parallel_tool_calls: Any
    prediction: Any
    presence_penalty: Any
    prompt_cache_key: Any
    prompt_cache_options: Any
    prompt_cache_retention: Any
    reasoning_effort: Any
    response_format: Any
    safety_identifier: Any
    seed: Any
    service_tier: Any
    stop: Any
    store: Any
    stream: Any
    stream_options: Any
    temperature: Any
    tool_choice: Any
    top_logprobs: Any
    top_p: Any
    user: Any
    verbosity: Any
    web_search_options: Any


class RequestOptions(TypedDict, total=False):
    """``create()``'s request options: not JSON fields, each handled as openai handles it."""

    extra_body: Mapping[str, object] | None
    extra_headers: Mapping[str, str] | None
    extra_query: Mapping[str, object] | None
    timeout: float | openai.Timeout | None


class TerseOptions(TypedDict, total=False):
    """terse's own options of one call (defaults: `CALL_DEFAULTS`, in the client module)."""

    model: str | None
    thinking_budget: int | Budget | None
    max_retries: int
    retry_policy: RetryPolicy | None
    deadline: float | None
    max_total_tokens: int | None
    repair_budget: int | Budget | str | None
    salvage: bool
    partial: bool
    tools: Sequence[Any] | None


class CallOptions(CreateFields, RequestOptions, TerseOptions, total=False):
    """The keyword arguments of `Client.ask`/`stream` (and `AsyncClient`'s), declared once.

    terse's own:

    - ``model``: the model name (default: the client's).
    - ``thinking_budget``: an int (tokens) or a `Budget`; None for none (default: the
      client's).
    - ``max_retries``: retries after the first try (default: the client's, 2); shorthand
      for ``retry_policy=RetryPolicy(stop=stop_after_attempt(max_retries + 1))``.
    - ``retry_policy``: a `RetryPolicy` (tenacity ``stop``/``wait``/``retry``).
    - ``deadline``: seconds for the whole call, every request, wait and probe included
      (default: the client's).
    - ``max_total_tokens``: a cap on the tokens the call spends across its attempts
      (default: the client's).
    - ``repair_budget``: the thinking budget of a re-ask after an invalid answer:
      ``"same"`` (default), a smaller budget, or ``"off"``.
    - ``salvage``: take the value from the reasoning when the answer has none (default
      False).
    - ``partial``: accept a partial value where the target allows one (default False).
    - ``tools``: the tools the model may call: OpenAI tool dicts, plain functions
      (schema from the signature and docstring), pydantic models, or `terse.tools.ToolSpec`
      (default: the client's). Sent upstream in OpenAI's shape on every dialect; the
      calls come back validated on `Answer.tool_calls`. ``tool_choice`` passes through.

    openai's: the fields of ``chat.completions.create`` (`CreateFields`: ``temperature``,
    ``stop``, ``max_tokens``, …) and its request options ``extra_body``,
    ``extra_headers``, ``extra_query``, ``timeout``, with openai's meaning. An unknown
    keyword raises `UsageError` before any request.
    """


_NEWER = frozenset({"moderation", "prompt_cache_options"})
"""Fields of openai 3.x only: accepted when the installed openai's create() has them."""

# openai 2.x's create() fields; the installed openai's own signature is added at import,
# so a newer openai's parameters are accepted as soon as it has them.
_KNOWN_CREATE = frozenset(CreateFields.__annotations__) - _NEWER

REQUEST_OPTIONS = frozenset(RequestOptions.__annotations__)
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

_TERSE_PARAMS = ("response_model", *TerseOptions.__annotations__)

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


def check_tools(value: Any) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """``tools=``: the tools by name (`terse.tools.ToolSpec`) and as sent, or None for none.

    Each item is an OpenAI tool dict (sent as given), a function, a pydantic model or a
    `ToolSpec` (sent in OpenAI's shape); a tool terse cannot read, or two tools with one
    name, is a `UsageError` before any request.
    """
    if value is None or _omitted(value):
        return None
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise UsageError(f"tools must be a list of tools, not {value!r}")
    from ..tools._schema import tool_spec, tool_specs

    items = list(value)
    try:
        specs = tool_specs(items)
        sent = [dict(t) if isinstance(t, Mapping) else tool_spec(t).to_openai() for t in items]
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"tools: {exc}") from exc
    if not specs:
        return None
    _check_fields({"tools": sent})
    return specs, sent


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
