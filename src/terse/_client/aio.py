"""`AsyncClient`: the async twin of `terse.Client`, over the same pure flow."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from contextlib import aclosing
from types import TracebackType
from typing import TYPE_CHECKING, Any, overload

import openai

from .._core.budget import Budget
from .._core.flow import Call, Settings, Sleep
from .._core.options import CallOptions
from .._core.retry import RetryPolicy
from .._core.tool_loop import MAX_STEPS, ToolLoop
from .._exceptions import UsageError
from .._results import (
    Answer,
    Attempt,
    Final,
    NewAttempt,
    ReasoningDelta,
    ServerInfo,
    StreamEvent,
)
from .._wire.assemble import Outcome
from .._wire.sse import Limits
from .base import (
    UNSET,
    T,
    _Base,
)
from .clock import IDLE_TIMEOUT
from .http import AsyncOpenAITransport
from .streams import AsyncAnswerStream
from .transport import AsyncTransport, Delta, Reader

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["AsyncClient"]


class AsyncClient(_Base):
    """The async twin of `Client`, over an ``openai.AsyncOpenAI`` client.

    It takes the same arguments as `Client` (``deadline``, ``timeout``,
    ``idle_timeout``, ``limits``, …), with the same meaning.

    Example:
        >>> client = terse.AsyncClient(base_url="http://127.0.0.1:8080/v1", model="qwen3")  # doctest: +SKIP
        >>> (await client.ask("Capital of France? One word.")).text  # doctest: +SKIP
        'Paris'
    """

    def __init__(
        self,
        openai_client: openai.AsyncOpenAI | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        dialect: str | None = None,
        thinking_open: bool | None = None,
        thinking_budget: int | Budget | None = None,
        max_retries: int = UNSET,
        retry_policy: RetryPolicy | None = None,
        deadline: float | None = None,
        timeout: float | openai.Timeout | None = UNSET,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, object] | None = None,
        max_total_tokens: int | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
        schema_hint: bool = True,
        idle_timeout: float | None = IDLE_TIMEOUT,
        limits: Limits | None = None,
        extra_body: Mapping[str, object] | None = None,
        **request: Any,
    ) -> None:
        if openai_client is None:
            if base_url is None:
                raise UsageError("give an openai.AsyncOpenAI client or base_url=")
            key = api_key or os.environ.get("OPENAI_API_KEY") or "no-key"
            openai_client = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0)
            self._owns_openai = True
        elif base_url is not None or api_key is not None:
            raise UsageError("give either an openai client or base_url=/api_key=, not both")
        if not isinstance(openai_client, openai.AsyncOpenAI):
            raise UsageError("AsyncClient wraps an openai.AsyncOpenAI; use Client for OpenAI")
        options = self._client_options(timeout, default_headers, default_query)
        # A copy with openai's retries off (terse retries); it shares the caller's
        # connection pool, which only the caller closes.
        self._openai = openai_client.with_options(max_retries=0, **options)
        self._configure(
            model=model,
            dialect=dialect,
            thinking_open=thinking_open,
            thinking_budget=thinking_budget,
            max_retries=max_retries,
            retry_policy=retry_policy,
            deadline=deadline,
            max_total_tokens=max_total_tokens,
            on_attempt=on_attempt,
            schema_hint=schema_hint,
            extra_body=extra_body,
            request=request,
            idle_timeout=idle_timeout,
            limits=limits,
        )
        self._transport: AsyncTransport = AsyncOpenAITransport(
            self._openai, limits=self._limits, idle_timeout=self._idle_timeout
        )

    @overload
    async def ask(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        response_model: None = ...,
        **options: Unpack[CallOptions],
    ) -> Answer[str]: ...

    @overload
    async def ask(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        response_model: type[T],
        **options: Unpack[CallOptions],
    ) -> Answer[T]: ...

    @overload
    async def ask(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        response_model: Any,
        **options: Unpack[CallOptions],
    ) -> Answer[Any]: ...

    async def ask(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        response_model: Any = None,
        **options: Unpack[CallOptions],
    ) -> Answer[Any]:
        """Ask once (retrying as allowed) and return a clean, typed `Answer`.

        Takes the same arguments as `Client.ask`: ``response_model`` and `CallOptions`.
        """
        settings = self._settings(prompt, response_model, False, options)
        async for event in self._drive(settings):
            if isinstance(event, Final):
                answer: Answer[Any] = event.answer
                return answer
        raise AssertionError("the flow ended without an answer")  # pragma: no cover

    def stream(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        response_model: Any = None,
        **options: Unpack[CallOptions],
    ) -> AsyncAnswerStream[Any]:
        """Like `ask`, streamed: ``async with client.stream(...) as s: async for e in s: ...``."""
        settings = self._settings(prompt, response_model, True, options)
        return AsyncAnswerStream(self._drive(settings))

    async def run_tools(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        response_model: Any = None,
        max_steps: int = MAX_STEPS,
        **options: Unpack[CallOptions],
    ) -> Answer[Any]:
        """`Client.run_tools`, awaited: async functions are awaited, others run in a thread.

        The calls of one turn run concurrently; their results go back in call order.
        """
        loop = ToolLoop(prompt, options, max_steps, awaitable=True)
        while True:
            answer = await self.ask(loop.messages, response_model=response_model, **loop.options())
            if loop.take(answer):
                return loop.finish(answer)
            results = await asyncio.gather(*(loop.ainvoke(c) for c in answer.tool_calls))
            loop.record(answer, results)

    async def probe(self, *, generate: bool = False) -> ServerInfo:
        """Ask the server what it is (``/props``, ``/server_info``, ``/version``, …).

        ``ServerInfo.evidence`` says, per finding, whether the server showed it or terse
        assumed it. ``generate=True`` adds one tiny test generation (with the client's model,
        or the first one ``/v1/models`` lists) that shows where the server puts reasoning and
        whether vLLM's native budget is really there.
        """
        flow = self._probe_flow(generate)
        result: Any = None
        try:
            while True:
                op = flow.send(result)
                assert isinstance(op, Call)
                result = await self._transport.fetch(op)
        except StopIteration as stop:
            info: ServerInfo = stop.value
        self._learn(info)
        return info

    async def close(self) -> None:
        """Close the connections of the openai client terse created.

        A client you passed in is yours: terse never closes it (close it yourself).
        """
        if self._owns_openai:
            await self._openai.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the driver ------------------------------------------------------------------------

    async def _drive(self, settings: Settings) -> AsyncIterator[StreamEvent]:
        flow = self._flow(settings)
        result: Any = None
        while True:
            try:
                op = flow.send(result)
            except StopIteration as stop:
                yield Final(stop.value)
                return
            if isinstance(op, Sleep):
                await asyncio.sleep(op.seconds)
                result = None
            elif isinstance(op, (NewAttempt, ReasoningDelta)):
                yield op  # an event of the flow's own (a new attempt, replayed reasoning)
                result = None
            elif op.endpoint in ("get", "apply-template"):
                result = await self._transport.fetch(op)
            else:
                box: list[Outcome] = []
                # aclosing: leaving the stream early must close the HTTP response now,
                # not whenever the inner generator is garbage-collected.
                async with aclosing(self._perform(op, settings, box)) as events:
                    async for event in events:
                        yield event
                result = box[0]

    async def _perform(
        self, call: Call, settings: Settings, box: list[Outcome]
    ) -> AsyncGenerator[Delta, None]:
        asm = self._assembler(call, settings)
        # aclosing: leaving early closes the transport's response now, not at collection.
        async with aclosing(self._transport.send(call, Reader(asm, call, self._limits))) as got:
            async for event in got:
                yield event
        for event in asm.flush():
            yield event
        box.append(asm.result())
