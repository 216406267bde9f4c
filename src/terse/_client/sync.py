"""`Client`: the sync shell over the pure flow (`AsyncClient` is its twin).

Both build `Settings` the same way (`_Base`), then drive `terse._core.flow.ask_flow`: each
`Call` it yields goes to the client's transport (`terse._client.transport`) — by default
`OpenAITransport`, one HTTP request made with the user's own ``openai`` client (its base
URL, key, headers and timeouts), read as raw bytes through ``with_streaming_response``
rather than openai's per-chunk objects — whose bytes the `Reader` hands to a fresh
`Assembler`. The two classes mirror each other method for method; neither wraps the other.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
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
from .http import OpenAITransport
from .streams import AnswerStream, _final_answer
from .transport import Delta, Reader, Transport

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["Client"]


class Client(_Base):
    """A reasoning-safe client over an ``openai.OpenAI`` client.

    Args:
        openai_client: The client to send requests with; or leave it out and give
            ``base_url``/``api_key``. terse copies it with openai's own retries off and
            keeps its timeout, headers and query unless given here; it never closes it.
        base_url: Server URL (``http://host:port/v1``), when no client is given.
        api_key: API key, when no client is given (never logged or shown).
        model: Default model name for every call.
        dialect: Server dialect (``"vllm"``, ``"llamacpp"``, ``"deepseek"``, …); detected
            when left out.
        thinking_open: Whether the chat template pre-fills the opening think tag (for
            servers without a reasoning parser); detected when left out.
        thinking_budget: Default budget for every call: an int (tokens) or a `Budget`.
        max_retries: Default number of retries after the first try (default 2).
        retry_policy: Default `RetryPolicy` (tenacity ``stop``/``wait``/``retry``).
        deadline: Default whole-call deadline in seconds: one clock for every request of
            the call (probes, retries, waits, the conclusion after a budget), enforced
            while bytes are awaited, so it holds whatever the server sends or withholds.
        timeout: Per-request timeout, as openai takes it (seconds, an ``openai.Timeout``,
            or None for none). Left out: the openai client's own (openai's default,
            600 s, for a client terse creates).
        default_headers: HTTP headers for every request, as on ``openai.OpenAI``.
        default_query: URL query parameters for every request, as on ``openai.OpenAI``.
        max_total_tokens: Default cap on tokens spent by one call across its attempts.
        on_attempt: Called with each `Attempt` record as it completes.
        schema_hint: Tell the model the JSON Schema of ``response_model`` (default True).
        idle_timeout: Seconds without a byte from the server before a streaming response
            (and any response once its headers arrived) is given up as
            `ConnectionFailed`; default 60, None for no bound. A non-streamed request
            is silent while the model generates, so its wait for headers is bounded by
            ``timeout`` and ``deadline`` only.
        limits: Sizes past which a response is refused with `ResponseTooLarge`
            (`terse.Limits`: body, SSE line, reasoning, answer).
        extra_body: JSON fields only your server knows (``top_k``, ``chat_template_kwargs``,
            …), sent at the top level of every request body.
        **request: ``chat.completions.create`` fields sent with every request
            (``temperature=0``, ``stop=[...]``, …); an unknown name is a `UsageError`.

    Example:
        >>> import terse  # doctest: +SKIP
        >>> client = terse.Client(base_url="http://127.0.0.1:8080/v1", model="qwen3")  # doctest: +SKIP
        >>> client.ask("Capital of France? One word.").text  # doctest: +SKIP
        'Paris'
    """

    def __init__(
        self,
        openai_client: openai.OpenAI | None = None,
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
                raise UsageError("give an openai.OpenAI client or base_url=")
            key = api_key or os.environ.get("OPENAI_API_KEY") or "no-key"
            openai_client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
            self._owns_openai = True
        elif base_url is not None or api_key is not None:
            raise UsageError("give either an openai client or base_url=/api_key=, not both")
        if not isinstance(openai_client, openai.OpenAI):
            raise UsageError("Client wraps an openai.OpenAI; use AsyncClient for AsyncOpenAI")
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
        self._transport: Transport = OpenAITransport(
            self._openai, limits=self._limits, idle_timeout=self._idle_timeout
        )

    @overload
    def ask(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        response_model: None = ...,
        **options: Unpack[CallOptions],
    ) -> Answer[str]: ...

    @overload
    def ask(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        response_model: type[T],
        **options: Unpack[CallOptions],
    ) -> Answer[T]: ...

    @overload
    def ask(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        response_model: Any,
        **options: Unpack[CallOptions],
    ) -> Answer[Any]: ...

    def ask(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        response_model: Any = None,
        **options: Unpack[CallOptions],
    ) -> Answer[Any]:
        """Ask once (retrying as allowed) and return a clean, typed `Answer`.

        ``prompt`` is a user message or a list of chat messages. ``response_model`` is
        the type of ``Answer.value`` (a pydantic model, dataclass, TypedDict, ``int``,
        ``Literal[...]``, …), extracted from the answer only; leave it out for ``str``.
        The other keyword arguments are `CallOptions` (declared once for ``ask`` and
        ``stream``, sync and async; each is listed there with its default).
        ``retry_policy`` takes a `RetryPolicy` (tenacity strategies); ``max_retries`` is
        its shorthand. ``repair_budget`` is the thinking budget of a re-ask after an
        invalid answer: ``"same"`` (default), a smaller budget, or ``"off"`` (thinking
        switched off for the repair turn). Other keyword arguments are those of
        ``chat.completions.create``, with openai's meaning: request fields (``stop``,
        ``temperature``, …), ``extra_body`` (merged at the top level of the JSON body),
        ``extra_headers``, ``extra_query`` and ``timeout`` (per request). An unknown
        keyword raises `UsageError` before any request.
        """
        settings = self._settings(prompt, response_model, False, options)
        return _final_answer(self._drive(settings))

    def stream(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        response_model: Any = None,
        **options: Unpack[CallOptions],
    ) -> AnswerStream[Any]:
        """Like `ask`, streamed: ``with client.stream(...) as s: for event in s: ...``."""
        settings = self._settings(prompt, response_model, True, options)
        return AnswerStream(self._drive(settings))

    def run_tools(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        response_model: Any = None,
        max_steps: int = MAX_STEPS,
        **options: Unpack[CallOptions],
    ) -> Answer[Any]:
        """Ask, run the functions the model calls, send back their results, and repeat.

        ``tools=[...]`` (required) are the functions the model may call (schemas from
        their signatures and docstrings). Each turn asks with the history; each call is
        run with its validated arguments and answered with a ``role: "tool"`` message
        (the return value as text or JSON; an exception as ``"Error: …"``, and the loop
        goes on). It ends with the first answer that calls no tool: that `Answer`, with
        ``steps`` (every call and result), and usage and attempts summed over all turns.
        ``max_steps`` bounds the turns; ``deadline`` and ``max_total_tokens`` bound the
        whole loop; when one runs out, `RetriesExhausted` (``reason`` ``"steps"``,
        ``"deadline"`` or ``"tokens"``). Other options are those of `ask`.

        Example:
            >>> def get_weather(city: str) -> str:  # doctest: +SKIP
            ...     return "sunny"
            >>> client.run_tools("Weather in Paris?", tools=[get_weather]).text  # doctest: +SKIP
            'It is sunny in Paris.'
        """
        loop = ToolLoop(prompt, options, max_steps, awaitable=False)
        while True:
            answer = self.ask(loop.messages, response_model=response_model, **loop.options())
            if loop.take(answer):
                return loop.finish(answer)
            loop.record(answer, [loop.invoke(call) for call in answer.tool_calls])

    def probe(self, *, generate: bool = False) -> ServerInfo:
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
                result = self._transport.fetch(op)
        except StopIteration as stop:
            info: ServerInfo = stop.value
        self._learn(info)
        return info

    def close(self) -> None:
        """Close the connections of the openai client terse created.

        A client you passed in is yours: terse never closes it (close it yourself).
        """
        if self._owns_openai:
            self._openai.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the driver ------------------------------------------------------------------------

    def _drive(self, settings: Settings) -> Iterator[StreamEvent]:
        flow = self._flow(settings)
        result: Any = None
        while True:
            try:
                op = flow.send(result)
            except StopIteration as stop:
                yield Final(stop.value)
                return
            if isinstance(op, Sleep):
                time.sleep(op.seconds)
                result = None
            elif isinstance(op, (NewAttempt, ReasoningDelta)):
                yield op  # an event of the flow's own (a new attempt, replayed reasoning)
                result = None
            elif op.endpoint in ("get", "apply-template"):
                result = self._transport.fetch(op)
            else:
                box: list[Outcome] = []
                yield from self._perform(op, settings, box)
                result = box[0]

    def _perform(self, call: Call, settings: Settings, box: list[Outcome]) -> Iterator[Delta]:
        asm = self._assembler(call, settings)
        yield from self._transport.send(call, Reader(asm, call, self._limits))
        yield from asm.flush()
        box.append(asm.result())
