"""`FakeServer`: a loopback OpenAI-compatible reasoning-model server for tests.

The server is a `terse._http.loopback.LoopbackServer` (h11 on a raw asyncio protocol, on
its own event loop in a background thread), so it serves sync and async clients alike
and never blocks the caller's loop. Stopping it cancels every in-flight request —
hanging ones included — and returns promptly.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from .._exceptions import UsageError
from .._http.loopback import LoopbackServer
from ._app import App
from ._scripts import Script
from ._state import Matcher, Recorded, State
from ._wire import DIALECTS, Dialect

__all__ = ["FakeServer"]


class FakeServer:
    """An OpenAI-compatible reasoning-model server on 127.0.0.1, scripted per request.

    Usage::

        with FakeServer(dialect="vllm") as srv:
            srv.push(Reply(reasoning="Let me think...", answer="Paris"))
            client = openai.OpenAI(base_url=srv.base_url, api_key="x")
            ...
            srv.wait_idle()
            assert srv.requests[-1].reasoning_tokens == 4

    Also ``async with FakeServer(...) as srv:`` (start and stop run off the caller's loop).

    Args:
        dialect: Which server to imitate: a key of `DIALECTS`, or a `Dialect` row of your
            own (``dataclasses.replace(DIALECTS["vllm"], name="mine", ...)``).
        tokens_per_second: Default generation rate; ``None`` generates as fast as the
            client reads. Scripts may set their own.
        host: Address to bind; loopback by default.
        port: Port to bind; 0 picks a free one.
        vllm_reasoning_config: vLLM only: whether the server was started with a reasoning
            config, so ``thinking_token_budget`` is enforced rather than refused with 400.
        sglang_strict: SGLang only: whether ``--enable-strict-thinking`` is on, so
            ``custom_params.thinking_budget`` is enforced rather than silently ignored.
        context_length: Tokens a request may generate at most, whatever it asks for.
    """

    def __init__(
        self,
        dialect: str | Dialect = "vllm",
        *,
        tokens_per_second: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        vllm_reasoning_config: bool = False,
        sglang_strict: bool = False,
        context_length: int = 32768,
    ) -> None:
        if isinstance(dialect, str) and dialect not in DIALECTS:
            raise UsageError(f"unknown dialect {dialect!r}; known dialects: {', '.join(DIALECTS)}")
        if tokens_per_second is not None and not tokens_per_second > 0:
            raise UsageError("tokens_per_second must be positive")
        if context_length < 1:
            raise UsageError("context_length must be positive")
        self.dialect: Dialect = DIALECTS[dialect] if isinstance(dialect, str) else dialect
        self._state = State()
        self._app = App(
            self.dialect,
            self._state,
            tokens_per_second=tokens_per_second,
            context_length=context_length,
            vllm_reasoning_config=vllm_reasoning_config,
            sglang_strict=sglang_strict,
        )
        self._http = LoopbackServer(
            self._app.handle, host=host, port=port, name=f"terse-fake-{self.dialect.name}"
        )

    # --- addresses -------------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:<port>``: the server root (llama.cpp's native paths live here)."""
        if self._http.bound is None:
            raise UsageError(
                "the FakeServer is not running; use it as a context manager or call start()"
            )
        host, port = self._http.bound
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``: what an OpenAI client takes as ``base_url``."""
        return self.root_url + "/v1"

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.root_url.rpartition(":")[2])

    # --- scripting -------------------------------------------------------------------------

    def push(self, *scripts: Script) -> None:
        """Queue scripts; each generation request takes the oldest one."""
        with self._state.lock:
            self._state.queue.extend(scripts)

    def route(self, match: Matcher, script: Script) -> None:
        """Serve ``script`` to every request whose prompt text contains ``match``.

        ``match`` may also be a predicate on the request's JSON body. Routes are tried in
        the order added, after the queue is empty.
        """
        with self._state.lock:
            self._state.routes.append((match, script))

    @property
    def default(self) -> Script:
        """The script used when the queue is empty and no route matches."""
        return self._state.default

    @default.setter
    def default(self, script: Script) -> None:
        with self._state.lock:
            self._state.default = script

    @property
    def requests(self) -> list[Recorded]:
        """Every request received, on every path, in arrival order (a snapshot)."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def errors(self) -> list[Exception]:
        """Exceptions raised inside the fake while handling requests (bugs in the fake; should stay empty)."""
        with self._state.lock:
            return list(self._state.errors)

    @property
    def pending(self) -> int:
        """How many queued scripts are still unused."""
        with self._state.lock:
            return len(self._state.queue)

    def wait_idle(self, timeout: float = 2.0) -> None:
        """Block until no request is generating (so counts and logs are final).

        Raises:
            TimeoutError: Something was still generating after ``timeout`` seconds.
        """
        if not self._state.wait_idle(timeout):
            raise TimeoutError(f"still generating after {timeout}s: {self._state.busy()!r}")

    async def await_idle(self, timeout: float = 2.0) -> None:
        """`wait_idle` for async code: waits without blocking the running loop."""
        try:
            await asyncio.wait_for(self._state.idle_future(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"still generating after {timeout}s: {self._state.busy()!r}"
            ) from None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeServer:
        """Start serving in a background thread; returns once the port is bound."""
        if self._http.running:
            raise UsageError("this FakeServer is already running")
        self._http.start()
        return self

    def close(self) -> None:
        """Stop serving: cancel in-flight requests (hanging ones too) and join the thread."""
        self._http.close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> FakeServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.close)

    def __repr__(self) -> str:
        where = self.root_url if self._http.bound else "stopped"
        return f"<FakeServer {self.dialect.name} {where}>"
