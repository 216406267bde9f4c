"""The operations a flow yields to its driver: HTTP requests (`Call`) and waits (`Sleep`).

`ask_flow` and `probe_flow` are generators with no I/O; the sync and async clients perform
what they yield and send back the result (an `Outcome` for a `Call`, None after a
`Sleep`). Continuation policies build `Call` objects too, so they live here, below both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._results import NewAttempt, ReasoningDelta

if TYPE_CHECKING:
    from .._wire.assemble import Limit

__all__ = ["Call", "Op", "Sleep", "aux_until", "request_body", "server_root"]


@dataclass(frozen=True)
class Call:
    """One HTTP request for the driver to make.

    ``endpoint`` is ``"chat"`` (``/chat/completions``), ``"completions"``
    (``/completions``), ``"beta-chat"`` (DeepSeek's ``/beta/chat/completions``),
    ``"apply-template"`` (llama.cpp, POST at the server root), ``"probe-chat"`` (a probe's
    non-streamed test generation) or ``"get"`` (GET ``path`` at the server root). The
    driver streams when ``stream`` is set and stops reading when the `Assembler` reports
    the ``limit`` reached. ``timeout`` is what openai takes per request (seconds, an
    ``openai.Timeout``, or None for none); ``headers`` and ``query`` are the call's
    ``extra_headers`` and ``extra_query``, sent with every request it makes.
    """

    endpoint: str
    body: Mapping[str, Any] | None = None
    stream: bool = False
    purpose: str = "ask"
    limit: Limit | None = None
    answer_only: bool = False
    thinking_disabled: bool = False
    prefill: str | None = None
    path: str = ""
    timeout: Any = None
    deadline_at: float | None = None
    """The call's deadline on the monotonic clock: the driver stops waiting then."""
    headers: Mapping[str, str] | None = None
    query: Mapping[str, object] | None = None


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds`` before the next operation (retry backoff)."""

    seconds: float


Op = Call | Sleep | NewAttempt | ReasoningDelta
"""What the flow yields: requests and sleeps to perform, events to pass on to the stream."""


TIMEOUT_PARTS = ("connect", "read", "write", "pool")
"""The parts of an httpx (or httpx2) ``Timeout``, as openai takes it."""


def timeout_parts(timeout: Any) -> dict[str, float | None]:
    """The parts of an httpx ``Timeout`` by name (None: that part is unbounded)."""
    return {k: getattr(timeout, k, None) for k in TIMEOUT_PARTS}


def aux_until(call: Call, now: float) -> float | None:
    """When a probe or template request gives up: its own timeout in total, and the deadline.

    ``call.timeout`` is openai's (seconds, or an httpx ``Timeout`` whose longest part counts).
    """
    t = call.timeout
    if t is not None and not isinstance(t, (int, float)):
        known = [float(v) for v in timeout_parts(t).values() if v is not None]
        t = max(known) if known else None
    until = None if t is None else now + float(t)
    if call.deadline_at is not None:
        until = call.deadline_at if until is None else min(until, call.deadline_at)
    return until


def request_body(call: Call) -> dict[str, Any]:
    """The JSON body a generation `Call` sends, whatever sends it.

    ``stream`` says whether the call streams; a stream asks for its usage
    (``stream_options.include_usage``) unless the call set ``stream_options`` itself, and a
    call that does not stream sends none.
    """
    body = dict(call.body or {})
    body["stream"] = call.stream
    if call.stream:
        body.setdefault("stream_options", {"include_usage": True})
    else:
        body.pop("stream_options", None)
    return body


def server_root(base_url: str) -> str:
    """The server root of an OpenAI-compatible base URL (``…/v1`` less ``/v1``), where
    native endpoints such as ``/props`` and ``/apply-template`` live."""
    return base_url.rstrip("/").removesuffix("/v1")
