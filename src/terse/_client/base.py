"""What `Client` and `AsyncClient` share: configuration, settings, error mapping. No loops."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar, cast

import openai
from tenacity import stop_after_attempt

from .._core.budget import Budget, as_budget
from .._core.flow import Call, Memo, Settings, ask_flow, probe_flow
from .._core.options import (
    check_mapping,
    check_response_model,
    check_seconds,
    check_timeout,
    check_tokens,
    request_fields,
)
from .._core.retry import DEFAULT_RETRY, RetryPolicy, parse_retry_after, wait_retry_after
from .._exceptions import ConnectionFailed, ResponseTooLarge, TerseError, UsageError
from .._results import (
    Attempt,
    ServerInfo,
    Usage,
)
from .._secrets import client_secrets
from .._server.dialects import GENERIC, detect_from_url, dialect_named, family_for
from .._wire.assemble import Assembler, Outcome, server_error
from .._wire.sse import DEFAULT_LIMITS, Limits, parse_json
from .._wire.tokens import count_tokens
from .clock import IDLE_TIMEOUT, install_hook

__all__ = ["UNSET", "T"]

T = TypeVar("T")

_TRANSPORT_MODULES = frozenset({"httpx", "httpx2", "httpcore", "httpcore2", "h11", "h2", "anyio"})


class _Unset:
    """Marks an argument left out, as distinct from an explicit ``None``."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def _map_error(exc: BaseException, secrets: Sequence[str] = ()) -> TerseError | None:
    """The terse error for an exception raised by openai or its HTTP library, or None.

    ``secrets`` are scrubbed from whatever server text the error carries.
    """
    if isinstance(exc, TerseError):
        return exc  # raised by terse's own reading (a size limit) inside openai's code
    if isinstance(exc, openai.APIStatusError):
        response = exc.response
        try:
            body = response.text
        except Exception:
            body = ""
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return server_error(exc.status_code, body or str(exc.message), retry_after, secrets)
    if isinstance(exc, openai.APITimeoutError):
        return ConnectionFailed("the request timed out")
    if isinstance(exc, openai.APIConnectionError):
        return ConnectionFailed(f"could not reach the server: {exc.__cause__ or exc}")
    root = type(exc).__module__.split(".")[0]
    if root in _TRANSPORT_MODULES or isinstance(exc, (OSError, EOFError)):
        return ConnectionFailed(f"the connection failed mid-response: {type(exc).__name__}: {exc}")
    return None


def _stale_connection(exc: BaseException) -> bool:
    """A pooled keep-alive connection the server had already closed (nothing was received).

    llama-server closes the connection after a streamed response while advertising
    keep-alive; the next request on it fails before any byte arrives. That one is sent
    again at once on a fresh connection, without counting as an attempt.
    """
    return isinstance(exc, openai.APIConnectionError) and not isinstance(
        exc, openai.APITimeoutError
    )


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
        install_hook(self._openai, self._limits)
        self._beta: Any = None
        self._model = model
        self._thinking_open = thinking_open
        self._budget = as_budget(thinking_budget)
        if max_retries is not UNSET and (
            isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0
        ):
            raise UsageError(f"max_retries must be an int >= 0, not {max_retries!r}")
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise UsageError(f"retry_policy must be a terse.RetryPolicy, not {retry_policy!r}")
        if max_retries is not UNSET and retry_policy is not None and retry_policy.stop:
            raise UsageError("give max_retries= or RetryPolicy(stop=...), not both")
        self._max_retries = 2 if max_retries is UNSET else max_retries
        self._policy = retry_policy or RetryPolicy()
        self._deadline = check_seconds(deadline, "deadline")
        # The openai client's own timeout holds unless terse's timeout= was given (then
        # it was applied to the client with with_options): read it back from the client.
        self._timeout = self._openai.timeout
        self._max_total_tokens = check_tokens(max_total_tokens, "max_total_tokens")
        if on_attempt is not None and not callable(on_attempt):
            raise UsageError(f"on_attempt must be callable, not {on_attempt!r}")
        self._on_attempt = on_attempt
        self._schema_hint = bool(schema_hint)
        self._request = request_fields(request, extra_body, extra_names=_CLIENT_PARAMS)
        self._memo = Memo()
        self._secrets = client_secrets(self._openai)
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
        retry_policy: Any,
        deadline: Any,
        max_total_tokens: Any,
        repair_budget: Any,
        salvage: bool,
        partial: bool,
        stream: bool,
        request: Mapping[str, Any],
    ) -> Settings:
        """Resolve one call's settings, checking every argument before any request."""
        request = dict(request)
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
        if max_retries is not UNSET and (
            isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0
        ):
            raise UsageError(f"max_retries must be an int >= 0, not {max_retries!r}")
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise UsageError(f"retry_policy must be a terse.RetryPolicy, not {retry_policy!r}")
        policy = retry_policy or RetryPolicy()
        if max_retries is not UNSET and policy.stop is not None:
            raise UsageError("give max_retries= or RetryPolicy(stop=...), not both")
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
            request={**self._request, **fields},
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
        )

    def _create_args(self, call: Call) -> tuple[Any, dict[str, Any]]:
        """The openai resource and keyword arguments for a generation request."""
        body = dict(call.body or {})
        kwargs: dict[str, Any] = {"model": body.pop("model"), "timeout": call.timeout}
        if call.headers:
            kwargs["extra_headers"] = dict(call.headers)
        if call.query:
            kwargs["extra_query"] = dict(call.query)
        body.pop("stream", None)
        kwargs["stream"] = call.stream
        if call.stream:
            body.setdefault("stream_options", {"include_usage": True})
        else:
            body.pop("stream_options", None)
        if call.endpoint == "completions":
            kwargs["prompt"] = body.pop("prompt")
            resource = self._openai.completions
        else:
            kwargs["messages"] = body.pop("messages")
            client = self._openai
            if call.endpoint == "beta-chat":
                if self._beta is None:
                    beta = client.with_options(base_url=self.root_url + "/beta")
                    self._beta = install_hook(beta, self._limits)
                client = self._beta
            resource = client.chat.completions
        kwargs["extra_body"] = body
        return resource.with_streaming_response, kwargs

    def _aux_args(self, call: Call) -> tuple[str, dict[str, Any]]:
        """Method name and arguments for a request to a native endpoint at the server root."""
        options: dict[str, Any] = {"timeout": call.timeout}
        if call.headers:
            options["headers"] = dict(call.headers)
        if call.query:
            options["params"] = dict(call.query)
        if call.endpoint == "get":
            return "get", {"path": self.root_url + call.path, "cast_to": str, "options": options}
        if call.endpoint == "probe-chat":  # a raw chat whose JSON body the probe reads
            return "post", {
                "path": self.base_url + "/chat/completions",
                "cast_to": str,
                "body": dict(call.body or {}),
                "options": options,
            }
        return "post", {
            "path": self.root_url + "/apply-template",
            "cast_to": str,
            "body": dict(call.body or {}),
            "options": options,
        }


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


def _aux_outcome(text: str | None, error: TerseError | None) -> Outcome:
    body: Any = None
    if error is None and text is not None:
        try:
            body = parse_json(text)
        except TerseError as exc:
            error = exc
    return Outcome("", "", True, None, Usage(), 0, error=error, body=body)


def _too_large(body: list[bytes], cap: int) -> ResponseTooLarge:
    first, n = [], 0
    for piece in body:  # the start of the body only: joining all of it would double it
        first.append(piece)
        n += len(piece)
        if n >= 2000:
            break
    body.clear()
    head = b"".join(first)[:2000].decode("utf-8", "replace")
    return ResponseTooLarge(
        f"the server's response body is larger than {cap} bytes (Limits.body)",
        limit="body",
        max=cap,
        text=head,
    )
