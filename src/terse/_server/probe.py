"""Probing a server: what it is, and whether each finding was shown or assumed.

`probe_flow` is a generator with no I/O, like `ask_flow`: it yields `Call` operations for
the client to perform. What it asks of each server comes from the dialect rows
(`Dialect.probe`: a GET path and the keys that identify the server, whether to render the
chat template, how the native budget shows; `Dialect.owned_by`; response hints), so a new
server is probed by adding its row to `DIALECTS`.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from .._core.budget import NATIVE_SLACK
from .._core.ops import Call, Op
from .._exceptions import ServerError
from .._results import ServerInfo, Usage
from .._wire.assemble import Outcome
from .._wire.formats import FORMATS
from .._wire.tokens import count_tokens
from .dialects import DIALECTS, GENERIC, detect_from_response, dialect_named, dialect_owning

__all__ = ["PROBE_PROMPT", "PROBE_TIMEOUT", "PROBE_TOKENS", "probe_flow"]

PROBE_TIMEOUT = 10.0
"""Seconds allowed for each request of a probe, in total (a server that hangs there is not
probed); a call's deadline bounds them too."""

_OPENERS = tuple(o for f in FORMATS if not f.word_delimiters for o in f.opens)

PROBE_PROMPT = "Reply with the single word OK."
PROBE_TOKENS = 48
"""Cap of the probe's one test generation (only with ``generate=True``)."""


def _reasoning_shape(body: Any) -> str | None:
    """Where a non-streamed chat response put the reasoning: field, inline, close-only, none."""
    choices = body.get("choices") if isinstance(body, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        return None
    message = choices[0].get("message")
    if not isinstance(message, Mapping):
        return None
    if any(isinstance(message.get(k), str) and message[k] for k in _REASONING_FIELDS):
        return "field"
    content = message.get("content")
    text = content.lstrip() if isinstance(content, str) else ""
    if text.startswith(tuple(o for f in FORMATS for o in f.opens)):
        return "inline"
    if any(c in text for f in FORMATS if not f.word_delimiters for c in f.closes):
        return "close-only"
    return "none"


_REASONING_FIELDS = ("reasoning_content", "reasoning", "thinking")
_PROBE_BUDGET = 2  # the native budget of a trial generation (vLLM): is it honoured?


def _reasoning_text(body: Any) -> str:
    try:
        message = body["choices"][0]["message"]
        return str(next(message[k] for k in _REASONING_FIELDS if isinstance(message.get(k), str)))
    except (KeyError, IndexError, TypeError, StopIteration):
        return ""


def probe_flow(
    *, url_hint: str | None = None, model: str | None = None, generate: bool = False
) -> Generator[Op, Any, ServerInfo]:
    """Ask the server what it is, and say for each finding whether it was verified.

    GETs each row's ``probe.path`` in `DIALECTS` order (llama.cpp ``/props``, SGLang
    ``/server_info``, vLLM ``/version``, Ollama ``/api/version``), then ``/v1/models``
    (whose ``owned_by`` may name the server). With ``generate`` (and a model, given or
    the first one listed), one tiny non-streamed chat shows where the server puts
    reasoning (a reasoning field, inline tags, a close tag only) and which server
    answered; where the native budget can only be known by trying (vLLM), it carries the
    budget so a 400 proves there is none.
    """
    evidence: dict[str, str] = {}
    name: str | None = None
    body: Mapping[str, Any] = {}
    for candidate in DIALECTS:
        path = candidate.probe.path
        if path is None:
            continue
        out: Outcome = yield Call("get", path=path, purpose="probe", timeout=PROBE_TIMEOUT)
        got = out.body
        if out.error is not None or not isinstance(got, Mapping):
            continue
        key = next((k for k in candidate.probe.keys if k in got), None)
        if key is None:
            continue
        name, body = candidate.name, got
        evidence["dialect"] = f"verified: GET {path} answered with {key!r}"
        break
    listed: str | None = None
    models = Outcome("", "", True, None, Usage(), 0)
    if name is None or (generate and not model):
        models = yield Call("get", path="/v1/models", purpose="probe", timeout=PROBE_TIMEOUT)
    if isinstance(models.body, Mapping):
        data = models.body.get("data")
        if isinstance(data, list) and data and isinstance(data[0], Mapping):
            owner = str(data[0].get("owned_by") or "").lower()
            ident = data[0].get("id")
            listed = ident if isinstance(ident, str) and ident else None
            owning = dialect_owning(owner) if name is None else None
            if owning is not None:
                name = owning.name
                evidence["dialect"] = f"verified: GET /v1/models says owned_by={owner!r}"
    if name is None and url_hint is not None:
        name = url_hint
        evidence["dialect"] = "assumed: from the URL alone"
    if name is None:
        evidence["dialect"] = "assumed: no native endpoint answered (a generic server)"
    dialect = dialect_named(name) if name else GENERIC
    template = body.get("chat_template")
    thinking_open: bool | None = None
    hints = dialect.probe
    if hints.renders_template:
        # Render a one-message chat: does the generation prompt open a think block?
        probe = {"messages": [{"role": "user", "content": "hi"}]}
        rendered: Outcome = yield Call(
            "apply-template", probe, purpose="probe", timeout=PROBE_TIMEOUT
        )
        prompt = rendered.body.get("prompt") if isinstance(rendered.body, Mapping) else None
        if isinstance(prompt, str):
            thinking_open = prompt.rstrip().endswith(_OPENERS)
            evidence["template_opens_thinking"] = "verified: POST /apply-template rendered a chat"
    if thinking_open is None and isinstance(template, str):
        tail = template.rstrip()[-80:]
        thinking_open = "<think>" in tail and "</think>" not in tail
        evidence["template_opens_thinking"] = "assumed: from the end of /props chat_template"
    native: bool | None = dialect.native_budget is not None
    if hints.native_flag is not None:
        native = bool(body.get(hints.native_flag))
        evidence["native_budget"] = f"verified: {hints.path} {hints.native_flag}"
    elif hints.native_trial is not None:
        native = None  # refused with a 400 unless the server is configured for it
        evidence["native_budget"] = hints.native_trial
    elif native:
        evidence["native_budget"] = "assumed: this server's builds honour the request field"
    else:
        evidence["native_budget"] = f"assumed: {dialect.label} has none (terse counts and cuts)"
    reasoning: str | None = None
    model = model or listed
    if generate and model:
        ask: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": PROBE_PROMPT}],
            "max_tokens": PROBE_TOKENS,
        }
        knob = dialect.native_budget if hints.native_trial is not None else None
        fields = knob.fields(_PROBE_BUDGET) if knob is not None else {}
        gen: Outcome = yield Call(
            "probe-chat", {**ask, **fields}, purpose="probe", timeout=PROBE_TIMEOUT
        )
        err = gen.error
        if fields:
            assert knob is not None
            if isinstance(err, ServerError) and knob.refused(err.status, err.message):
                native = False
                evidence["native_budget"] = "verified: refused with a 400 (no reasoning config)"
                gen = yield Call("probe-chat", ask, purpose="probe", timeout=PROBE_TIMEOUT)
                err = gen.error
            elif err is None:
                thought = _reasoning_text(gen.body)
                native = count_tokens(thought) <= _PROBE_BUDGET + NATIVE_SLACK
                if not native:
                    evidence["native_budget"] = "verified: accepted, but thinking ran past it"
                elif thought:
                    evidence["native_budget"] = "verified: the test's thinking stopped at it"
                else:
                    evidence["native_budget"] = "assumed: accepted (the test did not think)"
        if err is None:
            reasoning = _reasoning_shape(gen.body)
            evidence["reasoning"] = f"verified: a {PROBE_TOKENS}-token test generation"
            hinted = detect_from_response(gen.body) if isinstance(gen.body, Mapping) else None
            if hinted is not None and not evidence["dialect"].startswith("verified"):
                name, dialect = hinted, dialect_named(hinted)
                evidence["dialect"] = "verified: recognised in a test generation's response"
            if reasoning == "close-only" and thinking_open is None:
                thinking_open = True
                evidence["template_opens_thinking"] = "verified: the output had a close tag only"
        else:
            evidence["reasoning"] = f"unknown: the test generation failed ({err})"
    elif generate:
        evidence["reasoning"] = "unknown: no model to test with (give one)"
    else:
        evidence["reasoning"] = "unknown: not generated (probe with a generation to see)"
    for fact in ("template_opens_thinking",):
        evidence.setdefault(fact, "unknown")
    version = body.get("version") or body.get("build_info")
    return ServerInfo(
        dialect=dialect.name,
        label=dialect.label,
        version=str(version) if version is not None else None,
        native_budget=native,
        template_opens_thinking=thinking_open,
        raw=dict(body) if body else (dict(models.body) if isinstance(models.body, Mapping) else {}),
        reasoning=reasoning,
        evidence=evidence,
    )
