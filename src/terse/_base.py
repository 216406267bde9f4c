"""What `Client` and `AsyncClient` share: configuration, settings, error mapping. No loops."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import openai
from tenacity import stop_after_attempt

from ._assemble import Assembler, Outcome, server_error
from ._budget import Budget, as_budget
from ._dialects import GENERIC, detect_from_url, dialect_named, family_for
from ._exceptions import ConnectionFailed, ProtocolError, TerseError, UsageError
from ._flow import Call, Memo, Settings, ask_flow, probe_flow
from ._results import (
    Attempt,
    ServerInfo,
    Usage,
)
from ._retry import DEFAULT_RETRY, parse_retry_after, wait_retry_after
from ._tokens import count_tokens

__all__ = ["UNSET", "T"]

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
        if repair_budget not in ("same", "off", None) and not isinstance(repair_budget, Budget):
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
            # A budget needs the server's native knobs and continuation endpoints; a stream
            # needs to know whether the template opens thinking, or it must hold the text.
            wants = settings.budget is not None or settings.stream
            if wants and memo.dialect is None and memo.info is None:
                info = yield from probe_flow(url_hint=detect_from_url(self.base_url))
                self._learn(info)
            return (yield from ask_flow(settings, memo))

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
                client = client.with_options(base_url=self.root_url + "/beta")
            resource = client.chat.completions
        kwargs["extra_body"] = body
        return resource.with_streaming_response, kwargs

    def _aux_args(self, call: Call) -> tuple[str, dict[str, Any]]:
        """Method name and arguments for a request to a native endpoint at the server root."""
        options: dict[str, Any] = {"timeout": call.timeout}
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


def _aux_outcome(text: str | None, error: TerseError | None) -> Outcome:
    body: Any = None
    if error is None and text is not None:
        try:
            body = json.loads(text)
        except ValueError:
            error = ProtocolError("the server's response is not JSON", text)
    return Outcome("", "", True, None, Usage(), 0, error=error, body=body)
