"""The default transports: the user's own openai client, read as raw bytes, on one clock.

Each generation `Call` becomes one request made with the openai client terse wraps (its
base URL, key, headers and timeouts), read as raw bytes through
``with_streaming_response`` rather than openai's per-chunk objects, and handed to the
`Reader`. The wait for every byte is bounded by the call's deadline, the idle timeout and
the thinking budget's seconds (`terse._client.clock`: a worker-thread `Pump` for sync, a
`Watch` timer for async). Errors of openai or its HTTP library become terse errors with the
client's secrets scrubbed from any server text; a pooled keep-alive connection the server
had already closed is sent again once on a fresh one, without counting as an attempt.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Iterator,
    Sequence,
)
from typing import Any

import openai

from .._core.flow import Call, aux_until
from .._core.ops import request_body, server_root
from .._core.retry import parse_retry_after
from .._exceptions import ConnectionFailed, TerseError
from .._secrets import client_secrets
from .._wire.assemble import Outcome, server_error
from .._wire.sse import Limits
from .clock import END, Expired, Head, Pump, expiry_error, install_hook, wake_time
from .transport import Delta, Reader, aux_outcome
from .watched import fetch_watched, read_watched

__all__ = ["AsyncOpenAITransport", "OpenAITransport"]

_TRANSPORT_MODULES = frozenset({"httpx", "httpx2", "httpcore", "httpcore2", "h11", "h2", "anyio"})


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


class _OpenAIRequests:
    """What the sync and async openai transports share: the arguments of each request."""

    def __init__(self, client: Any, *, limits: Limits, idle_timeout: float | None) -> None:
        self._openai = install_hook(client, limits)
        self._limits = limits
        self._idle_timeout = idle_timeout
        self._secrets = client_secrets(client)
        self._beta: Any = None

    @property
    def base_url(self) -> str:
        return str(self._openai.base_url).rstrip("/")

    @property
    def root_url(self) -> str:
        return server_root(self.base_url)

    def _create_args(self, call: Call) -> tuple[Any, dict[str, Any]]:
        """The openai resource and keyword arguments for a generation request."""
        body = request_body(call)
        kwargs: dict[str, Any] = {"model": body.pop("model"), "timeout": call.timeout}
        if call.headers:
            kwargs["extra_headers"] = dict(call.headers)
        if call.query:
            kwargs["extra_query"] = dict(call.query)
        kwargs["stream"] = body.pop("stream")
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


class OpenAITransport(_OpenAIRequests):
    """The default `Transport`: requests through an ``openai.OpenAI`` client.

    The blocking request runs in a pooled worker thread (`Pump`) that hands over the
    headers, then raw byte chunks; this side waits on them against the call's deadline,
    the idle timeout (``idle_timeout``: no byte for that long once the headers came, or
    at all while streaming) and the budget's seconds, and abandons the response at the
    first of them.
    """

    def fetch(self, call: Call) -> Outcome:
        method, kwargs = self._aux_args(call)
        send = getattr(self._openai, method)
        until = aux_until(call, time.monotonic())
        for retry_stale in (True, False):  # a stale keep-alive is resent once, as in send
            pump = Pump()
            pump.start(lambda p: p.put(_Result(send(**kwargs))))
            try:
                while True:
                    items = pump.take(until)
                    if not items:
                        if until is not None and time.monotonic() < until:
                            continue
                        return aux_outcome(None, expiry_error("deadline", None))
                    error = next((x for x in items if isinstance(x, BaseException)), None)
                    result = next((x for x in items if isinstance(x, _Result)), None)
                    if result is not None:
                        return aux_outcome(result.value, None)
                    if error is None:
                        continue
                    if retry_stale and _stale_connection(error):
                        break
                    mapped = _map_error(error, self._secrets)
                    if mapped is None:
                        raise error
                    return aux_outcome(None, mapped)
            finally:
                pump.abandon()
        raise AssertionError("unreachable")  # pragma: no cover

    def send(self, call: Call, reader: Reader) -> Iterator[Delta]:
        resource, kwargs = self._create_args(call)
        idle = self._idle_timeout
        for retry_stale in (True, False):
            pump = Pump()
            pump.start(lambda p: _request(resource, kwargs, p))
            opened = False
            ended = False
            stopped = False
            last = time.monotonic()
            feed = reader.feed
            try:
                while not ended:
                    idle_at = None if idle is None or not (opened or call.stream) else last + idle
                    until, why = wake_time(call.deadline_at, idle_at, reader.wake_at())
                    items = pump.take(until)
                    if not items:
                        assert until is not None
                        if time.monotonic() < until:
                            continue
                        if why != "budget":
                            raise Expired(why)
                        if reader.time_up():
                            break
                        continue
                    last = time.monotonic()
                    for item in items:
                        if type(item) is bytes:
                            events = feed(item)
                            if events:
                                yield from events
                            if reader.stop:
                                stopped = True
                                break
                        elif isinstance(item, Head):
                            opened = True
                            reader.head(item.response.headers.get("content-type", ""))
                            feed = reader.feed
                        elif item is END:
                            ended = True
                        else:
                            raise item
                    if stopped:
                        break
                if ended and not stopped:
                    yield from reader.end()
            except Expired as exp:
                reader.fail(expiry_error(exp.reason, idle))
            except Exception as exc:
                if retry_stale and not opened and _stale_connection(exc):
                    continue
                mapped = _map_error(exc, self._secrets)
                if mapped is None:
                    raise
                reader.fail(mapped)
            finally:
                pump.abandon()
            break


class _Result:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _request(resource: Any, kwargs: dict[str, Any], pump: Pump) -> None:
    """In a worker thread: make the request and hand over its headers, then its raw bytes."""
    with resource.create(**kwargs) as response:
        pump.put(Head(response.http_response))
        for chunk in response.iter_bytes():
            if pump.abandoned:
                return
            pump.put(chunk)
        pump.read_all = True


class AsyncOpenAITransport(_OpenAIRequests):
    """The default `AsyncTransport`: requests through an ``openai.AsyncOpenAI`` client.

    One `Watch` timer per request cancels the task while it awaits the server past the
    call's deadline, the idle timeout or the budget's seconds; it never fires while an
    event is out with the caller.
    """

    async def fetch(self, call: Call) -> Outcome:
        method, kwargs = self._aux_args(call)
        request = getattr(self._openai, method)
        return await fetch_watched(
            call,
            lambda: request(**kwargs),
            map_error=lambda exc: _map_error(exc, self._secrets),
            stale=_stale_connection,
        )

    def send(self, call: Call, reader: Reader) -> AsyncGenerator[Delta, None]:
        resource, kwargs = self._create_args(call)

        @contextlib.asynccontextmanager
        async def opened() -> AsyncIterator[tuple[str, AsyncIterator[bytes]]]:
            async with resource.create(**kwargs) as response:
                content_type = response.http_response.headers.get("content-type", "")
                yield content_type, response.iter_bytes()

        return read_watched(
            call,
            reader,
            opened,
            idle=self._idle_timeout,
            map_error=lambda exc: _map_error(exc, self._secrets),
            stale=_stale_connection,
        )
