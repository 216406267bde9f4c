"""Retries: only what can succeed, cheaply, within bounds, and every attempt accounted."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import pytest
from pydantic import BaseModel
from tenacity import stop_after_attempt, wait_none

import terse
from terse.testing import Drop, Fail, FakeServer, Hang, Malformed, Reply

SECRET = "OKAPI-42"
REASONING = f'Let me think. {SECRET} Draft answer: {{"n": 1}}'


class Count(BaseModel):
    n: int


def ask(mode: str, srv: FakeServer, **kwargs: Any) -> terse.Answer[Any]:
    opts: dict[str, Any] = {"model": "m", "timeout": 5.0}
    opts.update(kwargs.pop("client", {}))
    policy: dict[str, Any] = kwargs.pop("policy", {})
    policy.setdefault("wait", wait_none())
    kwargs["retry_policy"] = terse.RetryPolicy(**policy)
    if mode == "sync":
        with terse.Client(base_url=srv.base_url, **opts) as client:
            return client.ask("How many?", **kwargs)

    async def go() -> terse.Answer[Any]:
        async with terse.AsyncClient(base_url=srv.base_url, **opts) as client:
            return await client.ask("How many?", **kwargs)

    return asyncio.run(go())


def generations(srv: FakeServer) -> list[Any]:
    srv.wait_idle()
    return [r for r in srv.requests if r.path.endswith("completions")]


MODES = ["sync", "async"]


@pytest.mark.parametrize("mode", MODES)
def test_500_then_429_then_success(mode: str) -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.push(Fail(500), Fail(429, retry_after=0.3), Reply(reasoning=REASONING, answer="7"))
        t0 = time.monotonic()
        answer = ask(
            mode, srv, response_model=int, policy={"wait": terse.wait_retry_after(wait_none())}
        )
        elapsed = time.monotonic() - t0
        gens = generations(srv)
    assert answer.value == 7
    assert [a.outcome for a in answer.attempts] == ["server", "server", "ok"]
    assert [a.purpose for a in answer.attempts] == ["ask", "retry", "retry"]
    assert isinstance(answer.attempts[1].error, terse.RateLimited)
    assert answer.attempts[1].error.retry_after == pytest.approx(0.3)
    assert elapsed >= 0.3  # Retry-After honoured
    assert len(gens) == 3  # no hidden retries by the openai client
    assert answer.usage.completion_tokens == gens[-1].generated_tokens


@pytest.mark.parametrize("mode", MODES)
def test_invalid_answer_is_reasked_without_the_reasoning(mode: str) -> None:
    with FakeServer(dialect="deepseek") as srv:
        srv.push(
            Reply(reasoning=REASONING, answer="I am not sure, maybe a few."),
            Reply(reasoning="Second try.", answer='{"n": 3}'),
        )
        answer = ask(mode, srv, response_model=Count)
        gens = generations(srv)
    assert answer.value == Count(n=3)
    assert [a.outcome for a in answer.attempts] == ["invalid", "ok"]
    assert answer.attempts[1].purpose == "reask"
    second = json.dumps(gens[1].body)
    assert SECRET not in second  # the reasoning is never sent back
    assert "I am not sure, maybe a few." in second  # the failed answer is
    msgs = gens[1].body["messages"]
    assert msgs[-2] == {"role": "assistant", "content": "I am not sure, maybe a few."}
    assert msgs[-1]["role"] == "user"
    # Usage sums both attempts, the failed one included.
    assert answer.usage.completion_tokens == sum(g.generated_tokens for g in gens)
    assert answer.usage == answer.attempts[0].usage + answer.attempts[1].usage


@pytest.mark.parametrize("mode", MODES)
def test_dropped_stream_is_retried(mode: str) -> None:
    with FakeServer(dialect="llamacpp") as srv:
        srv.push(Drop(after_chunks=3, then=Reply(reasoning=REASONING, answer="5")))
        srv.push(Reply(reasoning=REASONING, answer="5"))
        answer = ask(mode, srv, response_model=int, thinking_budget=10_000)
    assert answer.value == 5
    outcomes = [a.outcome for a in answer.attempts]
    assert outcomes == ["transport", "ok"]
    assert isinstance(answer.attempts[0].error, terse.ConnectionFailed)


@pytest.mark.parametrize("mode", MODES)
def test_malformed_stream_is_retried(mode: str) -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.push(Malformed(after_chunks=2), Reply(answer="5"))
        budget = terse.Budget(tokens=10_000, native=False)  # streamed, no native-budget probe
        answer = ask(mode, srv, thinking_budget=budget, client={"thinking_open": False})
    assert answer.text == "5"
    assert isinstance(answer.attempts[0].error, terse.ProtocolError)


@pytest.mark.parametrize("mode", MODES)
def test_a_hanging_server_cannot_outlast_the_deadline(mode: str) -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.default = Hang()
        t0 = time.monotonic()
        with pytest.raises(terse.RetriesExhausted) as info:
            ask(mode, srv, deadline=1.0, max_retries=5)
        elapsed = time.monotonic() - t0
    assert elapsed < 3.0
    assert info.value.reason == "deadline"
    assert all(a.outcome == "transport" for a in info.value.attempts)


@pytest.mark.parametrize("mode", MODES)
def test_retries_exhausted_carries_every_attempt(mode: str) -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.default = Fail(503)
        with pytest.raises(terse.RetriesExhausted) as info:
            ask(mode, srv, max_retries=2)
        gens = generations(srv)
    err = info.value
    assert err.reason == "attempts"
    assert len(err.attempts) == 3 == len(gens)
    assert isinstance(err.__cause__, terse.ServerError)
    assert err.__cause__.status == 503


def test_tenacity_stop_objects_are_honoured() -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.default = Fail(500)
        with pytest.raises(terse.RetriesExhausted) as info:
            ask("sync", srv, policy={"stop": stop_after_attempt(2)})
    assert len(info.value.attempts) == 2


def test_client_errors_are_not_retried() -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.default = Fail(400, message="bad request field")
        with pytest.raises(terse.ServerError) as info:
            ask("sync", srv, max_retries=3)
        gens = generations(srv)
    assert info.value.status == 400
    assert "bad request field" in info.value.message
    assert len(gens) == 1


def test_total_token_cap_stops_retries() -> None:
    with FakeServer(dialect="deepseek") as srv:
        srv.default = Reply(reasoning=REASONING * 5, answer="not a number")
        with pytest.raises(terse.RetriesExhausted) as info:
            ask("sync", srv, response_model=int, max_retries=10, max_total_tokens=150)
    assert info.value.reason == "tokens"
    spent = sum(a.usage.total_tokens for a in info.value.attempts)
    assert len(info.value.attempts) < 10
    assert spent >= 150 or len(info.value.attempts) >= 1


def test_on_attempt_hook_and_log_never_show_reasoning_or_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[terse.Attempt] = []
    caplog.set_level(logging.DEBUG, logger="terse")
    with FakeServer(dialect="vllm") as srv:
        srv.push(Fail(500), Reply(reasoning=REASONING, answer="9"))
        answer = ask(
            "sync",
            srv,
            client={"on_attempt": seen.append, "api_key": "sk-TOPSECRET"},
        )
    assert answer.text == "9"
    assert [a.number for a in seen] == [1, 2]
    assert seen == list(answer.attempts)
    assert caplog.records, "attempts are logged"
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert "TOPSECRET" not in record.getMessage()


def test_answer_truncation_retry_doubles_the_allowance() -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.push(Reply(answer="one two three four five six seven eight", finish_reason="length"))
        srv.push(Reply(answer="one two three"))
        answer = ask("sync", srv, policy={"retry": terse.retry_if_truncated}, max_retries=1)
        gens = generations(srv)
    assert answer.text == "one two three"
    assert gens[1].body["max_tokens"] > 0
    assert [a.outcome for a in answer.attempts] == ["answer_truncated", "ok"]


def test_repair_turn_can_switch_thinking_off() -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.push(Reply(reasoning=REASONING, answer="lots"), Reply(answer='{"n": 2}'))
        answer = ask("sync", srv, response_model=Count, repair_budget="off")
        gens = generations(srv)
    assert answer.value == Count(n=2)
    assert "chat_template_kwargs" not in (gens[0].body or {})
    assert gens[1].body["chat_template_kwargs"] == {"enable_thinking": False}
    assert gens[1].body["reasoning_effort"] == "none"


def test_an_unretried_failure_still_carries_its_attempts() -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.default = Reply(reasoning=REASONING, answer="")
        with pytest.raises(terse.NoAnswer) as info:
            ask("sync", srv, max_retries=0)
    (attempt,) = info.value.attempts
    assert attempt.outcome == "no_answer"
    assert attempt.usage.reasoning_tokens > 0
