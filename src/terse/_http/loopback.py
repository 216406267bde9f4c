"""`LoopbackServer`: an HTTP handler served on its own event loop in a background thread.

Sync and async callers alike can use it (it never runs on the caller's loop), and
stopping it aborts every connection and cancels every request in flight, hanging ones
too, and returns promptly. The connections are `terse._http.server.Connection`s (h11).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from .server import MAX_BODY, Connection, Handler

__all__ = ["LoopbackServer"]

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0


class LoopbackServer:
    """Serves ``handler`` on its own event loop in a background thread.

    `start` returns once the port is bound (re-raising a bind failure); `close` aborts
    every connection, cancels every request in flight and joins the thread.

    Args:
        handler: Called with each request, on the server's loop.
        host: Address to bind; loopback by default.
        port: Port to bind; 0 picks a free one.
        name: The thread's name.
        max_body: Bytes a request body may take.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "terse-http",
        max_body: int = MAX_BODY,
    ) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._name = name
        self._max_body = max_body
        self.bound: tuple[str, int] | None = None
        """``(host, port)`` while serving, else None."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[Connection] = set()

    @property
    def running(self) -> bool:
        """Whether the server thread is running."""
        return self._thread is not None

    def start(self) -> tuple[str, int]:
        """Bind and start serving; returns ``(host, port)``."""
        if self._thread is not None:
            raise RuntimeError("already running")
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(ready, failure), name=self._name, daemon=True
        )
        self._thread.start()
        if not ready.wait(_START_TIMEOUT):
            raise RuntimeError("the server did not start in time")
        if failure:
            self._thread.join(_STOP_TIMEOUT)
            self._thread = None
            raise failure[0]
        assert self.bound is not None
        return self.bound

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            server = loop.run_until_complete(self._listen())
        except BaseException as e:  # report any bind failure to the starting thread
            failure.append(e)
            ready.set()
            loop.close()
            return
        self._server = server
        sock = server.sockets[0].getsockname()
        self.bound = (sock[0], sock[1])
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _listen(self) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        return await loop.create_server(
            lambda: Connection(self._handler, self._connections, max_body=self._max_body),
            self._host,
            self._port,
        )

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [c.task for c in self._connections if c.task is not None]
        for conn in list(self._connections):
            conn.abort()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_STOP_TIMEOUT)

    def close(self) -> None:
        """Stop serving: cancel in-flight requests (hanging ones too) and join the thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop may have ended already
            loop.call_soon_threadsafe(loop.stop)
        thread.join(_STOP_TIMEOUT)
        self._thread = None
        self._loop = None
        self.bound = None
