"""Budgets and probes, issue 14: stale keep-alives on aux requests, ``thinking_budget=0``,
a streamed conclusion, the errors after a truncated conclusion, what a probe verified."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

import terse
from terse.testing import DIALECTS, FakeServer, Runaway

MODES = ["sync", "async"]
STALE = dataclasses.replace(DIALECTS["llamacpp"], name="llamacpp-stale", stale_keep_alive=True)


def probe_twice(mode: str, srv: FakeServer) -> list[terse.ServerInfo]:
    if mode == "sync":
        with terse.Client(base_url=srv.base_url, timeout=10.0) as client:
            return [client.probe(), client.probe()]

    async def go() -> list[terse.ServerInfo]:
        async with terse.AsyncClient(base_url=srv.base_url, timeout=10.0) as client:
            return [await client.probe(), await client.probe()]

    return asyncio.run(go())


def ask(mode: str, srv: FakeServer, prompt: str = "What is 6 x 7?", **kwargs: Any) -> Any:
    opts: dict[str, Any] = {"model": "test-model", "timeout": 10.0}
    opts.update(kwargs.pop("client", {}))
    if mode == "sync":
        with terse.Client(base_url=srv.base_url, **opts) as client:
            return client.ask(prompt, **kwargs)

    async def go() -> Any:
        async with terse.AsyncClient(base_url=srv.base_url, **opts) as client:
            return await client.ask(prompt, **kwargs)

    return asyncio.run(go())


# --- 15: aux requests survive a stale keep-alive --------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_probe_requests_are_resent_once_after_a_stale_keep_alive(mode: str) -> None:
    with FakeServer(dialect=STALE) as srv:
        first, second = probe_twice(mode, srv)
        srv.wait_idle()
        paths = [r.path for r in srv.requests]
    # Every request after the first on a connection was dropped unanswered (not recorded):
    # each answered one below needed the resend on a fresh connection.
    assert paths == ["/props", "/apply-template", "/props", "/apply-template"]
    for info in (first, second):
        assert info.dialect == "llamacpp"
        assert info.template_opens_thinking is True


@pytest.mark.parametrize("mode", MODES)
def test_budget_conclusion_survives_stale_keep_alives(mode: str) -> None:
    with FakeServer(dialect=STALE, tokens_per_second=200) as srv:
        srv.push(Runaway(answer="42"))
        answer = ask(mode, srv, thinking_budget=terse.Budget(tokens=32, native=False))
        srv.wait_idle()
        paths = [r.path for r in srv.requests]
    assert answer.text == "42"
    assert answer.budget is not None
    assert answer.budget.method == "llamacpp-completion"
    assert paths.count("/apply-template") == 2  # the probe's and the conclusion's
    assert all(a.outcome in ("ok", "budget") for a in answer.attempts), answer.attempts
