"""The async read loop every async transport shares: one clock over whatever opens a response.

A transport says how to open a response (`Opener`: its ``Content-Type`` and raw body
chunks) or make a small request; `read_watched` and `fetch_watched` do the rest the same
way for all: the deadline, the idle timeout and the budget's seconds bound every wait
(one `Watch` timer per request), a stale keep-alive is resent once, and failures become
the transport's `TerseError`. `AsyncOpenAITransport` (`http.py`) and the proxy's
`AiohttpTransport` (`terse.serve._upstream`) both run on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from .._core.flow import Call, aux_until
from .._exceptions import TerseError
from .._wire.assemble import Outcome
from .clock import Expired, Watch, expiry_error, wake_time
from .transport import Delta, Reader, aux_outcome

__all__ = ["Opener", "fetch_watched", "read_watched"]


async def fetch_watched(
    call: Call,
    request: Callable[[], Awaitable[str]],
    *,
    map_error: Callable[[BaseException], TerseError | None],
    stale: Callable[[BaseException], bool],
) -> Outcome:
    """An async transport's ``fetch``: ``request()``'s JSON text as an `Outcome`, by the deadline.

    The request gives up at its own timeout in total or the call's deadline (`aux_until`);
    a stale keep-alive connection is resent once, as in `read_watched`.
    """
    until = aux_until(call, time.monotonic())
    for retry_stale in (True, False):
        watch = Watch(lambda: (until, "deadline"))
        try:
            watch.check()
            watch.active = True
            text = await request()
        except Expired:
            return aux_outcome(None, expiry_error("deadline", None))
        except asyncio.CancelledError:
            if not watch.caught():
                raise
            return aux_outcome(None, expiry_error("deadline", None))
        except Exception as exc:
            if retry_stale and stale(exc):
                continue
            mapped = map_error(exc)
            if mapped is None:
                raise
            return aux_outcome(None, mapped)
        finally:
            watch.close()
        return aux_outcome(text, None)
    raise AssertionError("unreachable")  # pragma: no cover


Opener = Callable[[], AbstractAsyncContextManager[tuple[str, AsyncIterator[bytes]]]]
"""Opens one response: its ``Content-Type`` and its raw body chunks, as they arrive."""


async def read_watched(
    call: Call,
    reader: Reader,
    opener: Opener,
    *,
    idle: float | None,
    map_error: Callable[[BaseException], TerseError | None],
    stale: Callable[[BaseException], bool],
) -> AsyncGenerator[Delta, None]:
    """An async transport's ``send``, whatever opens the response (the shared clock).

    One `Watch` timer per request cancels the task while it awaits the server past the
    call's deadline, the idle timeout or the budget's seconds; it never fires while an
    event is out with the caller. A failure before the response opened that ``stale``
    recognises (a pooled keep-alive connection the server had closed) is sent again once;
    every other failure becomes ``reader.fail`` with ``map_error``'s `TerseError`, and
    what ``map_error`` cannot map is raised.
    """
    for retry_stale in (True, False):
        opened = False
        last = [time.monotonic(), False]  # the last byte's time; whether headers came

        def bound(last: list[Any] = last) -> tuple[float | None, str]:
            idle_at = None if idle is None or not (last[1] or call.stream) else last[0] + idle
            return wake_time(call.deadline_at, idle_at, reader.wake_at())

        watch = Watch(bound)
        try:
            watch.check()
            watch.active = True
            async with opener() as (content_type, chunks):
                watch.active = False
                opened = True
                last[0], last[1] = time.monotonic(), True
                watch.moved()
                reader.head(content_type)
                feed = reader.feed
                watch.active = True
                async for chunk in chunks:
                    watch.active = False
                    last[0] = time.monotonic()
                    for event in feed(chunk):
                        yield event
                    if reader.stop:
                        break
                    if watch.pending:
                        raise Expired(watch.pending)
                    watch.active = True
                else:
                    watch.active = False
                    for event in reader.end():
                        yield event
        except Expired as exp:
            _expired(reader, exp.reason, idle)
        except asyncio.CancelledError:
            why = watch.caught()
            if not why:
                raise
            _expired(reader, why, idle)
        except Exception as exc:
            if retry_stale and not opened and stale(exc):
                continue
            mapped = map_error(exc)
            if mapped is None:
                raise
            reader.fail(mapped)
        finally:
            watch.close()
        break


def _expired(reader: Reader, why: str, idle: float | None) -> None:
    if why == "budget":
        reader.time_up()  # sets the cut: the flow concludes from here
    else:
        reader.fail(expiry_error(why, idle))
