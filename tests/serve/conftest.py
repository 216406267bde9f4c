"""The proxy under test: `terse.serve.app` served by uvicorn on loopback, over FakeServer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from terse.serve import Server, _app, app
from terse.testing import FakeServer

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]

Proxy = Callable[..., Server]


@pytest.fixture(params=["aiohttp", "openai"])
def proxy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Proxy]:
    """``proxy(upstream, **app_options)``: a running proxy in front of ``upstream``.

    Every test runs over both upstream transports: the proxy's own (aiohttp, the
    default) and the openai client's (what a proxy given ``openai_client=`` uses).
    """
    if request.param == "openai":
        monkeypatch.setattr(_app, "_lean_transport", lambda client, config: None)
    running: list[Server] = []

    def start(upstream: FakeServer | str, **options: Any) -> Server:
        url = upstream if isinstance(upstream, str) else upstream.base_url
        options.setdefault("model", "m")
        server = Server(app(url, **options)).start()
        running.append(server)
        return server

    yield start
    for server in running:
        server.close()


@pytest.fixture
def inline() -> Iterator[FakeServer]:
    """A server without a reasoning parser: `<think>` and tool markup in ``content``."""
    with FakeServer(dialect="inline") as server:
        yield server


@pytest.fixture
def vllm() -> Iterator[FakeServer]:
    """A vLLM server: reasoning in its own field, native tool calls."""
    with FakeServer(dialect="vllm") as server:
        yield server
