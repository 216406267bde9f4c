"""The fake server's request handling: routing, scripted generation, info endpoints.

Runs on the server's event loop. `App.handle` records every request, finds its handler
in the dialect's endpoint table, and — for generation endpoints — asks `State` for a
script and plays it: tokens paced at the script's rate, the client's disconnect noticed
before each token, faults (drop, malformed line) injected after the scripted number of
chunks.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

from .._http.server import Connection, Request
from ._engine import stream, whole
from ._plan import (
    Budget,
    Kind,
    Rejected,
    fired_calls,
    is_continuation,
    native_budget,
    plan,
    prefill_prefix,
    prompt_text,
    token_limit,
)
from ._render import Meta, renderer_for
from ._scripts import (
    Drop,
    Fail,
    Hang,
    Malformed,
    Reply,
    Runaway,
    Script,
    SlowStart,
    tokenize,
)
from ._state import Recorded, State
from ._template import CHAT_TEMPLATE, apply_template
from ._toolreq import check_tools
from ._wire import Dialect, error_body, not_found_body

__all__ = ["App"]

_RAW_WRAP = ("", "\n</think>\n\n")
_JSON = "application/json"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _parse(raw: bytes) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to decode
        return None
    return body if isinstance(body, dict) else None


class App:
    """Handles the requests of one `FakeServer`."""

    def __init__(
        self,
        dialect: Dialect,
        state: State,
        *,
        tokens_per_second: float | None,
        context_length: int,
        vllm_reasoning_config: bool,
        sglang_strict: bool,
    ) -> None:
        self.dialect = dialect
        self.state = state
        self.tokens_per_second = tokens_per_second
        self.context_length = context_length
        self.vllm_reasoning_config = vllm_reasoning_config
        self.sglang_strict = sglang_strict
        self._ids = itertools.count(1)
        self._started = int(time.time())
        self._handlers: Mapping[str, Callable[[Connection, Request, Recorded], Awaitable[None]]] = {
            "chat": lambda c, q, r: self._generate(c, r, "chat"),
            "completions": lambda c, q, r: self._generate(c, r, "completions"),
            "native": lambda c, q, r: self._generate(c, r, "native"),
            "models": self._models,
            "props": self._props,
            "health": self._health,
            "version": self._version,
            "server_info": self._server_info,
            "apply_template": self._apply_template,
        }

    async def handle(self, conn: Connection, req: Request) -> None:
        """Record ``req`` and answer it."""
        if self.dialect.stale_keep_alive and conn.served:
            conn.hang_up()  # nothing is sent and nothing recorded: the client saw a dead socket
            return
        rec = Recorded(req.method, req.path, req.query, req.headers, _parse(req.body), req.body)
        self.state.record(rec)
        if req.error is not None:  # malformed HTTP: a 400 naming the fault, then hang up
            rec.status = 400
            conn.respond(400, req.error.encode(), "text/plain", keep_alive=False)
            return
        name = self.dialect.endpoints.get((req.method, req.path))
        if name is None:
            body, content_type = not_found_body(self.dialect, req.method, req.path)
            payload = body.encode() if isinstance(body, str) else _dumps(body).encode()
            self._send(conn, rec, 404, payload, content_type)
            return
        try:
            await self._handlers[name](conn, req, rec)
        except Exception as e:  # a bug in the fake: answer 500 and keep it for the test to see
            self.state.errors.append(e)
            if rec.status is None:
                self._error(conn, rec, 500, f"fake server error: {e!r}")
            else:
                conn.hang_up()

    # --- plain responses ---------------------------------------------------------------------

    @staticmethod
    def _send(
        conn: Connection,
        rec: Recorded,
        status: int,
        payload: bytes,
        content_type: str,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        rec.status = status
        conn.respond(status, payload, content_type, extra=extra)

    def _json(self, conn: Connection, rec: Recorded, obj: object, status: int = 200) -> None:
        self._send(conn, rec, status, _dumps(obj).encode(), _JSON)

    def _error(
        self,
        conn: Connection,
        rec: Recorded,
        status: int,
        message: str,
        retry_after: float | None = None,
    ) -> None:
        extra = [] if retry_after is None else [("retry-after", f"{retry_after:g}")]
        self._send(
            conn,
            rec,
            status,
            _dumps(error_body(self.dialect, status, message)).encode(),
            _JSON,
            extra,
        )

    async def _models(self, conn: Connection, req: Request, rec: Recorded) -> None:
        d = self.dialect
        entry = {"id": d.model, "object": "model", "created": self._started, "owned_by": d.owned_by}
        self._json(conn, rec, {"object": "list", "data": [entry]})

    async def _props(self, conn: Connection, req: Request, rec: Recorded) -> None:
        props = {
            "default_generation_settings": {
                "n_ctx": self.context_length,
                "params": {"n_predict": -1},
            },
            "total_slots": 1,
            "model_alias": self.dialect.model,
            "model_path": f"/models/{self.dialect.model}",
            "modalities": {"vision": False, "audio": False},
            "chat_template": CHAT_TEMPLATE,
            "chat_template_caps": {"supports_system_role": True, "supports_tools": False},
            "bos_token": "<|im_start|>",
            "eos_token": "<|im_end|>",
            "build_info": self.dialect.version,
            "is_sleeping": False,
        }
        self._json(conn, rec, props)

    async def _health(self, conn: Connection, req: Request, rec: Recorded) -> None:
        self._json(conn, rec, {"status": "ok"})

    async def _version(self, conn: Connection, req: Request, rec: Recorded) -> None:
        self._json(conn, rec, {"version": self.dialect.version})

    async def _server_info(self, conn: Connection, req: Request, rec: Recorded) -> None:
        info = {
            "model_path": self.dialect.model,
            "tokenizer_path": self.dialect.model,
            "reasoning_parser": "qwen3",
            "enable_strict_thinking": self.sglang_strict,
            "context_length": self.context_length,
            "version": self.dialect.version,
        }
        self._json(conn, rec, info)

    async def _apply_template(self, conn: Connection, req: Request, rec: Recorded) -> None:
        body = rec.body or {}
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            self._error(conn, rec, 400, "'messages' is required and must be a list of objects")
            return
        kwargs = body.get("chat_template_kwargs")
        thinking = not (isinstance(kwargs, dict) and kwargs.get("enable_thinking") is False)
        prompt = apply_template(
            messages,
            add_generation_prompt=body.get("add_generation_prompt", True) is not False,
            enable_thinking=thinking,
        )
        self._json(conn, rec, {"prompt": prompt})

    # --- generation ------------------------------------------------------------------------

    def _check(self, kind: Kind, body: dict[str, Any] | None) -> tuple[int, Budget | None]:
        if body is None:
            raise Rejected("the request body must be a JSON object")
        if kind == "chat" and not isinstance(body.get("messages"), list):
            raise Rejected("'messages' is required and must be a list")
        if kind == "chat":
            check_tools(self.dialect, body)
        if kind != "chat" and not isinstance(body.get("prompt"), (str, list)):
            raise Rejected("'prompt' is required")
        limit = token_limit(kind, body, self.context_length)
        budget = native_budget(
            self.dialect,
            body,
            vllm_config=self.vllm_reasoning_config,
            sglang_strict=self.sglang_strict,
        )
        return limit, budget

    async def _generate(self, conn: Connection, rec: Recorded, kind: Kind) -> None:
        try:
            limit, budget = self._check(kind, rec.body)
        except Rejected as e:
            self._error(conn, rec, 400, e.message)
            return
        body = rec.body or {}
        prompt = prompt_text(kind, body)
        script, answer_only = self.state.choose(prompt, body, is_continuation(kind, body))
        rec.script = script
        rec.continuation = answer_only
        if isinstance(script, Hang):
            await conn.wait_closed()
            rec.disconnected = True
            return
        self.state.begin(rec)
        try:
            await self._play(conn, rec, kind, body, script, answer_only, prompt, limit, budget)
        finally:
            self.state.end(rec)

    def _meta(self, kind: Kind, body: Mapping[str, Any], prompt: str, limit: int) -> Meta:
        d = self.dialect
        model = body.get("model")
        options = body.get("stream_options")
        prefix = "chatcmpl" if kind == "chat" else "cmpl"
        return Meta(
            id=f"{prefix}-fake{next(self._ids):08d}",
            created=int(time.time()),
            model=model if d.echo_model and isinstance(model, str) and model else d.model,
            prompt=prompt,
            prompt_tokens=len(tokenize(prompt)),
            include_usage=isinstance(options, dict) and options.get("include_usage") is True,
            limit=limit if limit < self.context_length else None,
        )

    async def _play(
        self,
        conn: Connection,
        rec: Recorded,
        kind: Kind,
        body: Mapping[str, Any],
        script: Script,
        answer_only: bool,
        prompt: str,
        limit: int,
        budget: Budget | None,
    ) -> None:
        fault: Drop | Malformed | None = None
        while True:
            if isinstance(script, SlowStart):
                await conn.sleep(script.seconds)
                if conn.closed:
                    rec.disconnected = True
                    return
                script = script.then
            elif isinstance(script, (Drop, Malformed)):
                fault, script = script, script.then
            elif isinstance(script, Fail):
                self._error(
                    conn,
                    rec,
                    script.status,
                    script.message or _phrase(script.status),
                    script.retry_after,
                )
                return
            else:
                break
        assert isinstance(script, (Reply, Runaway))
        d = self.dialect
        wrap = d.inline if kind == "chat" else (d.inline or _RAW_WRAP)
        native = kind == "chat" and d.inline is None  # the server parses calls out of the text
        gen = plan(
            script,
            answer_only=answer_only,
            limit=limit,
            budget=budget,
            wrap=wrap,
            native_calls=native,
            family=d.tool_format,
            fires_drafts=d.fires_drafts and not answer_only,  # no reasoning, no drafts
        )
        prefix = prefill_prefix(body) if kind == "chat" and d.prefill_echo else ""
        calls = fired_calls(script, d.fires_drafts and not answer_only) if native else ()
        renderer = renderer_for(kind, d, self._meta(kind, body, prompt, limit), prefix, calls)
        rate = script.tokens_per_second or self.tokens_per_second
        forced = script.finish_reason if isinstance(script, Reply) else None
        chunk = script.chunk if isinstance(script, Reply) and isinstance(script.chunk, int) else 1
        if body.get("stream") is True:
            await stream(
                conn, rec, gen, renderer, self.dialect.stream_preamble, rate, chunk, fault, forced
            )
        else:
            await whole(conn, rec, gen, renderer, rate, fault, forced)


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase
