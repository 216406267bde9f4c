"""One clock per call, enforced while bytes are awaited: the drivers' I/O helpers.

A request is waited on until the earliest of three moments, whatever the server sends or
withholds: the call's **deadline** (``deadline=``, across every request of the call), the
**idle timeout** (no byte for ``idle_timeout`` seconds while a response streams or after
its headers arrived), and the thinking budget's **seconds** (`Assembler.wake_at`).

- Sync (`Pump`): the blocking openai/httpx call runs in a worker thread, which hands raw
  byte chunks to the caller; the caller waits on them with a timeout, so no phase of the
  request (connect, headers trickled one byte a second, body, SSE line) can outlast the
  bound. On expiry the caller abandons the response: it shuts the socket down when it can
  reach it and the worker leaves at its next byte (or its per-read timeout), closing the
  response itself. Workers are pooled daemon threads that keep nothing of a finished
  request (so a dropped client and its sockets go at once); a slow consumer applies
  backpressure (the worker waits while 1 MiB is queued).
- Async (`Watch`): one timer per request cancels the task while it awaits the server,
  re-armed lazily when a byte moved the idle bound. It never fires while the driver has
  yielded an event to the caller (the caller's own awaits are not ours to cancel).

`install_hook` caps what openai's own code may read of a response (error bodies, probe
bodies) with `terse._wire.sse.bounded_stream`, on terse's private copy of the openai client.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .._exceptions import ConnectionFailed
from .._wire.sse import Limits, bounded_stream

__all__ = ["Expired", "Pump", "Watch", "install_hook", "wake_time"]

IDLE_TIMEOUT = 60.0
"""Default seconds without a byte before a streaming response is abandoned (see docs)."""

_QUEUE_MAX = 1024 * 1024
_local = threading.local()


class Expired(Exception):
    """Internal: the wait reached a bound; ``reason`` is "deadline", "idle" or "budget"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def wake_time(
    deadline_at: float | None, idle_at: float | None, budget_at: float | None
) -> tuple[float | None, str]:
    """The earliest bound and its name."""
    when: float | None = None
    why = ""
    for t, name in ((deadline_at, "deadline"), (idle_at, "idle"), (budget_at, "budget")):
        if t is not None and (when is None or t < when):
            when, why = t, name
    return when, why


def expiry_error(reason: str, idle: float | None) -> ConnectionFailed:
    if reason == "deadline":
        return ConnectionFailed("the call's deadline passed while waiting for the server")
    return ConnectionFailed(f"no data from the server for {idle:g} s (idle_timeout)")


# -- sync: a worker thread per request, pooled ------------------------------------------------

_pool_lock = threading.Lock()
_idle_workers = 0
_jobs: deque[Callable[[], None]] = deque()
_jobs_ready = threading.Condition(_pool_lock)


def _run_job(first: list[Callable[[], None]]) -> None:
    global _idle_workers
    job = first.pop()  # not an argument of its own: the Thread would hold it while it lives
    while True:
        with contextlib.suppress(BaseException):  # a job reports its own errors
            job()
        # An idle worker holds nothing of the request it made: its closure reaches the
        # pump, the response and the openai client, whose sockets would otherwise live on
        # until this thread exits (a minute later), long after the caller dropped them.
        del job
        with _pool_lock:
            _idle_workers += 1
            if not _jobs:
                _jobs_ready.wait(60.0)
            if not _jobs:
                _idle_workers -= 1
                return
            job = _jobs.popleft()


def _submit(job: Callable[[], None]) -> None:
    global _idle_workers
    with _pool_lock:
        if _idle_workers > 0:
            _idle_workers -= 1
            _jobs.append(job)
            _jobs_ready.notify()
            return
    threading.Thread(target=_run_job, args=([job],), name="terse-io", daemon=True).start()


class _End:
    pass


END = _End()


class Head:
    """Item: the response's headers arrived."""

    def __init__(self, response: Any) -> None:
        self.response = response


class Pump:
    """Runs one blocking request in a worker thread; the caller takes what it produced.

    ``fn(pump)`` runs in the worker and calls `put` with `Head`, byte chunks, a result or
    an exception, then `END` is put for it. `take` waits until something is there or
    the time ``until`` (monotonic) passes.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._items: deque[Any] = deque()
        self._queued = 0
        self.abandoned = False
        self.read_all = False  # set by the worker once the body was read to its end
        self._sock: Any = None

    def start(self, fn: Callable[[Pump], None]) -> None:
        def job() -> None:
            _local.pump = self
            try:
                fn(self)
            except BaseException as exc:
                self.put(exc)
            finally:
                _local.pump = None
                self.put(END)

        _submit(job)

    # worker side
    def put(self, item: Any) -> None:
        with self._cond:
            if type(item) is bytes:
                while self._queued > _QUEUE_MAX and not self.abandoned:
                    self._cond.wait(1.0)
                self._queued += len(item)
            elif isinstance(item, Head):
                stream = item.response.extensions.get("network_stream")
                if stream is not None:
                    try:
                        self._sock = stream.get_extra_info("socket")
                    except Exception:
                        self._sock = None
            self._items.append(item)
            self._cond.notify()

    def guard(self) -> None:
        if self.abandoned:
            raise ConnectionFailed("abandoned")

    # caller side
    def take(self, until: float | None) -> list[Any]:
        """Everything queued; waits for something until ``until``; [] when it passed."""
        with self._cond:
            while not self._items:
                if until is None:
                    self._cond.wait()
                    continue
                left = until - time.monotonic()
                if left <= 0 or not self._cond.wait(left):
                    if self._items:
                        break
                    return []
            items = list(self._items)
            self._items.clear()
            if self._queued:
                self._queued = 0
                self._cond.notify()
            return items

    def abandon(self) -> None:
        """Stop the worker: it leaves at its next byte; the socket is shut down if known."""
        with self._cond:
            self.abandoned = True
            self._cond.notify_all()
            # A response read to its end has gone back to the connection pool: keep it.
            sock = None if self.read_all else self._sock
        if sock is not None:
            with contextlib.suppress(OSError, TypeError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


# -- async: one lazily re-armed timer per request ----------------------------------------------


class Watch:
    """Cancels the current task while it awaits the server past a bound.

    The driver sets ``active`` around each await of the server and ``last`` (monotonic)
    when bytes arrive; `bound` gives the current earliest bound. `check` raises
    `Expired` when a bound passed while the driver was not awaiting.
    """

    def __init__(self, bound: Callable[[], tuple[float | None, str]]) -> None:
        self._bound = bound
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._handle: asyncio.TimerHandle | None = None
        self.active = False
        self.fired = ""  # the reason, once the timer cancelled the task
        self.pending = ""  # the reason, when a bound passed while not awaiting
        self._arm()

    def _arm(self) -> None:
        when, _ = self._bound()
        if when is not None:
            # loop.time() and time.monotonic() are the same clock on CPython's loops;
            # convert anyway in case a loop uses its own.
            at = self._loop.time() + (when - time.monotonic())
            self._handle = self._loop.call_at(at, self._fire)

    def _fire(self) -> None:
        self._handle = None
        when, why = self._bound()
        if when is None:
            return
        if when > time.monotonic():
            self._arm()
            return
        if self.active and self._task is not None and not self.fired:
            self.fired = why
            self._task.cancel()
        elif not self.active:
            self.pending = why

    def moved(self) -> None:
        """A bound may have appeared (the headers arrived): arm the timer if it is not."""
        if self._handle is None and not self.fired:
            self._arm()

    def check(self) -> None:
        if self.pending:
            raise Expired(self.pending)
        when, why = self._bound()
        if when is not None and when <= time.monotonic():
            raise Expired(why)

    def caught(self) -> str:
        """After a CancelledError: the reason if the timer caused it (uncancelled), else ""."""
        if not self.fired:
            return ""
        task = self._task
        if task is not None and sys.version_info >= (3, 11):
            task.uncancel()
        return self.fired

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


# -- capping what openai reads -------------------------------------------------------------------


def _guard() -> None:
    pump = getattr(_local, "pump", None)
    if pump is not None and pump.abandoned:
        raise ConnectionFailed("abandoned")


def install_hook(client: Any, limits: Limits) -> Any:
    """Wrap ``client._send_request`` (openai 2.x and 3.x) so every response is bounded.

    Only terse's private copy of the user's openai client is changed. Without the hook
    (an openai without ``_send_request``) responses are still read with limits by terse's
    own code; only openai's reading of an error body is then unbounded.
    """
    original = getattr(client, "_send_request", None)
    if original is None or getattr(original, "_terse", False):
        return client

    if asyncio.iscoroutinefunction(original):

        async def send_async(request: Any, *, stream: bool, **kwargs: Any) -> Any:
            response = await original(request, stream=stream, **kwargs)
            bounded_stream(response, limits, _guard)
            return response

        send_async._terse = True  # type: ignore[attr-defined]
        client._send_request = send_async
    else:

        def send(request: Any, *, stream: bool, **kwargs: Any) -> Any:
            response = original(request, stream=stream, **kwargs)
            bounded_stream(response, limits, _guard)
            return response

        send._terse = True  # type: ignore[attr-defined]
        client._send_request = send
    return client
