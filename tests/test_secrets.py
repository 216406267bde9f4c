"""API keys never leave terse, even when a server echoes them back (issue 13, finding 9).

A raw-socket server on loopback echoes the key it was sent — as OpenAI's own 401 does
("Incorrect API key provided: …") and as a proxy that reflects the request headers does —
and every way an error can be shown is searched for the key: ``str``, ``repr``, the
traceback text, the pickle bytes, ``Attempt.to_dict()``, the ``"terse"`` logger, a batch
job's errors file and the CLI's summary.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import socket
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

import terse
from terse._batch.api import arun_batch, run_batch
from terse._cli.main import main
from terse._secrets import REDACTED, register, scrub

# One key OpenAI-shaped (caught by the pattern too), one that only the registry can catch.
KEYS = ["sk-proj-Zx81kQ7w_T3stKeyNeverShown", "tk_live_9f8e7d6c5b4a3f2e1d0c"]
PATHS = [("sync", False), ("sync", True), ("async", False), ("async", True)]


class EchoServer:
    """A loopback HTTP server whose every reply repeats the request's secrets.

    Modes: ``"401"`` an OpenAI-style 401 naming the key; ``"proxy"`` a 502 whose text body
    lists every request header; ``"400"`` a 400 that echoes the headers as JSON (a row
    error in a batch job); ``"sse"`` a 200 stream whose one event is an error object
    quoting the ``Authorization`` header.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            length = int(headers.get("Content-Length", headers.get("content-length", "0")))
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
            self.requests += 1
            auth = headers.get("Authorization") or headers.get("authorization") or ""
            key = auth.split(" ", 1)[-1]
            conn.sendall(self._reply(auth, key, headers))

    def _reply(self, auth: str, key: str, headers: dict[str, str]) -> bytes:
        if self.mode == "401":
            payload = {
                "error": {
                    "message": f"Incorrect API key provided: {key}. You can find your key at …",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            }
            return _http(401, "application/json", json.dumps(payload).encode())
        if self.mode == "400":
            payload = {"error": {"message": f"bad request; you sent {json.dumps(headers)}"}}
            return _http(400, "application/json", json.dumps(payload).encode())
        if self.mode == "proxy":
            text = "502 Bad Gateway\n" + "".join(f"{k}: {v}\n" for k, v in headers.items())
            return _http(502, "text/plain", text.encode())
        event = {"error": {"message": f"upstream refused {auth}", "code": 500}}
        body = f"data: {json.dumps(event)}\n\n".encode()
        return _http(200, "text/event-stream", body)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def _http(status: int, ctype: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


@pytest.fixture
def echo(request: pytest.FixtureRequest) -> Iterator[EchoServer]:
    srv = EchoServer(request.param)
    yield srv
    srv.close()


def _ask(base_url: str, key: str, mode: str, stream: bool, **kwargs: Any) -> BaseException:
    """Run one call on the given path; return what it raised."""

    async def run_async() -> None:
        async with terse.AsyncClient(
            base_url=base_url, api_key=key, model="m", dialect="vllm", timeout=5, max_retries=1
        ) as client:
            if stream:
                async with client.stream("q", **kwargs) as s:
                    async for _ in s:
                        pass
            else:
                await client.ask("q", **kwargs)

    try:
        if mode == "async":
            asyncio.run(run_async())
        else:
            with terse.Client(
                base_url=base_url, api_key=key, model="m", dialect="vllm", timeout=5, max_retries=1
            ) as client:
                if stream:
                    with client.stream("q", **kwargs) as s:
                        for _ in s:
                            pass
                else:
                    client.ask("q", **kwargs)
    except terse.TerseError as exc:
        return exc
    raise AssertionError("the call did not fail")


def _every_view(exc: BaseException) -> str:
    """Everything a user, a log or another process could see of an error, as one text."""
    views = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    blob = pickle.dumps(exc)
    views.append(blob.decode("latin-1"))
    back = pickle.loads(blob)
    views += [str(back), repr(back), repr(vars(back))]
    for error in (exc, exc.__cause__, exc.__context__):
        if error is not None:
            views.append(repr(vars(error)))
    for attempt in getattr(exc, "attempts", ()):
        views.append(json.dumps(attempt.to_dict()))
        views.append(repr(attempt))
    return "\n".join(views)


def _assert_clean(text: str, key: str) -> None:
    assert key not in text
    assert key[:12] not in text  # not even a recognisable prefix
    assert key.split("_")[-1] not in text  # nor its tail


@pytest.mark.parametrize("echo", ["401", "proxy"], indirect=True)
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize(("mode", "stream"), PATHS)
def test_an_echoed_key_appears_in_no_view_of_the_error(
    echo: EchoServer, key: str, mode: str, stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="terse"):
        exc = _ask(echo.base_url, key, mode, stream)
    server_error = exc if isinstance(exc, terse.ServerError) else exc.__cause__
    assert isinstance(server_error, terse.ServerError)  # the echo really came back
    assert server_error.status == (401 if echo.mode == "401" else 502)
    assert REDACTED in server_error.body  # the key was there, and was replaced
    _assert_clean(_every_view(exc), key)
    _assert_clean(server_error.body + server_error.message, key)
    _assert_clean("\n".join(r.getMessage() for r in caplog.records), key)


@pytest.mark.parametrize("echo", ["sse"], indirect=True)
@pytest.mark.parametrize(("mode", "stream"), [("sync", True), ("async", True)])
def test_an_error_event_quoting_the_key_is_scrubbed(
    echo: EchoServer, mode: str, stream: bool
) -> None:
    key = KEYS[1]
    exc = _ask(echo.base_url, key, mode, stream)
    errors = [a.error for a in exc.attempts if a.error is not None]
    assert errors
    assert all(isinstance(e, terse.ServerError) for e in errors)
    assert all(REDACTED in e.body for e in errors)  # type: ignore[union-attr]
    _assert_clean(_every_view(exc), key)


@pytest.mark.parametrize("echo", ["proxy"], indirect=True)
def test_a_secret_header_of_a_wrapped_client_is_scrubbed(echo: EchoServer) -> None:
    """An Azure-style ``api-key`` header, set on the caller's own openai client."""
    header_key = "azure0c1d2e3f4a5b6c7d8e9f"
    oa = openai.OpenAI(
        base_url=echo.base_url, api_key="placeholder-key-1", default_headers={"api-key": header_key}
    )
    client = terse.Client(oa, model="m", dialect="vllm", timeout=5, max_retries=0)
    with pytest.raises(terse.TerseError) as info:
        client.ask("q")
    _assert_clean(_every_view(info.value), header_key)


def test_a_log_record_carrying_a_key_is_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    register("registeredsecret-777")
    with caplog.at_level(logging.INFO, logger="terse"):
        logging.getLogger("terse").info(
            "sent %s and %s", "registeredsecret-777", "Bearer abcdefgh12"
        )
    assert caplog.records[-1].getMessage() == f"sent {REDACTED} and Bearer {REDACTED}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"Authorization": "Bearer abc.def-ghi"}', f'{{"Authorization": "Bearer {REDACTED}"}}'),
        ("api-key: abcd1234\r\nHost: x", f"api-key: {REDACTED}\r\nHost: x"),
        ("x-api-key=abcd1234&a=1", f"x-api-key={REDACTED}&a=1"),
        ("https://bob:hunter22@proxy/v1", f"https://bob:{REDACTED}@proxy/v1"),
        ("key sk-abcdefgh1234 is wrong", f"key {REDACTED} is wrong"),
        ("Incorrect API key provided: sk-ab***cd.", "Incorrect API key provided: sk-ab***cd."),
        ("the API key was wrong; bearer of bad news", "the API key was wrong; bearer of bad news"),
        ("", ""),
    ],
)
def test_scrub_patterns(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_scrub_is_linear_on_hostile_text() -> None:
    """Long runs of near-matches cost one pass, not a quadratic search."""
    import time

    text = ("authorization:" * 20_000) + ("Bearer " * 20_000) + ("sk-" * 50_000)
    started = time.perf_counter()
    scrub(text)
    assert time.perf_counter() - started < 2.0  # quadratic would take minutes


def test_every_terse_error_pickles_whole() -> None:
    errors: list[terse.TerseError] = [
        terse.ServerError(500, "boom sk-abcdefgh12345678", "body"),
        terse.RateLimited(429, "slow", retry_after=2.0),
        terse.ProtocolError("bad", "Authorization: Bearer abcdefgh12345"),
        terse.ExtractionError("no", text="t", candidates=["a"], errors=["e"], target="int"),
        terse.ThinkingBudgetExceeded("cut", reasoning="r", reasoning_tokens=3),
        terse.UsageError("wrong"),
    ]
    for error in errors:
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error)
        assert str(back) == str(error)
        assert "abcdefgh12345" not in repr(vars(back)) + str(back)
    assert pickle.loads(pickle.dumps(errors[1])).retry_after == 2.0


# -- batch and CLI ------------------------------------------------------------------------


@pytest.mark.parametrize("echo", ["400"], indirect=True)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_batch_errors_file_holds_no_key(
    echo: EchoServer, mode: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = KEYS[1]
    out = tmp_path / "o.jsonl"
    rows = [{"id": i, "text": "x"} for i in range(3)]
    common: dict[str, Any] = {
        "prompt": "{text}",
        "response_model": None,
        "out": out,
        "max_retries": 0,
    }
    if mode == "sync":
        with terse.Client(base_url=echo.base_url, api_key=key, model="m", dialect="vllm") as c:
            report = run_batch(rows, client=c, **common)
    else:

        async def go() -> Any:
            async with terse.AsyncClient(
                base_url=echo.base_url, api_key=key, model="m", dialect="vllm"
            ) as c:
                return await arun_batch(rows, client=c, **common)

        report = asyncio.run(go())
    assert report.failed == 3
    errors = (tmp_path / "o.errors.jsonl").read_text()
    assert errors.count(REDACTED) >= 3  # the echo was there, and was replaced
    _assert_clean(errors, key)
    _assert_clean(capsys.readouterr().err, key)


@pytest.mark.parametrize("echo", ["401"], indirect=True)
def test_the_cli_summary_holds_no_key(
    echo: EchoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    key = KEYS[1]
    monkeypatch.setenv("TERSE_TEST_KEY", key)
    rows = tmp_path / "in.jsonl"
    rows.write_text('{"id": 1, "text": "x"}\n')
    code = main(
        [
            "extract",
            "--in",
            str(rows),
            "--out",
            str(tmp_path / "o.jsonl"),
            "--prompt",
            "{text}",
            "--model",
            "m",
            "--base-url",
            echo.base_url,
            "--api-key-env",
            "TERSE_TEST_KEY",
            "--max-retries",
            "0",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "401" in err
    assert REDACTED in err
    _assert_clean(err, key)
