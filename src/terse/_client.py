"""`Client` and `AsyncClient`: thin I/O shells over the pure flow.

Both build `Settings` the same way (`_Base`), then drive `terse._flow.ask_flow`: each
`Call` it yields becomes one HTTP request made with the user's own ``openai`` client
(its base URL, key, headers and timeouts), read as raw SSE lines through
``with_streaming_response`` rather than openai's per-chunk objects. The two classes
mirror each other method for method; neither wraps the other.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import aclosing
from types import TracebackType
from typing import Any, Generic, TypeVar, cast, overload

import openai
from tenacity import stop_after_attempt

from ._assemble import Assembler, Outcome, server_error
from ._budget import Budget, as_budget
from ._dialects import GENERIC, detect_from_url, dialect_named, family_for
from ._exceptions import ConnectionFailed, ProtocolError, TerseError, UsageError
from ._flow import Call, Memo, Settings, Sleep, ask_flow, probe_flow
from ._results import (
    Answer,
    AnswerDelta,
    Attempt,
    Final,
    ReasoningDelta,
    ServerInfo,
    StreamEvent,
    Usage,
)
from ._retry import DEFAULT_RETRY, parse_retry_after, wait_retry_after
from ._tokens import count_tokens

__all__ = ["AnswerStream", "AsyncAnswerStream", "AsyncClient", "Client"]

T = TypeVar("T")

_TRANSPORT_MODULES = frozenset({"httpx", "httpx2", "httpcore", "httpcore2", "h11", "h2", "anyio"})


class _Unset:
    """Marks an argument left out, as distinct from an explicit ``None``."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def _map_error(exc: BaseException) -> TerseError | None:
    """The terse error for an exception raised by openai or its HTTP library, or None."""
    if isinstance(exc, openai.APIStatusError):
        response = exc.response
        try:
            body = response.text
        except Exception:
            body = ""
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return server_error(exc.status_code, body or str(exc.message), retry_after)
    if isinstance(exc, openai.APITimeoutError):
        return ConnectionFailed("the request timed out")
    if isinstance(exc, openai.APIConnectionError):
        return ConnectionFailed(f"could not reach the server: {exc.__cause__ or exc}")
    root = type(exc).__module__.split(".")[0]
    if root in _TRANSPORT_MODULES or isinstance(exc, (OSError, EOFError)):
        return ConnectionFailed(f"the connection failed mid-response: {type(exc).__name__}: {exc}")
    return None


def _messages(prompt: str | Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
    if isinstance(prompt, str):
        return ({"role": "user", "content": prompt},)
    if isinstance(prompt, Sequence) and all(isinstance(m, Mapping) for m in prompt):
        if not prompt:
            raise UsageError("messages must not be empty")
        return tuple(cast(Sequence[Mapping[str, Any]], prompt))
    raise UsageError("prompt must be a str or a sequence of chat message dicts")


def _prompt_counter(messages: Sequence[Mapping[str, Any]]) -> Callable[[], int]:
    def count() -> int:
        text = "\n".join(str(m.get("content") or "") for m in messages)
        return count_tokens(text) + 4 * len(messages)

    return count


class _Base:
    """Configuration and the pure parts shared by `Client` and `AsyncClient`."""

    _openai: Any

    def _configure(
        self,
        *,
        model: str | None,
        dialect: str | None,
        thinking_open: bool | None,
        thinking_budget: int | Budget | None,
        max_retries: int,
        deadline: float | None,
        timeout: float | None,
        max_total_tokens: int | None,
        on_attempt: Callable[[Attempt], None] | None,
        schema_hint: bool,
        request: Mapping[str, Any],
    ) -> None:
        self._model = model
        self._thinking_open = thinking_open
        self._budget = as_budget(thinking_budget)
        if not isinstance(max_retries, int) or max_retries < 0:
            raise UsageError(f"max_retries must be an int >= 0, not {max_retries!r}")
        self._max_retries = max_retries
        self._deadline = deadline
        self._timeout = timeout
        self._max_total_tokens = max_total_tokens
        self._on_attempt = on_attempt
        self._schema_hint = schema_hint
        self._request = dict(request)
        self._memo = Memo()
        if dialect is not None:
            self._memo.dialect = dialect_named(dialect)
        else:
            hinted = detect_from_url(self.base_url)
            if hinted is not None:
                self._memo.dialect = dialect_named(hinted)

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (``…/v1``)."""
        return str(self._openai.base_url).rstrip("/")

    @property
    def root_url(self) -> str:
        """The server root, where native endpoints such as ``/props`` live."""
        url = self.base_url
        return url[: -len("/v1")] if url.endswith("/v1") else url

    @property
    def openai(self) -> Any:
        """The wrapped openai client (openai's own retries are off for terse's requests)."""
        return self._openai

    @property
    def dialect(self) -> str | None:
        """The server dialect terse speaks, once known (given, hinted, probed or detected)."""
        return self._memo.dialect.name if self._memo.dialect is not None else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, dialect={self.dialect!r})"

    def _settings(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        model: str | None,
        response_model: Any,
        thinking_budget: Any,
        max_retries: Any,
        stop: Any,
        wait: Any,
        retry: Any,
        deadline: Any,
        max_total_tokens: Any,
        repair_budget: Any,
        salvage: bool,
        partial: bool,
        stream: bool,
        request: Mapping[str, Any],
    ) -> Settings:
        model = model or self._model
        if not model:
            raise UsageError("no model: pass model= to ask()/stream() or to the client")
        budget = self._budget if thinking_budget is UNSET else as_budget(thinking_budget)
        retries = self._max_retries if max_retries is UNSET else max_retries
        if not isinstance(retries, int) or retries < 0:
            raise UsageError(f"max_retries must be an int >= 0, not {retries!r}")
        if repair_budget not in ("same", None) and not isinstance(repair_budget, Budget):
            repair_budget = as_budget(repair_budget)
        merged = {**self._request, **request}
        for key in ("model", "messages"):
            if key in merged:
                raise UsageError(f"pass {key} as ask()'s own argument, not as a request field")
        return Settings(
            model=model,
            messages=_messages(prompt),
            request=merged,
            stop=stop if stop is not None else stop_after_attempt(retries + 1),
            wait=wait if wait is not None else wait_retry_after(),
            retry=retry if retry is not None else DEFAULT_RETRY,
            response_model=response_model,
            budget=budget,
            repair_budget=repair_budget,
            deadline=self._deadline if deadline is UNSET else deadline,
            timeout=self._timeout,
            max_total_tokens=self._max_total_tokens
            if max_total_tokens is UNSET
            else max_total_tokens,
            family=family_for(model),
            thinking_open=self._thinking_open,
            stream=stream,
            salvage=salvage,
            partial=partial,
            schema_hint=self._schema_hint,
            on_attempt=self._on_attempt,
        )

    def _flow(self, settings: Settings) -> Any:
        def run() -> Any:
            memo = self._memo
            if settings.budget is not None and memo.dialect is None and memo.info is None:
                info = yield from probe_flow()
                self._learn(info)
            return (yield from ask_flow(settings, memo))

        return run()

    def _learn(self, info: ServerInfo) -> None:
        self._memo.info = info
        if info.dialect != GENERIC.name or self._memo.dialect is None:
            self._memo.dialect = dialect_named(info.dialect)
        if info.template_opens_thinking is not None:
            self._memo.thinking_open = info.template_opens_thinking
        if info.native_budget is False:
            self._memo.native_ok = False

    def _assembler(self, call: Call, settings: Settings | None) -> Assembler:
        memo = self._memo
        thinking_open = self._thinking_open
        if thinking_open is None:
            thinking_open = memo.thinking_open
        body = call.body or {}
        messages = body.get("messages") or [{"content": body.get("prompt", "")}]
        return Assembler(
            dialect=memo.dialect or GENERIC,
            family=settings.family if settings is not None else None,
            thinking_open=thinking_open,
            answer_only=call.answer_only,
            thinking_disabled=call.thinking_disabled,
            limit=call.limit,
            prefill=call.prefill,
            prompt_estimate=_prompt_counter(messages),
        )

    def _create_args(self, call: Call) -> tuple[Any, dict[str, Any]]:
        """The openai resource and keyword arguments for a generation request."""
        body = dict(call.body or {})
        kwargs: dict[str, Any] = {"model": body.pop("model"), "timeout": call.timeout}
        kwargs["stream"] = bool(body.pop("stream", False))
        if call.endpoint == "completions":
            kwargs["prompt"] = body.pop("prompt")
            resource = self._openai.completions
        else:
            kwargs["messages"] = body.pop("messages")
            client = self._openai
            if call.endpoint == "beta-chat":
                client = client.with_options(base_url=self.root_url + "/beta")
            resource = client.chat.completions
        kwargs["extra_body"] = body
        return resource.with_streaming_response, kwargs

    def _aux_args(self, call: Call) -> tuple[str, dict[str, Any]]:
        """Method name and arguments for a request to a native endpoint at the server root."""
        options: dict[str, Any] = {"timeout": call.timeout}
        if call.endpoint == "get":
            return "get", {"path": self.root_url + call.path, "cast_to": str, "options": options}
        return "post", {
            "path": self.root_url + "/apply-template",
            "cast_to": str,
            "body": dict(call.body or {}),
            "options": options,
        }


def _aux_outcome(text: str | None, error: TerseError | None) -> Outcome:
    body: Any = None
    if error is None and text is not None:
        try:
            body = json.loads(text)
        except ValueError:
            error = ProtocolError("the server's response is not JSON", text)
    return Outcome("", "", True, None, Usage(), 0, error=error, body=body)


def _final_answer(events: Iterator[StreamEvent]) -> Answer[Any]:
    for event in events:
        if isinstance(event, Final):
            return event.answer
    raise AssertionError("the flow ended without an answer")  # pragma: no cover


class AnswerStream(Generic[T]):
    """What `Client.stream` returns: a context manager and iterator of events.

    Iterating yields `ReasoningDelta` and `AnswerDelta` pieces as they arrive (no
    reasoning ever appears in an `AnswerDelta`), then one `Final` holding the `Answer`.
    Leaving the ``with`` block early closes the HTTP stream, which stops generation on
    servers that notice disconnects.
    """

    def __init__(self, events: Iterator[StreamEvent]) -> None:
        self._events = events
        self._answer: Answer[T] | None = None

    def __enter__(self) -> AnswerStream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[StreamEvent]:
        for event in self._events:
            if isinstance(event, Final):
                self._answer = event.answer
            yield event

    def answer_text(self) -> Iterator[str]:
        """Iterate over the answer text pieces only."""
        for event in self:
            if isinstance(event, AnswerDelta):
                yield event.text

    def get_answer(self) -> Answer[T]:
        """Read the rest of the stream and return the final `Answer`."""
        for _ in self:
            pass
        if self._answer is None:
            raise UsageError("the stream was closed before its answer arrived")
        return self._answer

    def close(self) -> None:
        """Stop reading and close the HTTP stream."""
        close = getattr(self._events, "close", None)
        if close is not None:
            close()


class AsyncAnswerStream(Generic[T]):
    """What `AsyncClient.stream` returns: the async twin of `AnswerStream`."""

    def __init__(self, events: AsyncIterator[StreamEvent]) -> None:
        self._events = events
        self._answer: Answer[T] | None = None

    async def __aenter__(self) -> AsyncAnswerStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def __aiter__(self) -> AsyncIterator[StreamEvent]:
        async for event in self._events:
            if isinstance(event, Final):
                self._answer = event.answer
            yield event

    async def answer_text(self) -> AsyncIterator[str]:
        """Iterate over the answer text pieces only."""
        async for event in self:
            if isinstance(event, AnswerDelta):
                yield event.text

    async def get_answer(self) -> Answer[T]:
        """Read the rest of the stream and return the final `Answer`."""
        async for _ in self:
            pass
        if self._answer is None:
            raise UsageError("the stream was closed before its answer arrived")
        return self._answer

    async def aclose(self) -> None:
        """Stop reading and close the HTTP stream."""
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()


class Client(_Base):
    """A reasoning-safe client over an ``openai.OpenAI`` client.

    Args:
        openai_client: The client to send requests with; or leave it out and give
            ``base_url``/``api_key``. terse copies it with openai's own retries off.
        base_url: Server URL (``http://host:port/v1``), when no client is given.
        api_key: API key, when no client is given (never logged or shown).
        model: Default model name for every call.
        dialect: Server dialect (``"vllm"``, ``"llamacpp"``, ``"deepseek"``, …); detected
            when left out.
        thinking_open: Whether the chat template pre-fills the opening think tag (for
            servers without a reasoning parser); detected when left out.
        thinking_budget: Default budget for every call: an int (tokens) or a `Budget`.
        max_retries: Default number of retries after the first try.
        deadline: Default whole-call deadline in seconds, across every attempt.
        timeout: Per-request timeout in seconds.
        max_total_tokens: Default cap on tokens spent by one call across its attempts.
        on_attempt: Called with each `Attempt` record as it completes.
        schema_hint: Tell the model the JSON Schema of ``response_model`` (default True).
        **request: Extra request fields sent with every request (``temperature=0``, …).

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
        max_retries: int = 2,
        deadline: float | None = None,
        timeout: float | None = 600.0,
        max_total_tokens: int | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
        schema_hint: bool = True,
        **request: Any,
    ) -> None:
        if openai_client is None:
            if base_url is None:
                raise UsageError("give an openai.OpenAI client or base_url=")
            key = api_key or os.environ.get("OPENAI_API_KEY") or "no-key"
            openai_client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
        elif base_url is not None or api_key is not None:
            raise UsageError("give either an openai client or base_url=/api_key=, not both")
        if not isinstance(openai_client, openai.OpenAI):
            raise UsageError("Client wraps an openai.OpenAI; use AsyncClient for AsyncOpenAI")
        self._openai = openai_client.with_options(max_retries=0)
        self._configure(
            model=model,
            dialect=dialect,
            thinking_open=thinking_open,
            thinking_budget=thinking_budget,
            max_retries=max_retries,
            deadline=deadline,
            timeout=timeout,
            max_total_tokens=max_total_tokens,
            on_attempt=on_attempt,
            schema_hint=schema_hint,
            request=request,
        )

    @overload
    def ask(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        model: str | None = ...,
        response_model: None = ...,
        thinking_budget: int | Budget | None = ...,
        max_retries: int = ...,
        stop: Any = ...,
        wait: Any = ...,
        retry: Any = ...,
        deadline: float | None = ...,
        max_total_tokens: int | None = ...,
        repair_budget: int | Budget | str | None = ...,
        salvage: bool = ...,
        partial: bool = ...,
        **request: Any,
    ) -> Answer[str]: ...

    @overload
    def ask(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        model: str | None = ...,
        response_model: type[T],
        thinking_budget: int | Budget | None = ...,
        max_retries: int = ...,
        stop: Any = ...,
        wait: Any = ...,
        retry: Any = ...,
        deadline: float | None = ...,
        max_total_tokens: int | None = ...,
        repair_budget: int | Budget | str | None = ...,
        salvage: bool = ...,
        partial: bool = ...,
        **request: Any,
    ) -> Answer[T]: ...

    @overload
    def ask(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        model: str | None = ...,
        response_model: Any,
        thinking_budget: int | Budget | None = ...,
        max_retries: int = ...,
        stop: Any = ...,
        wait: Any = ...,
        retry: Any = ...,
        deadline: float | None = ...,
        max_total_tokens: int | None = ...,
        repair_budget: int | Budget | str | None = ...,
        salvage: bool = ...,
        partial: bool = ...,
        **request: Any,
    ) -> Answer[Any]: ...

    def ask(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        model: str | None = None,
        response_model: Any = None,
        thinking_budget: int | Budget | None = UNSET,
        max_retries: int = UNSET,
        stop: Any = None,
        wait: Any = None,
        retry: Any = None,
        deadline: float | None = UNSET,
        max_total_tokens: int | None = UNSET,
        repair_budget: int | Budget | str | None = "same",
        salvage: bool = False,
        partial: bool = False,
        **request: Any,
    ) -> Answer[Any]:
        """Ask once (retrying as allowed) and return a clean, typed `Answer`.

        ``prompt`` is a user message or a list of chat messages. ``response_model`` is
        the type of ``Answer.value`` (a pydantic model, dataclass, TypedDict, ``int``,
        ``Literal[...]``, …), extracted from the answer only; leave it out for ``str``.
        ``stop``/``wait``/``retry`` take tenacity strategies. Extra keyword arguments
        are sent as request fields.
        """
        settings = self._settings(
            prompt,
            model=model,
            response_model=response_model,
            thinking_budget=thinking_budget,
            max_retries=max_retries,
            stop=stop,
            wait=wait,
            retry=retry,
            deadline=deadline,
            max_total_tokens=max_total_tokens,
            repair_budget=repair_budget,
            salvage=salvage,
            partial=partial,
            stream=False,
            request=request,
        )
        return _final_answer(self._drive(settings))

    def stream(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        model: str | None = None,
        response_model: Any = None,
        thinking_budget: int | Budget | None = UNSET,
        max_retries: int = UNSET,
        stop: Any = None,
        wait: Any = None,
        retry: Any = None,
        deadline: float | None = UNSET,
        max_total_tokens: int | None = UNSET,
        repair_budget: int | Budget | str | None = "same",
        salvage: bool = False,
        partial: bool = False,
        **request: Any,
    ) -> AnswerStream[Any]:
        """Like `ask`, streamed: ``with client.stream(...) as s: for event in s: ...``."""
        settings = self._settings(
            prompt,
            model=model,
            response_model=response_model,
            thinking_budget=thinking_budget,
            max_retries=max_retries,
            stop=stop,
            wait=wait,
            retry=retry,
            deadline=deadline,
            max_total_tokens=max_total_tokens,
            repair_budget=repair_budget,
            salvage=salvage,
            partial=partial,
            stream=True,
            request=request,
        )
        return AnswerStream(self._drive(settings))

    def probe(self) -> ServerInfo:
        """Ask the server what it is (``/props``, ``/server_info``, ``/version``)."""
        flow = probe_flow()
        result: Any = None
        try:
            while True:
                op = flow.send(result)
                assert isinstance(op, Call)
                result = self._perform_aux(op)
        except StopIteration as stop:
            info: ServerInfo = stop.value
        self._learn(info)
        return info

    def close(self) -> None:
        """Close the underlying openai client's connections."""
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
            elif op.endpoint in ("get", "apply-template"):
                result = self._perform_aux(op)
            else:
                box: list[Outcome] = []
                yield from self._perform(op, settings, box)
                result = box[0]

    def _perform_aux(self, call: Call) -> Outcome:
        method, kwargs = self._aux_args(call)
        try:
            text = getattr(self._openai, method)(**kwargs)
        except Exception as exc:
            mapped = _map_error(exc)
            if mapped is None:
                raise
            return _aux_outcome(None, mapped)
        return _aux_outcome(text, None)

    def _perform(
        self, call: Call, settings: Settings, box: list[Outcome]
    ) -> Iterator[ReasoningDelta | AnswerDelta]:
        asm = self._assembler(call, settings)
        resource, kwargs = self._create_args(call)
        try:
            with resource.create(**kwargs) as response:
                if call.stream:
                    for line in response.iter_lines():
                        events = asm.feed_line(line)
                        if events:
                            yield from events
                        if asm.cut or asm.check_time():
                            break
                else:
                    asm.feed_body(json.loads(response.read()))
        except ValueError as exc:
            asm.fail(ProtocolError(f"the server's response is not JSON: {exc}"))
        except Exception as exc:
            mapped = _map_error(exc)
            if mapped is None:
                raise
            asm.fail(mapped)
        yield from asm.flush()
        box.append(asm.result())


class AsyncClient(_Base):
    """The async twin of `Client`, over an ``openai.AsyncOpenAI`` client.

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
        max_retries: int = 2,
        deadline: float | None = None,
        timeout: float | None = 600.0,
        max_total_tokens: int | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
        schema_hint: bool = True,
        **request: Any,
    ) -> None:
        if openai_client is None:
            if base_url is None:
                raise UsageError("give an openai.AsyncOpenAI client or base_url=")
            key = api_key or os.environ.get("OPENAI_API_KEY") or "no-key"
            openai_client = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0)
        elif base_url is not None or api_key is not None:
            raise UsageError("give either an openai client or base_url=/api_key=, not both")
        if not isinstance(openai_client, openai.AsyncOpenAI):
            raise UsageError("AsyncClient wraps an openai.AsyncOpenAI; use Client for OpenAI")
        self._openai = openai_client.with_options(max_retries=0)
        self._configure(
            model=model,
            dialect=dialect,
            thinking_open=thinking_open,
            thinking_budget=thinking_budget,
            max_retries=max_retries,
            deadline=deadline,
            timeout=timeout,
            max_total_tokens=max_total_tokens,
            on_attempt=on_attempt,
            schema_hint=schema_hint,
            request=request,
        )

    @overload
    async def ask(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        model: str | None = ...,
        response_model: None = ...,
        thinking_budget: int | Budget | None = ...,
        max_retries: int = ...,
        stop: Any = ...,
        wait: Any = ...,
        retry: Any = ...,
        deadline: float | None = ...,
        max_total_tokens: int | None = ...,
        repair_budget: int | Budget | str | None = ...,
        salvage: bool = ...,
        partial: bool = ...,
        **request: Any,
    ) -> Answer[str]: ...

    @overload
    async def ask(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        model: str | None = ...,
        response_model: type[T],
        thinking_budget: int | Budget | None = ...,
        max_retries: int = ...,
        stop: Any = ...,
        wait: Any = ...,
        retry: Any = ...,
        deadline: float | None = ...,
        max_total_tokens: int | None = ...,
        repair_budget: int | Budget | str | None = ...,
        salvage: bool = ...,
        partial: bool = ...,
        **request: Any,
    ) -> Answer[T]: ...

    @overload
    async def ask(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        model: str | None = ...,
        response_model: Any,
        thinking_budget: int | Budget | None = ...,
        max_retries: int = ...,
        stop: Any = ...,
        wait: Any = ...,
        retry: Any = ...,
        deadline: float | None = ...,
        max_total_tokens: int | None = ...,
        repair_budget: int | Budget | str | None = ...,
        salvage: bool = ...,
        partial: bool = ...,
        **request: Any,
    ) -> Answer[Any]: ...

    async def ask(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        model: str | None = None,
        response_model: Any = None,
        thinking_budget: int | Budget | None = UNSET,
        max_retries: int = UNSET,
        stop: Any = None,
        wait: Any = None,
        retry: Any = None,
        deadline: float | None = UNSET,
        max_total_tokens: int | None = UNSET,
        repair_budget: int | Budget | str | None = "same",
        salvage: bool = False,
        partial: bool = False,
        **request: Any,
    ) -> Answer[Any]:
        """Ask once (retrying as allowed) and return a clean, typed `Answer`."""
        settings = self._settings(
            prompt,
            model=model,
            response_model=response_model,
            thinking_budget=thinking_budget,
            max_retries=max_retries,
            stop=stop,
            wait=wait,
            retry=retry,
            deadline=deadline,
            max_total_tokens=max_total_tokens,
            repair_budget=repair_budget,
            salvage=salvage,
            partial=partial,
            stream=False,
            request=request,
        )
        async for event in self._drive(settings):
            if isinstance(event, Final):
                answer: Answer[Any] = event.answer
                return answer
        raise AssertionError("the flow ended without an answer")  # pragma: no cover

    def stream(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        model: str | None = None,
        response_model: Any = None,
        thinking_budget: int | Budget | None = UNSET,
        max_retries: int = UNSET,
        stop: Any = None,
        wait: Any = None,
        retry: Any = None,
        deadline: float | None = UNSET,
        max_total_tokens: int | None = UNSET,
        repair_budget: int | Budget | str | None = "same",
        salvage: bool = False,
        partial: bool = False,
        **request: Any,
    ) -> AsyncAnswerStream[Any]:
        """Like `ask`, streamed: ``async with client.stream(...) as s: async for e in s: ...``."""
        settings = self._settings(
            prompt,
            model=model,
            response_model=response_model,
            thinking_budget=thinking_budget,
            max_retries=max_retries,
            stop=stop,
            wait=wait,
            retry=retry,
            deadline=deadline,
            max_total_tokens=max_total_tokens,
            repair_budget=repair_budget,
            salvage=salvage,
            partial=partial,
            stream=True,
            request=request,
        )
        return AsyncAnswerStream(self._drive(settings))

    async def probe(self) -> ServerInfo:
        """Ask the server what it is (``/props``, ``/server_info``, ``/version``)."""
        flow = probe_flow()
        result: Any = None
        try:
            while True:
                op = flow.send(result)
                assert isinstance(op, Call)
                result = await self._perform_aux(op)
        except StopIteration as stop:
            info: ServerInfo = stop.value
        self._learn(info)
        return info

    async def close(self) -> None:
        """Close the underlying openai client's connections."""
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
            elif op.endpoint in ("get", "apply-template"):
                result = await self._perform_aux(op)
            else:
                box: list[Outcome] = []
                # aclosing: leaving the stream early must close the HTTP response now,
                # not whenever the inner generator is garbage-collected.
                async with aclosing(self._perform(op, settings, box)) as events:
                    async for event in events:
                        yield event
                result = box[0]

    async def _perform_aux(self, call: Call) -> Outcome:
        method, kwargs = self._aux_args(call)
        try:
            text = await getattr(self._openai, method)(**kwargs)
        except Exception as exc:
            mapped = _map_error(exc)
            if mapped is None:
                raise
            return _aux_outcome(None, mapped)
        return _aux_outcome(text, None)

    async def _perform(
        self, call: Call, settings: Settings, box: list[Outcome]
    ) -> AsyncGenerator[ReasoningDelta | AnswerDelta, None]:
        asm = self._assembler(call, settings)
        resource, kwargs = self._create_args(call)
        try:
            async with resource.create(**kwargs) as response:
                if call.stream:
                    async for line in response.iter_lines():
                        events = asm.feed_line(line)
                        for event in events:
                            yield event
                        if asm.cut or asm.check_time():
                            break
                else:
                    asm.feed_body(json.loads(await response.read()))
        except ValueError as exc:
            asm.fail(ProtocolError(f"the server's response is not JSON: {exc}"))
        except Exception as exc:
            mapped = _map_error(exc)
            if mapped is None:
                raise
            asm.fail(mapped)
        for event in asm.flush():
            yield event
        box.append(asm.result())
