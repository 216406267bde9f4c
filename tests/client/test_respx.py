"""respx-mocked transport (openai 2.x uses httpx; openai 3.x uses httpx2, which respx cannot intercept).

These tests pin terse's behaviour on exact wire bytes copied from the servers' own
shapes; the loopback FakeServer covers both openai lines for everything else.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

import terse

respx = pytest.importorskip("respx")

pytestmark = pytest.mark.skipif(
    not isinstance(openai.OpenAI(api_key="x", base_url="http://h/v1")._client, httpx.Client),
    reason="openai 3.x sends through httpx2, which respx cannot intercept (FakeServer covers it)",
)

BASE = "http://respx.test/v1"


def sse(*events: dict[str, Any]) -> bytes:
    lines = [f"data: {json.dumps(e)}\n\n" for e in events]
    return ("".join(lines) + "data: [DONE]\n\n").encode()


def test_deepseek_reasoning_content_and_usage() -> None:
    body = {
        "id": "x",
        "object": "chat.completion",
        "model": "deepseek-reasoner",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Paris",
                    "reasoning_content": "The capital of France... draft Lyon",
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 30,
            "total_tokens": 40,
            "completion_tokens_details": {"reasoning_tokens": 28},
            "prompt_cache_hit_tokens": 0,
            "prompt_cache_miss_tokens": 10,
        },
    }
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/chat/completions").respond(json=body)
        with terse.Client(base_url=BASE, model="deepseek-reasoner") as client:
            answer = client.ask("capital?")
    assert answer.text == "Paris"
    assert answer.reasoning.startswith("The capital")
    assert (answer.usage.reasoning_tokens, answer.usage.answer_tokens) == (28, 2)
    assert answer.usage.source == "server"
    assert answer.dialect == "deepseek"
    sent = json.loads(route.calls[0].request.content)
    assert sent["max_tokens"] > 0


def test_close_only_inline_stream_split_across_chunks() -> None:
    text = "Okay, the user wants a city. Draft: Lyon.</think>\n\nParis"
    events = [
        {"choices": [{"index": 0, "delta": {"content": text[i : i + 3]}}]}
        for i in range(0, len(text), 3)
    ]
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    with respx.mock(base_url=BASE) as mock:
        mock.post("/chat/completions").respond(
            content=sse(*events), headers={"content-type": "text/event-stream"}
        )
        with terse.Client(base_url=BASE, model="m") as client, client.stream("capital?") as stream:
            got = list(stream)
    final = got[-1]
    assert isinstance(final, terse.Final)
    assert final.answer.text == "Paris"
    assert "Lyon" in final.answer.reasoning
    answer_text = "".join(e.text for e in got if isinstance(e, terse.AnswerDelta))
    assert "Lyon" not in answer_text


def test_rate_limit_then_success_with_retry_after() -> None:
    ok = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "42"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    with respx.mock(base_url=BASE) as mock:
        mock.post("/chat/completions").mock(
            side_effect=[
                httpx.Response(
                    429, headers={"retry-after": "0"}, json={"error": {"message": "slow down"}}
                ),
                httpx.Response(200, json=ok),
            ]
        )
        with terse.Client(base_url=BASE, model="m") as client:
            answer = client.ask("q")
    assert answer.text == "42"
    assert [a.outcome for a in answer.attempts] == ["server", "ok"]
    err = answer.attempts[0].error
    assert isinstance(err, terse.RateLimited)
    assert err.retry_after == 0
    assert err.message == "slow down"
