"""The proxy's upstream transport: terse's requests over aiohttp, with no openai machinery.

A proxy pays for every microsecond between its client and the upstream. openai's
``create()`` rebuilds and validates each request's arguments, and its HTTP library parses
responses in Python; together they were most of the proxy's own time per request. This
`AsyncTransport` sends the very body terse's flow built (the same fields the openai
transport sends) as JSON with aiohttp, whose HTTP parser is in C, and reads the response
through the same `Reader` and the same clock (`read_watched`, `fetch_watched`): the
deadline, the idle timeout and the budget's seconds bound every wait, a stale keep-alive
is resent once, and every failure becomes the `TerseError` the openai transport gives.

It is used when the proxy makes its own upstream connection; a proxy given an
``openai_client`` goes through that client (its auth, headers and options) instead. What
the openai client takes from the environment holds here too: TLS is verified against the
trust store openai's HTTP library uses (``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set), and
``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` are honoured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp
import openai

from .. import __version__
from .._client.transport import Delta, Reader, too_large
from .._client.watched import fetch_watched, read_watched
from .._core.flow import Call
from .._core.ops import request_body, server_root, timeout_parts
from .._core.retry import parse_retry_after
from .._exceptions import ConnectionFailed, TerseError
from .._wire.assemble import Outcome, server_error
from .._wire.sse import Limits

__all__ = ["AiohttpTransport"]

_ERROR_TEXT = 64 * 1024
"""Bytes of an error response's body kept for its message (the rest is not read)."""


def _map_error(exc: BaseException, secrets: Sequence[str]) -> TerseError | None:
    """The terse error for what aiohttp (or the socket under it) raised, or None."""
    if isinstance(exc, TerseError):
        return exc  # an error status, or a size limit, raised by this module or the Reader
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return ConnectionFailed("the request timed out")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectionFailed(f"could not reach the server: {exc}")
    if isinstance(exc, (aiohttp.ClientError, OSError, EOFError)):
        return ConnectionFailed(f"the connection failed mid-response: {type(exc).__name__}: {exc}")
    return None


def _stale(exc: BaseException) -> bool:
    """A pooled keep-alive connection the server had already closed (nothing received)."""
    return isinstance(exc, aiohttp.ClientConnectionError) and not isinstance(
        exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)
    )


def _timeout(timeout: Any) -> aiohttp.ClientTimeout:
    """openai's per-request timeout (seconds, an httpx ``Timeout`` or None) for aiohttp.

    A number bounds every part, as openai does; a ``Timeout`` maps part by part (aiohttp
    has no write timeout: the call's deadline still bounds a stalled send).
    """
    if timeout is None:
        return aiohttp.ClientTimeout(total=None)
    if isinstance(timeout, (int, float)):
        t = float(timeout)
        return aiohttp.ClientTimeout(total=None, connect=t, sock_connect=t, sock_read=t)
    parts = timeout_parts(timeout)
    return aiohttp.ClientTimeout(
        total=None, connect=parts["pool"], sock_connect=parts["connect"], sock_read=parts["read"]
    )


def _query(query: Mapping[str, object] | None) -> dict[str, str] | None:
    if not query:
        return None
    out: dict[str, str] = {}
    for key, value in query.items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def tls_context() -> ssl.SSLContext:
    """The TLS context openai's own HTTP library builds by default (same trust store).

    openai 3.x sends through httpx2 (the system's trust store), 2.x through httpx
    (certifi's); both honour ``SSL_CERT_FILE`` and ``SSL_CERT_DIR``.
    """
    if int(openai.__version__.split(".")[0]) >= 3:
        import httpx2

        return httpx2.create_ssl_context()
    import httpx

    return httpx.create_ssl_context()


class AiohttpTransport:
    """An `AsyncTransport` over one ``aiohttp.ClientSession`` (made in the serving loop).

    Args:
        base_url: The upstream's OpenAI-compatible base URL (``…/v1``).
        api_key: Sent as ``Authorization: Bearer``; never shown (scrubbed from errors).
        limits: The response limits (as the client's).
        idle_timeout: Seconds with no byte before a response is given up (as the client's).
        connections: The most connections open to the upstream at once.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        limits: Limits,
        idle_timeout: float | None,
        connections: int = 1000,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.root_url = server_root(self.base_url)
        self._secrets: tuple[str, ...] = (api_key,) if api_key else ()
        self._headers = {"User-Agent": f"terse/{__version__}", "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._limits = limits
        self._idle = idle_timeout
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"AiohttpTransport({self.base_url!r})"  # never the key

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._connections, limit_per_host=0, ssl=tls_context()
            )
            # trust_env: HTTP(S)_PROXY, NO_PROXY and .netrc, as openai's client reads them
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, trust_env=True
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _url(self, call: Call) -> str:
        if call.endpoint == "completions":
            return self.base_url + "/completions"
        if call.endpoint == "beta-chat":
            return self.root_url + "/beta/chat/completions"
        if call.endpoint == "get":
            return self.root_url + call.path
        if call.endpoint == "apply-template":
            return self.root_url + "/apply-template"
        return self.base_url + "/chat/completions"  # chat, probe-chat

    def _request(self, call: Call, body: bytes | None) -> Any:
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        if call.headers:
            headers.update(call.headers)
        return self.session.request(
            "GET" if call.endpoint == "get" else "POST",
            self._url(call),
            data=body,
            headers=headers,
            params=_query(call.query),
            timeout=_timeout(call.timeout),
        )

    async def _refused(self, response: aiohttp.ClientResponse) -> TerseError:
        """The error for a non-2xx response, from the start of its body."""
        pieces, _ = await _read(response, _ERROR_TEXT)
        text = b"".join(pieces)[:_ERROR_TEXT].decode("utf-8", "replace")
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return server_error(response.status, text, retry_after, self._secrets)

    def send(self, call: Call, reader: Reader) -> AsyncIterator[Delta]:
        data = json.dumps(request_body(call), ensure_ascii=False).encode()

        @contextlib.asynccontextmanager
        async def opened() -> AsyncIterator[tuple[str, AsyncIterator[bytes]]]:
            async with self._request(call, data) as response:
                if response.status >= 300:
                    raise await self._refused(response)
                yield response.headers.get("Content-Type", ""), response.content.iter_any()

        return read_watched(
            call,
            reader,
            opened,
            idle=self._idle,
            map_error=lambda exc: _map_error(exc, self._secrets),
            stale=_stale,
        )

    async def fetch(self, call: Call) -> Outcome:
        data = None if call.endpoint == "get" else json.dumps(dict(call.body or {})).encode()

        async def request() -> str:
            async with self._request(call, data) as response:
                if response.status >= 300:
                    raise await self._refused(response)
                pieces, size = await _read(response, self._limits.body)
                if size > self._limits.body:
                    raise too_large(pieces, self._limits.body)
                return b"".join(pieces).decode("utf-8", "replace")

        return await fetch_watched(
            call,
            request,
            map_error=lambda exc: _map_error(exc, self._secrets),
            stale=_stale,
        )


async def _read(response: aiohttp.ClientResponse, cap: int) -> tuple[list[bytes], int]:
    """A response body's pieces as they arrive, stopping once past ``cap`` bytes; their size."""
    pieces: list[bytes] = []
    size = 0
    async for piece in response.content.iter_any():
        pieces.append(piece)
        size += len(piece)
        if size > cap:
            break
    return pieces, size
