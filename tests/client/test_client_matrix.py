"""Client and AsyncClient against the fake server: every dialect, sync and async, streamed or not.

The same suite runs under openai 3.x (httpx2) and openai 2.x (httpx) in CI. Every case
asserts that no reasoning text reaches ``Answer.text`` or ``Answer.value``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

import terse
from terse.testing import DIALECTS, FakeServer, Reply

SECRET = "ZEBRA-7"  # a marker that only ever appears in reasoning
REASONING = f'The user asks for a city. {SECRET} Draft: {{"city": "Lyon", "population": 1}}'

ALL = sorted(DIALECTS)
MODES = ["sync", "async", "sync-stream", "async-stream"]


class City(BaseModel):
    city: str
    population: int


def run(mode: str, srv: FakeServer, prompt: str = "capital?", **kwargs: Any) -> terse.Answer[Any]:
    """Ask through the client flavour named by ``mode`` and return the Answer."""
    opts = {"model": "test-model", "timeout": 10.0}
    if mode.startswith("sync"):
        with terse.Client(base_url=srv.base_url, **opts) as client:
            if mode.endswith("stream"):
                with client.stream(prompt, **kwargs) as stream:
                    events = list(stream)
                return check_events(events)
            return client.ask(prompt, **kwargs)

    async def go() -> terse.Answer[Any]:
        async with terse.AsyncClient(base_url=srv.base_url, **opts) as client:
            if mode.endswith("stream"):
                async with client.stream(prompt, **kwargs) as stream:
                    events = [e async for e in stream]
                return check_events(events)
            return await client.ask(prompt, **kwargs)

    return asyncio.run(go())


def check_events(events: list[terse.StreamEvent]) -> terse.Answer[Any]:
    """The pieces since the last NewAttempt add up to the final answer; no reasoning in them."""
    assert isinstance(events[-1], terse.Final)
    answer: terse.Answer[Any] = events[-1].answer
    restarts = [i for i, e in enumerate(events) if isinstance(e, terse.NewAttempt)]
    events = events[restarts[-1] + 1 :] if restarts else events
    pieces = [e.text for e in events if isinstance(e, terse.AnswerDelta)]
    thoughts = [e.text for e in events if isinstance(e, terse.ReasoningDelta)]
    assert "".join(pieces).strip() == answer.text
    assert SECRET not in "".join(pieces)
    assert "".join(thoughts) == answer.reasoning
    return answer


def assert_clean(answer: terse.Answer[Any]) -> None:
    assert SECRET not in answer.text
    assert SECRET not in str(answer.value)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dialect", ALL)
def test_answer_is_clean_in_every_dialect(dialect: str, mode: str) -> None:
    with FakeServer(dialect=dialect) as srv:
        srv.push(Reply(reasoning=REASONING, answer="Paris is the capital."))
        answer = run(mode, srv)
    assert answer.text == "Paris is the capital."
    assert answer.value == answer.text
    assert SECRET in answer.reasoning
    assert answer.finish_reason == "stop"
    assert_clean(answer)
    assert len(answer.attempts) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dialect", ALL)
def test_typed_value_never_comes_from_the_reasoning_draft(dialect: str, mode: str) -> None:
    with FakeServer(dialect=dialect) as srv:
        srv.push(
            Reply(
                reasoning=REASONING, answer='```json\n{"city": "Paris", "population": 2102650}\n```'
            )
        )
        answer = run(mode, srv, response_model=City)
    assert answer.value == City(city="Paris", population=2102650)
    assert_clean(answer)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dialect", ALL)
def test_usage_matches_what_the_server_generated(dialect: str, mode: str) -> None:
    with FakeServer(dialect=dialect) as srv:
        srv.push(Reply(reasoning=REASONING, answer="Paris"))
        answer = run(mode, srv)
        srv.wait_idle()
        rec = [r for r in srv.requests if r.script is not None][-1]
    usage = answer.usage
    assert usage.reasoning_tokens + usage.answer_tokens == rec.generated_tokens
    if usage.source == "server":
        assert usage.reasoning_tokens == rec.reasoning_tokens
    else:
        # The server reported only the total: terse split it by counting (another tokenizer).
        assert abs(usage.reasoning_tokens - rec.reasoning_tokens) <= max(
            3, rec.reasoning_tokens // 5
        )
    assert answer.usage.total_tokens == (
        answer.usage.prompt_tokens + answer.usage.reasoning_tokens + answer.usage.answer_tokens
    )
    assert answer.usage.source in ("server", "counted", "mixed")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dialect", ["vllm", "llamacpp", "deepseek", "inline"])
def test_thinking_cut_by_the_token_limit_is_never_an_answer(dialect: str, mode: str) -> None:
    with FakeServer(dialect=dialect) as srv:
        srv.default = Reply(reasoning=REASONING * 20, answer="Paris")
        with pytest.raises((terse.ThinkingTruncated, terse.RetriesExhausted)) as info:
            run(mode, srv, max_tokens=8, max_retries=0)
    err = info.value
    if isinstance(err, terse.RetriesExhausted):
        err = err.last_error  # type: ignore[assignment]
    assert isinstance(err, terse.ThinkingTruncated)


@pytest.mark.parametrize("mode", MODES)
def test_answer_cut_by_the_token_limit_is_an_error(mode: str) -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.default = Reply(reasoning="short", answer="Paris is a city with many many words in it")
        with pytest.raises(terse.AnswerTruncated) as info:
            run(mode, srv, max_tokens=5, max_retries=0)
    assert info.value.finish_reason == "length"
    assert info.value.text  # the cut answer is kept as evidence, not returned as the answer


@pytest.mark.parametrize("mode", MODES)
def test_empty_answer_after_a_normal_stop_is_no_answer(mode: str) -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.default = Reply(reasoning="I thought about it.", answer="")
        with pytest.raises(terse.NoAnswer) as info:
            run(mode, srv, max_retries=0)
    assert info.value.reasoning == "I thought about it."


@pytest.mark.parametrize("mode", MODES)
def test_extra_request_fields_pass_through(mode: str) -> None:
    with FakeServer(dialect="vllm") as srv:
        run(mode, srv, temperature=0, extra_body={"top_k": 3, "chat_template_kwargs": {"x": 1}})
        body = srv.requests[-1].body
    assert body is not None
    assert body["temperature"] == 0
    assert body["top_k"] == 3
    assert body["chat_template_kwargs"] == {"x": 1}
    assert body["max_tokens"] > 0  # every request carries a server-side cap


def test_dialect_is_detected_from_responses() -> None:
    expected: dict[str, Callable[[str | None], bool]] = {
        "llamacpp": lambda d: d == "llamacpp",
        "sglang": lambda d: d == "sglang",
        "deepseek": lambda d: d == "deepseek",
    }
    for name, ok in expected.items():
        with FakeServer(dialect=name) as srv:
            answer = run("sync", srv)
        assert ok(answer.dialect), (name, answer.dialect)


def test_api_key_is_never_shown() -> None:
    with FakeServer(dialect="vllm") as srv:
        client = terse.Client(base_url=srv.base_url, api_key="sk-SECRET-KEY-123", model="m")
        assert "SECRET-KEY" not in repr(client)
        client.ask("hi")
        srv.push(terse.testing.Fail(401, message="bad key"))
        with pytest.raises(terse.ServerError) as info:
            client.ask("hi", max_retries=0)
        client.close()
    err = info.value
    assert err.status == 401
    for text in (str(err), repr(err), err.body):
        assert "SECRET-KEY" not in text


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dialect", ["llamacpp", "vllm", "deepseek"])
def test_assistant_prefill_gives_the_whole_message_once(dialect: str, mode: str) -> None:
    """llama.cpp repeats a continued prefill in ``content``; others send only the continuation."""
    messages = [
        {"role": "user", "content": "Give the city as JSON."},
        {"role": "assistant", "content": '{"city": "'},
    ]
    with FakeServer(dialect=dialect) as srv:
        srv.push(Reply(answer='Paris"}'))
        answer = run(mode, srv, prompt=messages)  # type: ignore[arg-type]
    assert answer.text == '{"city": "Paris"}'


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_leaving_a_stream_early_closes_it_and_the_server_stops(mode: str) -> None:
    long_reasoning = " step" * 2000
    with FakeServer(dialect="vllm", tokens_per_second=200) as srv:
        srv.push(Reply(reasoning=long_reasoning, answer="done"))
        with terse.Client(base_url=srv.base_url, model="m") as client:
            if mode == "sync":
                with client.stream("q") as stream:
                    for i, _event in enumerate(stream):
                        if i == 5:
                            break
            else:

                async def go() -> None:
                    async with (
                        terse.AsyncClient(base_url=srv.base_url, model="m") as aclient,
                        aclient.stream("q") as stream,
                    ):
                        i = 0
                        async for _event in stream:
                            i += 1
                            if i == 6:
                                break

                asyncio.run(go())
        srv.wait_idle(timeout=5)
        rec = [r for r in srv.requests if r.script is not None][-1]
    assert rec.disconnected
    assert rec.generated_tokens < 50  # of 2,000: generation stopped when the stream closed
