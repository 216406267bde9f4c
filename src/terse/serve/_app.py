"""The proxy's ASGI application: routes over one `terse.AsyncClient` per upstream.

``POST /v1/chat/completions`` runs terse's own flow (`AsyncClient.ask` / `.stream`, over
the transport seam), so the proxy and `Client.ask` cannot drift;
``GET /v1/models`` is the upstream's list; ``GET /health`` says the proxy is up.

The proxy makes its own upstream connection (`_upstream.AiohttpTransport`) unless given an
openai client. Streamed replies and the handling of clients that leave are in `_stream`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import openai
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._client.aio import AsyncClient
from .._core.budget import Budget
from .._exceptions import ConnectionFailed, TerseError
from .._http.openai import ChunkStream, error_body
from .._server.dialects import family_for, reasoning_echo
from ._render import Reasoning, error_for, render
from ._request import UNSET, BadRequest, parse, without_reasoning
from ._stream import EventStream, Gone, event_stream, unless_gone

__all__ = ["ServeConfig", "app"]

log = logging.getLogger("terse.serve")

MAX_BODY = 8 * 1024 * 1024
"""Default cap on a request body (bytes): 8 MiB, ample for long histories and tool specs."""

BODY_TIMEOUT = 30.0
"""Default seconds for a request body to arrive: a client that stalls mid-body holds a
connection and a task no longer than this."""


@dataclass(frozen=True)
class ServeConfig:
    """What the proxy serves and how (the ``terse serve`` flags, as data).

    Attributes:
        upstream: The upstream's OpenAI-compatible base URL (ending in ``/v1``).
        upstream_key: The upstream's API key (never shown, never logged).
        proxy_key: When set, every ``/v1`` request needs ``Authorization: Bearer KEY``.
        model: The model for requests that name none.
        thinking_budget: The default budget (a request's ``thinking_budget`` overrides it).
        reasoning: ``"field"`` (``reasoning_content``) or ``"drop"``.
        max_retries: terse's retries per call.
        deadline: Seconds for one whole call (None: none).
        max_body: Largest request body accepted, in bytes.
        body_timeout: Seconds a request body may take to arrive (a stalled client gets a 408).
    """

    upstream: str
    upstream_key: str | None = field(default=None, repr=False)
    proxy_key: str | None = field(default=None, repr=False)
    model: str | None = None
    thinking_budget: int | Budget | None = None
    reasoning: Reasoning = "field"
    max_retries: int = 2
    deadline: float | None = None
    max_body: int = MAX_BODY
    body_timeout: float = BODY_TIMEOUT


def _error(status: int, body: Mapping[str, Any]) -> JSONResponse:
    return JSONResponse(dict(body), status_code=status)


class _Proxy:
    def __init__(self, config: ServeConfig, openai_client: openai.AsyncOpenAI | None) -> None:
        self.config = config
        self._given = openai_client
        self._openai: openai.AsyncOpenAI | None = openai_client
        self._client: AsyncClient | None = None
        self._upstream: Any = None  # the aiohttp transport, when the proxy made it
        self.secrets = tuple(s for s in (config.upstream_key, config.proxy_key) if s)
        self._probed = False
        self._probing: asyncio.Lock | None = None

    async def ready(self) -> AsyncClient:
        """The client, once it has probed the upstream (once per proxy, before the first call).

        The probe tells terse whether the upstream's template opens a think block; without
        it, answer text that might be untagged reasoning is held until the response ends,
        and a stream would come all at once. An unreachable upstream is probed again on
        the next call; any other probe failure leaves terse learning from the responses.
        """
        _, client = self.client()
        if self._probed:
            return client
        if self._probing is None:
            self._probing = asyncio.Lock()
        async with self._probing:
            if not self._probed:
                try:
                    await client.probe()
                    self._probed = True
                except ConnectionFailed:
                    pass
                except TerseError:
                    self._probed = True
        return client

    def client(self) -> tuple[openai.AsyncOpenAI, AsyncClient]:
        """The upstream's clients, made on first use inside the serving event loop."""
        if self._client is None or self._openai is None:
            if self._openai is None:
                self._openai = openai.AsyncOpenAI(
                    base_url=self.config.upstream,
                    api_key=self.config.upstream_key or "no-key",
                    max_retries=0,
                )
            client = AsyncClient(
                self._openai,
                model=self.config.model,
                thinking_budget=self.config.thinking_budget,
                max_retries=self.config.max_retries,
                deadline=self.config.deadline,
            )
            if self._given is None and self._upstream is None:
                self._upstream = _lean_transport(client, self.config)
            if self._upstream is not None:
                client._transport = self._upstream
            self._client = client
        return self._openai, self._client

    async def close(self) -> None:
        if self._openai is not None and self._given is None:
            await self._openai.close()
        if self._upstream is not None:
            await self._upstream.aclose()
        self._openai = self._client = self._upstream = None

    @staticmethod
    def echoes_reasoning(client: AsyncClient, model: str) -> bool:
        """Whether the upstream's tool-loop rule wants reasoning back on tool-call messages.

        Unknown until the first call has probed the server: then kept (a server that
        demands it refuses the call without it; others ignore the field).
        """
        dialect = client._memo.dialect
        if dialect is None:
            return True
        return reasoning_echo(dialect, family_for(model)) is not None

    # -- checks ---------------------------------------------------------------------------

    def unauthorised(self, request: Request) -> Response | None:
        key = self.config.proxy_key
        if not key:
            return None
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), key.encode()
        )
        if ok:
            return None
        return _error(
            401,
            error_body(
                401,
                "this proxy needs its key: send Authorization: Bearer <proxy key>",
                code="invalid_api_key",
            ),
        )

    async def read_body(self, request: Request) -> bytes:
        cap = self.config.max_body
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise BadRequest(f"the request body is larger than {cap} bytes", status=413)
        parts: list[bytes] = []
        size = 0
        seconds = self.config.body_timeout
        try:
            with anyio.fail_after(seconds):
                async for piece in request.stream():
                    size += len(piece)
                    if size > cap:
                        msg = f"the request body is larger than {cap} bytes"
                        raise BadRequest(msg, status=413)
                    parts.append(piece)
        except TimeoutError:
            msg = f"the request body did not arrive within {seconds:g} seconds"
            raise BadRequest(msg, status=408) from None
        return b"".join(parts)

    def failure(self, exc: BaseException) -> JSONResponse:
        status, body = error_for(exc, self.secrets)
        if status >= 500:
            log.warning("request failed: %s: %s", status, body["error"]["message"])
        return _error(status, body)

    # -- routes ---------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def models(self, request: Request) -> Response:
        if (denied := self.unauthorised(request)) is not None:
            return denied
        oai, _ = self.client()
        try:
            raw = await oai.models.with_raw_response.list()
            return Response(raw.content, media_type="application/json")
        except openai.APIStatusError as exc:
            status = exc.status_code
            return _error(status, error_body(status, _scrub(exc.message, self.secrets)))
        except openai.APITimeoutError:
            return _error(
                504, error_body(504, "the upstream did not answer in time", code="upstream_timeout")
            )
        except openai.APIConnectionError:
            msg = f"the upstream cannot be reached at {self.config.upstream}"
            return _error(502, error_body(502, msg, code="upstream_unreachable"))

    async def chat(self, request: Request) -> Response:
        if (denied := self.unauthorised(request)) is not None:
            return denied
        try:
            req = parse(await self.read_body(request))
        except BadRequest as exc:
            return _error(exc.status, error_body(exc.status, exc.message, param=exc.param))
        options = dict(req.options)
        if req.model is not None:
            options["model"] = req.model
        if req.thinking_budget is not UNSET:
            options["thinking_budget"] = req.thinking_budget
        model = req.model or self.config.model or ""
        if not model:
            msg = "model is required (or start the proxy with a default model: --model)"
            return _error(400, error_body(400, msg, param="model"))
        client = await self.ready()
        messages = without_reasoning(req.messages, self.echoes_reasoning(client, model))
        cid = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if not req.stream:
            try:
                answer = await unless_gone(request, client.ask(messages, **options))
            except Gone:
                return Response(status_code=499)  # nobody is listening any more
            except Exception as exc:
                return self.failure(exc)
            return JSONResponse(
                render(
                    answer, id=cid, created=created, model=model, reasoning=self.config.reasoning
                )
            )
        stream = client.stream(messages, **options)
        events = stream.__aiter__()
        try:
            first = await unless_gone(request, events.__anext__())
        except Gone:
            await stream.aclose()
            return Response(status_code=499)
        except Exception as exc:
            await stream.aclose()
            return self.failure(exc)
        chunks = ChunkStream(cid, created, model)
        body = event_stream(
            chunks,
            first,
            events,
            stream.aclose,
            keep_reasoning=self.config.reasoning == "field",
            include_usage=req.include_usage,
            secrets=self.secrets,
        )
        return EventStream(
            body,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _lean_transport(client: AsyncClient, config: ServeConfig) -> Any:
    """The aiohttp transport for the proxy's own upstream connection, when aiohttp is there.

    It sends what `AsyncOpenAITransport` would, minus openai's per-request machinery (see
    `terse.serve._upstream`); without aiohttp the client keeps the openai transport.
    """
    try:
        from ._upstream import AiohttpTransport
    except ImportError:
        return None
    return AiohttpTransport(
        client.base_url,
        api_key=config.upstream_key,
        limits=client._limits,
        idle_timeout=client._idle_timeout,
    )


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    from .._secrets import scrub

    return scrub(text, secrets)


def app(
    upstream: str,
    *,
    upstream_key: str | None = None,
    proxy_key: str | None = None,
    model: str | None = None,
    thinking_budget: int | Budget | None = None,
    reasoning: Reasoning = "field",
    max_retries: int = 2,
    deadline: float | None = None,
    max_body: int = MAX_BODY,
    body_timeout: float = BODY_TIMEOUT,
    openai_client: openai.AsyncOpenAI | None = None,
) -> Starlette:
    """The proxy as an ASGI application (Starlette), to serve or mount yourself.

    Its lifespan closes the upstream connections; mounted inside another Starlette app,
    run it from the host's lifespan (``async with proxy.router.lifespan_context(proxy)``),
    since Starlette does not run a mounted app's own.

    Args:
        upstream: The upstream's OpenAI-compatible base URL, ending in ``/v1``.
        upstream_key: The upstream's API key (default: none).
        proxy_key: Require ``Authorization: Bearer proxy_key`` on ``/v1`` routes.
        model: The model for requests that name none.
        thinking_budget: The default thinking budget (tokens, or a `terse.Budget`).
        reasoning: ``"field"``: reasoning in ``reasoning_content``; ``"drop"``: left out.
        max_retries: terse's retries per call (openai's own are off).
        deadline: Seconds for a whole call; past it the proxy answers 504.
        max_body: The largest request body accepted (bytes); larger gets a 413.
        body_timeout: Seconds a request body may take to arrive; a client that stalls
            mid-body gets a 408.
        openai_client: An ``openai.AsyncOpenAI`` for the upstream to use instead of
            making one (then ``upstream``/``upstream_key`` are not used to connect, and
            the proxy never closes it).
    """
    if reasoning not in ("field", "drop"):
        raise ValueError(f"reasoning must be 'field' or 'drop', not {reasoning!r}")
    config = ServeConfig(
        upstream=upstream,
        upstream_key=upstream_key,
        proxy_key=proxy_key,
        model=model,
        thinking_budget=thinking_budget,
        reasoning=reasoning,
        max_retries=max_retries,
        deadline=deadline,
        max_body=max_body,
        body_timeout=body_timeout,
    )
    proxy = _Proxy(config, openai_client)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await proxy.close()

    routes = [
        Route("/health", proxy.health, methods=["GET"]),
        Route("/v1/models", proxy.models, methods=["GET"]),
        Route("/v1/chat/completions", proxy.chat, methods=["POST"]),
    ]

    async def not_here(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        what = f"{request.method} {request.url.path} is not served here"
        hint = "; the proxy serves POST /v1/chat/completions, GET /v1/models, GET /health"
        return _error(status, error_body(status, what + hint, code="not_found"))

    return Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={404: not_here, 405: not_here}
    )
