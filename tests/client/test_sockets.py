"""The sync driver lets go of a call's connections as soon as the call is over.

Sync requests run in pooled worker threads (`terse._client.clock.Pump`). A worker that has
finished a request must hold nothing of it while it waits for the next one: not the
response, not the openai client the request went through. Otherwise a dropped client and
its sockets live on until the idle worker exits (a minute later), and their ``unclosed
socket`` warnings land in whatever code runs then.

Each case ends a call in one of the ways a worker can be left behind (read to its end,
cut by a thinking budget, left early by the caller), closes the client and checks that it
becomes garbage and its sockets are closed (no ``unclosed socket`` warning either: pytest
turns those into errors) within a bound far longer than the work takes, yet far shorter
than the worker's idle minute.
"""

from __future__ import annotations

import gc
import os
import time
import weakref
from collections.abc import Callable
from typing import Any

import openai
import pytest

import terse
from terse.testing import FakeServer, Reply, Runaway

BOUND = 15.0  # seconds; the release takes milliseconds, an idle worker holds on for 60 s
CALLS = 5

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")


def _ask(srv: FakeServer, client: terse.Client) -> None:
    srv.push(Reply(reasoning="Hmm.", answer="Paris"))
    assert client.ask("q").text == "Paris"


def _budget_cut(srv: FakeServer, client: terse.Client) -> None:
    srv.push(Runaway(answer="42"))
    with client.stream("q", thinking_budget=8) as stream:
        assert stream.get_answer().text == "42"


def _left_early(srv: FakeServer, client: terse.Client) -> None:
    srv.push(Reply(reasoning="Hmm. " * 50, answer="word " * 400, tokens_per_second=500))
    with client.stream("q") as stream:
        for n, _ in enumerate(stream):
            if n == 5:
                break


CASES: dict[str, Callable[[FakeServer, terse.Client], None]] = {
    "ask": _ask,
    "budget-cut": _budget_cut,
    "left-early": _left_early,
}


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _eventually(check: Callable[[], bool]) -> bool:
    end = time.monotonic() + BOUND
    while True:
        gc.collect()
        if check():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.05)


@pytest.mark.parametrize("case", list(CASES))
def test_a_closed_client_is_collected_and_its_sockets_closed(case: str) -> None:
    with FakeServer(dialect="deepseek") as srv:
        before = _open_fds()
        with terse.Client(base_url=srv.base_url, model="m") as client:
            for _ in range(CALLS):
                CASES[case](srv, client)
        srv.wait_idle(BOUND)
        gone = weakref.ref(client._openai)  # terse's own openai client, which owned the sockets
        del client

        assert _eventually(lambda: gone() is None), "the openai client outlived the call"
        assert _eventually(lambda: _open_fds() <= before), (before, _open_fds())


@pytest.mark.parametrize("case", list(CASES))
def test_a_callers_http_client_is_not_held_after_the_call(case: str) -> None:
    with FakeServer(dialect="deepseek") as srv:
        http: Any = openai.DefaultHttpxClient()
        api = openai.OpenAI(base_url=srv.base_url, api_key="k", http_client=http)
        with api, terse.Client(api, model="m") as client:
            for _ in range(CALLS):
                CASES[case](srv, client)
        srv.wait_idle(BOUND)
        assert http.is_closed
        gone = weakref.ref(http)
        del http, api, client

        assert _eventually(lambda: gone() is None), "the caller's http client outlived the call"
