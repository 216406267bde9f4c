"""`terse serve` in front of a real llama-server (issue 17): the openai client through the proxy.

A runaway thinker under the R1-style template comes back answered within the budget, the
reasoning apart from the answer; a client that leaves a stream early stops the server's
generation. Mechanics only, never what a 135M model says.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

import terse
from terse.serve import Server, app

from ._llama_terse_run import MODEL, TIMEOUT, Counters, wait_idle

pytestmark = pytest.mark.llama

N = 16  # the thinking budget, in tokens
CLOSE = 8  # the forced close tag and slack a native budget may book as reasoning
THINKER = "Explain in detail how a lighthouse works, then say in one sentence what it is for."
STORY = "Write a very long story about a lighthouse keeper."


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[Any]:
    running: list[Server] = []

    def start(server: Any, **options: Any) -> str:
        proxy = Server(app(server.base_url, model=MODEL, **options)).start()
        running.append(proxy)
        return proxy.base_url

    yield start
    for proxy in running:
        proxy.close()


@pytest.mark.parametrize("stream", [False, True])
def test_r1_runaway_through_the_proxy_is_answered_within_the_budget(
    llama_r1: Any, served: Any, stream: bool
) -> None:
    budget = terse.Budget(tokens=N)
    base_url = served(llama_r1, thinking_budget=budget)
    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=TIMEOUT)
    messages = [{"role": "user", "content": THINKER}]
    if stream:
        content, reasoning, usage = "", "", None
        for chunk in client.chat.completions.create(
            model=MODEL,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            temperature=0,  # greedy, as in test_llama_terse.py: the same output every run
        ):
            usage = chunk.usage or usage
            if chunk.choices:
                content += chunk.choices[0].delta.content or ""
                reasoning += getattr(chunk.choices[0].delta, "reasoning_content", None) or ""
    else:
        r = client.chat.completions.create(model=MODEL, messages=messages, temperature=0)  # type: ignore[arg-type]
        content = r.choices[0].message.content or ""
        reasoning = getattr(r.choices[0].message, "reasoning_content", None) or ""
        usage = r.usage
    assert content.strip()
    assert "<think>" not in content
    assert reasoning.strip()
    # the proxy and Client.ask cannot drift: greedy, the same budget, the same answer
    with terse.Client(base_url=llama_r1.base_url, model=MODEL, timeout=TIMEOUT) as direct:
        expected = direct.ask(THINKER, thinking_budget=budget, temperature=0)
    assert content == expected.text
    assert reasoning == expected.reasoning
    assert usage is not None
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens <= N + CLOSE


def test_leaving_a_proxied_stream_early_stops_generation_on_the_server(
    llama_chatml: Any, served: Any
) -> None:
    base_url = served(llama_chatml)
    wanted = 30
    # a first call lets terse learn the server (its probe), so answer text streams at once
    httpx.post(
        base_url + "/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
        timeout=TIMEOUT,
    )
    wait_idle(llama_chatml)
    before = Counters.read(llama_chatml)
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": STORY}],
        "max_tokens": 400,
        "stream": True,
    }
    with httpx.stream("POST", base_url + "/chat/completions", json=body, timeout=TIMEOUT) as r:
        pieces = 0
        for line in r.iter_lines():
            pieces += '"content":"' in line and '"content":""' not in line
            if pieces >= wanted:
                break
    left = time.monotonic()
    wait_idle(llama_chatml)
    idle = time.monotonic() - left
    generated = (Counters.read(llama_chatml) - before).predicted
    assert idle <= 2.0, f"slot busy {idle:.2f} s after the client left the proxy"
    assert generated < 200  # far below the 400 asked for
