"""`Client`: the sync shell over the pure flow (`AsyncClient` is its twin).

Both build `Settings` the same way (`_Base`), then drive `terse._flow.ask_flow`: each
`Call` it yields becomes one HTTP request made with the user's own ``openai`` client
(its base URL, key, headers and timeouts), read as raw SSE lines through
``with_streaming_response`` rather than openai's per-chunk objects. The two classes
mirror each other method for method; neither wraps the other.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, overload

import openai

from ._assemble import Outcome
from ._base import UNSET, T, _aux_outcome, _Base, _map_error, _stale_connection
from ._budget import Budget
from ._exceptions import ProtocolError, UsageError
from ._flow import Call, Settings, Sleep
from ._results import (
    Answer,
    AnswerDelta,
    Attempt,
    Final,
    ReasoningDelta,
    ServerInfo,
    StreamEvent,
)
from ._streams import AnswerStream, _final_answer

__all__ = ["Client"]


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
        ``stop``/``wait``/``retry`` take tenacity strategies. ``repair_budget`` is the
        thinking budget of a re-ask after an invalid answer: ``"same"`` (default), a
        smaller budget, or ``"off"`` (thinking switched off for the repair turn). Extra
        keyword arguments are sent as request fields.
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
        for retry_stale in (True, False):  # a stale keep-alive is resent once, as in _perform
            try:
                text = getattr(self._openai, method)(**kwargs)
            except Exception as exc:
                if retry_stale and _stale_connection(exc):
                    continue
                mapped = _map_error(exc)
                if mapped is None:
                    raise
                return _aux_outcome(None, mapped)
            return _aux_outcome(text, None)
        raise AssertionError("unreachable")  # pragma: no cover

    def _perform(
        self, call: Call, settings: Settings, box: list[Outcome]
    ) -> Iterator[ReasoningDelta | AnswerDelta]:
        asm = self._assembler(call, settings)
        resource, kwargs = self._create_args(call)
        for retry_stale in (True, False):
            opened = False
            try:
                with resource.create(**kwargs) as response:
                    opened = True
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
                if retry_stale and not opened and _stale_connection(exc):
                    continue
                mapped = _map_error(exc)
                if mapped is None:
                    raise
                asm.fail(mapped)
            break
        yield from asm.flush()
        box.append(asm.result())
