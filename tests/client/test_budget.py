"""Thinking budgets against runaway reasoning: cut at N tokens or S seconds, still answered."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import terse
from terse.testing import DIALECTS, FakeServer, Runaway

BUDGET = 64
SLACK = 2
SERVER_SLACK = 16
"""Tokens the server may generate after terse's cut before it sees the disconnect: 160 ms at
100 tokens/s, for a loaded machine (seen: +3 under a full suite on 2 busy cores). A budget
that did not hold would run to hundreds of tokens."""


def ask(mode: str, srv: FakeServer, **kwargs: Any) -> terse.Answer[Any]:
    opts: dict[str, Any] = {"model": "test-model", "timeout": 10.0}
    opts.update(kwargs.pop("client", {}))
    if mode == "sync":
        with terse.Client(base_url=srv.base_url, **opts) as client:
            return client.ask("What is 6 x 7?", **kwargs)

    async def go() -> terse.Answer[Any]:
        async with terse.AsyncClient(base_url=srv.base_url, **opts) as client:
            return await client.ask("What is 6 x 7?", **kwargs)

    return asyncio.run(go())


def generations(srv: FakeServer) -> list[Any]:
    srv.wait_idle()
    return [r for r in srv.requests if r.script is not None or r.continuation]


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_runaway_is_cut_at_the_budget_and_still_answered(dialect: str, mode: str) -> None:
    # A real server generates at a finite rate; 100 tokens/s keeps this test free of
    # scheduling noise on a busy machine (the benchmark measures overshoot at 1,000/s).
    with FakeServer(dialect=dialect, tokens_per_second=100) as srv:
        srv.push(Runaway(answer="42"))
        answer = ask(mode, srv, thinking_budget=BUDGET)
        gens = generations(srv)
    first = gens[0]
    assert first.reasoning_tokens <= BUDGET + SERVER_SLACK, first
    assert answer.text == "42"
    assert answer.budget is not None
    assert answer.budget.hit
    assert answer.budget.strategy in ("native", "conclude")
    # Every generation request carried a server-side cap.
    for rec in gens:
        assert rec.body is not None
        assert rec.body.get("max_tokens") or rec.body.get("n_predict"), rec.body
    # The reasoning tokens the server generated are accounted.
    assert answer.usage.reasoning_tokens >= first.reasoning_tokens - SLACK


def test_llamacpp_uses_its_native_budget() -> None:
    with FakeServer(dialect="llamacpp", tokens_per_second=100) as srv:
        srv.push(Runaway(answer="42"))
        answer = ask("sync", srv, thinking_budget=BUDGET)
        gens = generations(srv)
    assert answer.budget is not None
    assert answer.budget.strategy == "native"
    assert gens[0].body is not None
    assert gens[0].body["reasoning_budget_tokens"] == BUDGET
    assert len(gens) == 1  # the server closed the thinking itself: one request


def test_llamacpp_concludes_through_apply_template_when_native_is_off() -> None:
    with FakeServer(dialect="llamacpp", tokens_per_second=100) as srv:
        srv.push(Runaway(answer="42"))
        answer = ask("sync", srv, thinking_budget=terse.Budget(tokens=BUDGET, native=False))
        paths = [r.path for r in srv.requests]
        gens = generations(srv)
    assert answer.text == "42"
    assert answer.budget is not None
    assert answer.budget.method == "llamacpp-completion"
    assert "/apply-template" in paths
    cont = gens[-1]
    assert cont.path in ("/v1/completions", "/completion")
    assert cont.body is not None
    assert cont.body["prompt"].rstrip().endswith("</think>")
    assert terse.QWEN_NUDGE.strip() in cont.body["prompt"]
    assert gens[0].reasoning_tokens <= BUDGET + SERVER_SLACK


def test_vllm_without_reasoning_config_falls_back_to_a_client_cut() -> None:
    with FakeServer(dialect="vllm", tokens_per_second=100) as srv:
        srv.push(Runaway(answer="42"))
        answer = ask("sync", srv, thinking_budget=BUDGET)
        reqs = [r for r in srv.requests if r.path.endswith("/chat/completions")]
    assert answer.text == "42"
    assert reqs[0].status == 400
    assert "thinking_token_budget" in (reqs[0].body or {})
    assert "thinking_token_budget" not in (reqs[1].body or {})
    cont = reqs[-1].body or {}
    assert cont["continue_final_message"] is True
    assert cont["add_generation_prompt"] is False
    assert cont["messages"][-1]["role"] == "assistant"
    assert cont["messages"][-1]["content"].rstrip().endswith("</think>")
    assert reqs[1].reasoning_tokens <= BUDGET + SERVER_SLACK


def test_vllm_with_reasoning_config_uses_the_native_budget() -> None:
    with FakeServer(dialect="vllm", vllm_reasoning_config=True, tokens_per_second=100) as srv:
        srv.push(Runaway(answer="42"))
        answer = ask("sync", srv, thinking_budget=BUDGET)
        gens = generations(srv)
    assert answer.text == "42"
    assert answer.budget is not None
    assert answer.budget.strategy == "native"
    assert gens[0].reasoning_tokens <= BUDGET + SLACK


def test_on_exceed_raise_carries_the_partial_reasoning() -> None:
    with FakeServer(dialect="sglang", tokens_per_second=100) as srv:
        srv.push(Runaway(answer="42", token=" hmm"))
        with pytest.raises(terse.ThinkingBudgetExceeded) as info:
            ask("sync", srv, thinking_budget=terse.Budget(tokens=BUDGET, on_exceed="raise"))
    assert "hmm" in info.value.reasoning
    assert BUDGET <= info.value.reasoning_tokens <= BUDGET + SLACK


def test_on_exceed_disable_reasks_with_thinking_off() -> None:
    with FakeServer(dialect="sglang", tokens_per_second=100) as srv:
        srv.push(Runaway(answer="42"))
        answer = ask("sync", srv, thinking_budget=terse.Budget(tokens=BUDGET, on_exceed="disable"))
        reqs = [r for r in srv.requests if r.path.endswith("/chat/completions")]
    assert answer.text == "42"
    assert answer.budget is not None
    assert answer.budget.strategy == "disable"
    last = reqs[-1].body or {}
    assert last["chat_template_kwargs"]["enable_thinking"] is False


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_seconds_budget_cuts_slow_thinking(mode: str) -> None:
    with FakeServer(dialect="sglang", tokens_per_second=200) as srv:
        srv.push(Runaway(answer="42"))
        answer = ask(mode, srv, thinking_budget=terse.Budget(seconds=0.3))
        gens = generations(srv)
    assert answer.text == "42"
    assert answer.budget is not None
    assert answer.budget.hit
    # 0.3 s at 200 tokens/s is about 60 tokens; far below what a runaway would produce.
    assert gens[0].reasoning_tokens < 200


def test_budget_shorthand_and_validation() -> None:
    assert terse.Budget(tokens=5).tokens == 5
    for bad in (
        {"tokens": -1},
        {"tokens": None, "seconds": None},
        {"seconds": -1.0},
        {"tokens": 5, "on_exceed": "explode"},
    ):
        with pytest.raises(terse.UsageError):
            terse.Budget(**bad)  # type: ignore[arg-type]
    with FakeServer(dialect="vllm") as srv, pytest.raises(terse.UsageError):
        ask("sync", srv, thinking_budget="lots")


def test_stream_is_closed_at_the_budget_and_the_server_stops() -> None:
    with FakeServer(dialect="sglang", tokens_per_second=100) as srv:
        srv.push(Runaway(answer="42"))
        with (
            terse.Client(base_url=srv.base_url, model="m") as client,
            client.stream("q", thinking_budget=BUDGET) as stream,
        ):
            events = list(stream)
        gens = generations(srv)
    final = events[-1]
    assert isinstance(final, terse.Final)
    assert final.answer.text == "42"
    assert gens[0].disconnected
    assert gens[0].reasoning_tokens <= BUDGET + SERVER_SLACK


def test_concurrent_budget_calls_survive_the_native_refusal() -> None:
    """The first call learns vLLM has no native budget; calls already in flight fall back too."""
    from concurrent.futures import ThreadPoolExecutor

    with FakeServer(dialect="vllm", tokens_per_second=500) as srv:
        srv.default = Runaway(answer="42")
        with (
            terse.Client(base_url=srv.base_url, model="m", timeout=10.0) as client,
            ThreadPoolExecutor(4) as pool,
        ):
            answers = list(pool.map(lambda _: client.ask("q", thinking_budget=16), range(4)))
    assert [a.text for a in answers] == ["42"] * 4
