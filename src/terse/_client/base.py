"""What `Client` and `AsyncClient` share: configuration, call settings, assemblers. No loops."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar, cast

from tenacity import stop_after_attempt

from .._core.budget import Budget, as_budget
from .._core.flow import Call, Memo, Settings, ask_flow, probe_flow
from .._core.ops import server_root
from .._core.options import (
    check_mapping,
    check_response_model,
    check_seconds,
    check_timeout,
    check_tokens,
    check_tools,
    request_fields,
)
from .._core.retry import DEFAULT_RETRY, RetryPolicy, check_max_retries, wait_retry_after
from .._exceptions import UsageError
from .._results import (
    Attempt,
    ServerInfo,
)
from .._server.dialects import GENERIC, detect_from_url, dialect_named, family_for
from .._wire.assemble import Assembler
from .._wire.sse import DEFAULT_LIMITS, Limits
from .._wire.tokens import count_tokens
from .clock import IDLE_TIMEOUT

__all__ = ["CALL_DEFAULTS", "UNSET", "T"]

T = TypeVar("T")


class _Unset:
    """Marks an argument left out, as distinct from an explicit ``None``."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


CALL_DEFAULTS: dict[str, Any] = {
    "model": None,
    "thinking_budget": UNSET,
    "max_retries": UNSET,
    "retry_policy": None,
    "deadline": UNSET,
    "max_total_tokens": UNSET,
    "repair_budget": "same",
    "salvage": False,
    "partial": False,
    "tools": UNSET,
}
"""What each of terse's own call options is when left out (UNSET: the client's default)."""


def _retry_args(max_retries: Any, retry_policy: Any) -> RetryPolicy:
    """Check ``max_retries`` (UNSET when left out) and ``retry_policy`` together."""
    if max_retries is not UNSET:
        check_max_retries(max_retries)
    if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
        raise UsageError(f"retry_policy must be a terse.RetryPolicy, not {retry_policy!r}")
    policy = retry_policy or RetryPolicy()
    if max_retries is not UNSET and policy.stop is not None:
        raise UsageError("give max_retries= or RetryPolicy(stop=...), not both")
    return policy


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
    _owns_openai: bool = False

    @staticmethod
    def _client_options(timeout: Any, default_headers: Any, default_query: Any) -> dict[str, Any]:
        """openai client options given to terse's constructor, checked (UNSET left out)."""
        options: dict[str, Any] = {}
        if timeout is not UNSET:
            options["timeout"] = check_timeout(timeout)
        headers = check_mapping("default_headers", default_headers)
        if headers is not None:
            options["default_headers"] = headers
        query = check_mapping("default_query", default_query)
        if query is not None:
            options["default_query"] = query
        return options

    def _configure(
        self,
        *,
        model: str | None,
        dialect: str | None,
        thinking_open: bool | None,
        thinking_budget: int | Budget | None,
        max_retries: int,
        retry_policy: RetryPolicy | None,
        deadline: float | None,
        max_total_tokens: int | None,
        on_attempt: Callable[[Attempt], None] | None,
        schema_hint: bool,
        extra_body: Any,
        request: Mapping[str, Any],
        idle_timeout: float | None = IDLE_TIMEOUT,
        limits: Limits | None = None,
    ) -> None:
        if model is not None and not isinstance(model, str):
            raise UsageError(f"model must be a str, not {model!r}")
        if thinking_open not in (None, True, False):
            raise UsageError(f"thinking_open must be True, False or None, not {thinking_open!r}")
        if idle_timeout is not None and (
            isinstance(idle_timeout, bool)
            or not isinstance(idle_timeout, (int, float))
            or not idle_timeout > 0
        ):
            raise UsageError(f"idle_timeout must be a number > 0 or None, not {idle_timeout!r}")
        if limits is not None and not isinstance(limits, Limits):
            raise UsageError(f"limits must be a terse.Limits, not {limits!r}")
        self._idle_timeout = None if idle_timeout is None else float(idle_timeout)
        self._limits = limits if limits is not None else DEFAULT_LIMITS
        self._model = model
        self._thinking_open = thinking_open
        self._budget = as_budget(thinking_budget)
        self._policy = _retry_args(max_retries, retry_policy)
        self._max_retries = 2 if max_retries is UNSET else max_retries
        self._deadline = check_seconds(deadline, "deadline")
        # The openai client's own timeout holds unless terse's timeout= was given (then
        # it was applied to the client with with_options): read it back from the client.
        self._timeout = self._openai.timeout
        self._max_total_tokens = check_tokens(max_total_tokens, "max_total_tokens")
        if on_attempt is not None and not callable(on_attempt):
            raise UsageError(f"on_attempt must be callable, not {on_attempt!r}")
        self._on_attempt = on_attempt
        self._schema_hint = bool(schema_hint)
        request = dict(request)
        self._tools = check_tools(request.pop("tools", None))
        self._request = request_fields(request, extra_body, extra_names=_CLIENT_PARAMS)
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
        return server_root(self.base_url)

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
        response_model: Any,
        stream: bool,
        options: Mapping[str, Any],
    ) -> Settings:
        """Resolve one call's settings, checking every argument before any request.

        ``options`` are the call's keyword arguments (`CallOptions`): terse's own, with
        `CALL_DEFAULTS` for those left out, and the rest ``create()``'s.
        """
        request = dict(options)
        mine = {name: request.pop(name, default) for name, default in CALL_DEFAULTS.items()}
        model, thinking_budget = mine["model"], mine["thinking_budget"]
        max_retries, retry_policy = mine["max_retries"], mine["retry_policy"]
        deadline, max_total_tokens = mine["deadline"], mine["max_total_tokens"]
        repair_budget, salvage, partial = mine["repair_budget"], mine["salvage"], mine["partial"]
        tools = self._tools if mine["tools"] is UNSET else check_tools(mine["tools"])
        extra_body = request.pop("extra_body", None)
        headers = check_mapping("extra_headers", request.pop("extra_headers", None))
        query = check_mapping("extra_query", request.pop("extra_query", None))
        timeout = self._timeout
        if "timeout" in request:
            timeout = check_timeout(request.pop("timeout"))
        fields = request_fields(request, extra_body, stream=stream)
        model = model or self._model
        if not model:
            raise UsageError("no model: pass model= to ask()/stream() or to the client")
        if not isinstance(model, str):
            raise UsageError(f"model must be a str, not {model!r}")
        check_response_model(response_model)
        budget = self._budget if thinking_budget is UNSET else as_budget(thinking_budget)
        policy = _retry_args(max_retries, retry_policy)
        stop = policy.stop
        if stop is None and max_retries is UNSET:
            stop = self._policy.stop
        if stop is None:
            retries = self._max_retries if max_retries is UNSET else max_retries
            stop = stop_after_attempt(retries + 1)
        if repair_budget not in ("same", "off", None) and not isinstance(repair_budget, Budget):
            if isinstance(repair_budget, str):
                raise UsageError(
                    f"repair_budget must be 'same', 'off', None, an int or a terse.Budget, "
                    f"not {repair_budget!r}"
                )
            repair_budget = as_budget(repair_budget)
        for name, flag in (("salvage", salvage), ("partial", partial)):
            if not isinstance(flag, bool):
                raise UsageError(f"{name} must be True or False, not {flag!r}")
        return Settings(
            model=model,
            messages=_messages(prompt),
            request={**self._request, **({"tools": tools[1]} if tools else {}), **fields},
            stop=stop,
            wait=policy.wait or self._policy.wait or wait_retry_after(),
            retry=policy.retry or self._policy.retry or DEFAULT_RETRY,
            response_model=response_model,
            budget=budget,
            repair_budget=repair_budget,
            deadline=self._deadline if deadline is UNSET else check_seconds(deadline, "deadline"),
            timeout=timeout,
            headers=headers,
            query=query,
            max_total_tokens=self._max_total_tokens
            if max_total_tokens is UNSET
            else check_tokens(max_total_tokens, "max_total_tokens"),
            family=family_for(model),
            thinking_open=self._thinking_open,
            stream=stream,
            salvage=salvage,
            partial=partial,
            schema_hint=self._schema_hint,
            on_attempt=self._on_attempt,
            tools=tools[0] if tools else None,
        )

    def _flow(self, settings: Settings) -> Any:
        def run() -> Any:
            memo = self._memo
            started = time.monotonic()  # one clock per call: probes count toward the deadline
            # A budget needs the server's native knobs and continuation endpoints; a stream
            # needs to know whether the template opens thinking, or it must hold the text.
            wants = settings.budget is not None or settings.stream
            if wants and memo.dialect is None and memo.info is None:
                deadline_at = None if settings.deadline is None else started + settings.deadline
                probe = probe_flow(url_hint=detect_from_url(self.base_url))
                info = yield from _with_options(probe, settings, deadline_at)
                if deadline_at is None or time.monotonic() < deadline_at:
                    self._learn(info)  # a probe cut short by the deadline teaches nothing
            return (yield from ask_flow(settings, memo, started=started))

        return run()

    def _probe_flow(self, generate: bool) -> Any:
        return probe_flow(
            url_hint=detect_from_url(self.base_url), model=self._model, generate=generate
        )

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
            close_only_seen=memo.close_only_seen,
            answer_only=call.answer_only,
            thinking_disabled=call.thinking_disabled,
            limit=call.limit,
            prefill=call.prefill,
            prompt_estimate=_prompt_counter(messages),
            limits=self._limits,
            tools=settings.tools if settings is not None else None,
            seed=str(len(messages)),
        )


_CLIENT_PARAMS = (
    "base_url",
    "api_key",
    "dialect",
    "thinking_open",
    "on_attempt",
    "schema_hint",
    "default_headers",
    "default_query",
)


def _with_options(
    flow: Generator[Any, Any, T], settings: Settings, deadline_at: float | None
) -> Generator[Any, Any, T]:
    """A sub-flow whose requests carry the call's deadline, headers and query."""
    result: Any = None
    while True:
        try:
            op = flow.send(result)
        except StopIteration as stop:
            value: T = stop.value
            return value
        if isinstance(op, Call):
            op = replace(
                op, deadline_at=deadline_at, headers=settings.headers, query=settings.query
            )
        result = yield op
