"""What the fake server remembers: the request log, the script queue, routes, idleness.

Shared between the test's thread (``push``, ``route``, reading ``requests``,
``wait_idle``) and the server's event-loop thread, so every mutation holds one lock.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from ._scripts import DEFAULT_REPLY, Drop, Malformed, Runaway, Script, SlowStart

__all__ = ["Matcher", "Recorded", "State"]

Matcher: TypeAlias = "str | Callable[[Mapping[str, Any]], bool]"
"""A route's condition: a substring of the prompt text, or a predicate on the JSON body."""


@dataclass
class Recorded:
    """One request the fake server received, and what it generated for it.

    The token counts and ``finish_reason`` change while the request is generating; they
    are final once ``FakeServer.wait_idle()`` returns.

    Attributes:
        method: HTTP method.
        path: URL path, without the query string.
        query: The query string, or ``""``.
        headers: Request headers with lowercase names (left out of ``repr``: they may hold
            an API key).
        body: The JSON body when it parsed as a JSON object, else ``None``.
        raw: The body bytes as received.
        script: The script that served it (``None`` for non-generation endpoints).
        continuation: Served as a continuation: thinking closed or off, answer only.
        status: HTTP status sent, once sent.
        generated_tokens: Tokens generated (reasoning + answer, delimiters included).
        reasoning_tokens: Of which reasoning (with inline think delimiters and any budget
            message).
        answer_tokens: Of which answer (tool-call names and arguments included).
        finish_reason: ``"stop"``, ``"length"`` or ``"tool_calls"`` (native calls generated
            in full) once finished; ``None`` while generating, after a disconnect, or for a
            scripted failure. This is the true reason, whatever a quirk of the dialect
            streams (vLLM says ``"tool_calls"`` for a cut call).
        disconnected: The client went away before the response ended.
    """

    method: str
    path: str
    query: str
    headers: dict[str, str] = field(repr=False)
    body: dict[str, Any] | None
    raw: bytes = field(repr=False)
    script: Script | None = None
    continuation: bool = False
    status: int | None = None
    generated_tokens: int = 0
    reasoning_tokens: int = 0
    answer_tokens: int = 0
    finish_reason: str | None = None
    disconnected: bool = False


def _inner(script: Script) -> Script:
    """The script that generates tokens, behind any SlowStart/Drop/Malformed wrappers."""
    while isinstance(script, (SlowStart, Drop, Malformed)):
        script = script.then
    return script


class State:
    """The scheduler and log behind one `FakeServer`.

    Choosing a script for a generation request, in order:

    1. A continuation (see `Runaway`) takes the armed Runaway, if one is armed.
    2. Otherwise the oldest queued script (``push``).
    3. Otherwise the first route whose condition matches.
    4. Otherwise ``default``.

    A Runaway chosen for a normal (non-continuation) request becomes the armed one.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._idle = threading.Condition(self.lock)
        self.requests: list[Recorded] = []
        self.queue: deque[Script] = deque()
        self.routes: list[tuple[Matcher, Script]] = []
        self.default: Script = DEFAULT_REPLY
        self.armed: Runaway | None = None
        self.errors: list[Exception] = []
        self._active: set[int] = set()
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def record(self, rec: Recorded) -> None:
        with self.lock:
            self.requests.append(rec)

    def choose(
        self, prompt: str, body: Mapping[str, Any], continuation: bool
    ) -> tuple[Script, bool]:
        """Pick the script for a generation request; returns (script, answer only)."""
        with self.lock:
            if continuation and self.armed is not None:
                script: Script = self.armed
                self.armed = None
                return script, True
            if self.queue:
                script = self.queue.popleft()
            else:
                script = next(
                    (s for m, s in self.routes if _matches(m, prompt, body)), self.default
                )
            inner = _inner(script)
            if isinstance(inner, Runaway) and not continuation:
                self.armed = inner
            return script, continuation

    # --- idleness --------------------------------------------------------------------------

    def begin(self, rec: Recorded) -> None:
        """Mark ``rec`` as generating."""
        with self.lock:
            self._active.add(id(rec))

    def end(self, rec: Recorded) -> None:
        """Mark ``rec`` as done generating, and wake whoever waits for idleness."""
        with self.lock:
            self._active.discard(id(rec))
            if self._active:
                return
            self._idle.notify_all()
            waiters, self._async_waiters = self._async_waiters, []
        for loop, fut in waiters:
            loop.call_soon_threadsafe(_resolve, fut)

    def wait_idle(self, timeout: float) -> bool:
        """Block until no request is generating; False on timeout."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while self._active:
                left = deadline - time.monotonic()
                if left <= 0 or not self._idle.wait(left):
                    return not self._active
            return True

    def idle_future(self) -> asyncio.Future[None]:
        """A future, on the running loop, resolved when no request is generating."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self.lock:
            if self._active:
                self._async_waiters.append((loop, fut))
                return fut
        fut.set_result(None)
        return fut

    def busy(self) -> list[Recorded]:
        """The requests still generating."""
        with self.lock:
            return [r for r in self.requests if id(r) in self._active]


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _matches(matcher: Matcher, prompt: str, body: Mapping[str, Any]) -> bool:
    if isinstance(matcher, str):
        return matcher in prompt
    return bool(matcher(body))
