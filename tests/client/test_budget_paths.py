"""Budgets and probes, issue 14: stale keep-alives on aux requests, ``thinking_budget=0``,
a streamed conclusion, the errors after a truncated conclusion, what a probe verified."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest

import terse
from terse.testing import DIALECTS, FakeServer, Reply, Runaway

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


# --- 11: thinking_budget=0 means "do not think" -----------------------------------------------

THOUGHT = "Let me think about six times seven."


def ask_with_client(mode: str, srv: FakeServer, **kwargs: Any) -> tuple[Any, str | None]:
    """ask(), and the dialect the client ended up speaking."""
    opts: dict[str, Any] = {"model": kwargs.pop("model", "test-model"), "timeout": 10.0}
    if mode == "sync":
        with terse.Client(base_url=srv.base_url, **opts) as client:
            return client.ask("What is 6 x 7?", **kwargs), client.dialect

    async def go() -> tuple[Any, str | None]:
        async with terse.AsyncClient(base_url=srv.base_url, **opts) as client:
            return await client.ask("What is 6 x 7?", **kwargs), client.dialect

    return asyncio.run(go())


def contains(body: Any, fields: Any) -> bool:
    """Whether every (nested) field of ``fields`` is in ``body`` with the same value."""
    for key, value in fields.items():
        if isinstance(value, dict):
            if not isinstance(body.get(key), dict) or not contains(body[key], value):
                return False
        elif body.get(key) != value:
            return False
    return True


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_budget_zero_switches_thinking_off_with_the_servers_switch(dialect: str, mode: str) -> None:
    from terse._server.dialects import dialect_named

    with FakeServer(dialect=dialect) as srv:
        srv.push(Reply(reasoning=THOUGHT, answer="42"))
        answer, spoken = ask_with_client(mode, srv, thinking_budget=0)
        srv.wait_idle()
        gens = [r for r in srv.requests if r.script is not None or r.continuation]
    (gen,) = gens  # one request: no cut, no conclusion
    body = gen.body or {}
    assert spoken is not None
    assert contains(body, dialect_named(spoken).disable_thinking), body
    for native in ("reasoning_budget_tokens", "thinking_token_budget", "custom_params"):
        assert native not in body
    assert body["max_tokens"] == terse.Budget(tokens=0).answer_tokens
    assert gen.reasoning_tokens == 0  # the fake honours every known switch
    assert answer.text == "42"
    assert answer.reasoning == ""
    assert answer.budget == terse.BudgetReport(limit_tokens=0, strategy="off", method="switch")


@pytest.mark.parametrize("mode", MODES)
def test_budget_zero_for_a_model_that_cannot_stop_thinking_asks_plainly(mode: str) -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.push(Reply(reasoning=THOUGHT, answer="42"))
        answer, _ = ask_with_client(mode, srv, model="openai/gpt-oss-20b", thinking_budget=0)
        srv.wait_idle()
        (gen,) = [r for r in srv.requests if r.script is not None]
    body = gen.body or {}
    assert "chat_template_kwargs" not in body
    assert "reasoning_effort" not in body
    assert answer.text == "42"
    assert answer.reasoning == THOUGHT
    assert answer.budget is not None
    assert (answer.budget.strategy, answer.budget.method) == ("off", None)


def test_budget_zero_is_also_the_repair_turns_thinking_off_and_negative_is_refused() -> None:
    assert terse.Budget(tokens=0).tokens == 0
    with pytest.raises(terse.UsageError, match=">= 0"):
        terse.Budget(tokens=-1)
    with FakeServer(dialect="vllm") as srv:
        srv.push(
            Reply(reasoning=THOUGHT, answer="forty-two"), Reply(reasoning=THOUGHT, answer="42")
        )
        answer = ask("sync", srv, response_model=int, repair_budget=0)
        srv.wait_idle()
        first, repair = [r.body or {} for r in srv.requests if r.script is not None]
    assert answer.value == 42
    assert "chat_template_kwargs" not in first
    assert repair["chat_template_kwargs"] == {"enable_thinking": False}


# --- 12: a probe says what it verified and what it assumed ------------------------------------

PROBES = [
    # (fake dialect, FakeServer options, generate, dialect, native budget, reasoning, verified)
    ("deepseek", {}, False, "deepseek", False, None, {"dialect"}),
    ("ollama", {}, False, "ollama", False, None, {"dialect"}),
    ("ollama", {}, True, "ollama", False, "field", {"dialect", "reasoning"}),
    ("inline", {}, False, "openai-compatible", False, None, set()),
    ("inline", {}, True, "openai-compatible", False, "inline", {"reasoning"}),
    (
        "inline-close-only",
        {},
        True,
        "openai-compatible",
        False,
        "close-only",
        {"reasoning", "template_opens_thinking"},
    ),
    ("vllm", {}, False, "vllm", None, None, {"dialect"}),
    ("vllm", {}, True, "vllm", False, "field", {"dialect", "native_budget", "reasoning"}),
    (
        "vllm",
        {"vllm_reasoning_config": True},
        True,
        "vllm",
        True,
        "field",
        {"dialect", "native_budget", "reasoning"},
    ),
    ("vllm-old", {}, True, "vllm", False, "field", {"dialect", "native_budget", "reasoning"}),
    ("sglang", {}, False, "sglang", False, None, {"dialect", "native_budget"}),
    ("llamacpp", {}, False, "llamacpp", True, None, {"dialect", "template_opens_thinking"}),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("fake", "options", "generate", "dialect", "native", "reasoning", "verified"), PROBES
)
def test_probe_marks_each_finding_verified_or_assumed(
    fake: str,
    options: dict[str, Any],
    generate: bool,
    dialect: str,
    native: bool | None,
    reasoning: str | None,
    verified: set[str],
    mode: str,
) -> None:
    with FakeServer(dialect=fake, **options) as srv:
        srv.push(Reply(reasoning="The user wants the word OK. So I say OK.", answer="OK"))
        if mode == "sync":
            with terse.Client(base_url=srv.base_url, timeout=10.0) as client:
                info = client.probe(generate=generate)
        else:

            async def go() -> terse.ServerInfo:
                async with terse.AsyncClient(base_url=srv.base_url, timeout=10.0) as client:
                    return await client.probe(generate=generate)

            info = asyncio.run(go())
        srv.wait_idle()
        generated = [r for r in srv.requests if r.path.endswith("/chat/completions")]
    assert (info.dialect, info.native_budget, info.reasoning) == (dialect, native, reasoning)
    facts = ("dialect", "native_budget", "template_opens_thinking", "reasoning")
    assert {f for f in facts if info.verified(f)} == verified, info.evidence
    for fact in facts:
        assert info.evidence[fact].startswith(("verified:", "assumed:", "unknown")), info.evidence
    assert bool(generated) is generate  # no generation unless asked for one


def test_probe_takes_a_dialect_from_the_url_only_as_an_assumption() -> None:
    from terse._core.flow import probe_flow
    from terse._exceptions import ServerError
    from terse._results import Usage
    from terse._wire.assemble import Outcome

    flow = probe_flow(url_hint="deepseek")
    not_found = Outcome("", "", True, None, Usage(), 0, error=ServerError(404, "nope", ""))
    paths = []
    op = next(flow)
    try:
        while True:
            paths.append(op.path)
            op = flow.send(not_found)  # nothing at the server answers
    except StopIteration as stop:
        info = stop.value
    assert paths == ["/props", "/server_info", "/version", "/api/version", "/v1/models"]
    assert info.dialect == "deepseek"
    assert info.evidence["dialect"] == "assumed: from the URL alone"
    assert not info.verified("dialect")


def test_cli_probe_prints_how_each_finding_is_known(capsys: pytest.CaptureFixture[str]) -> None:
    from terse._cli.main import main

    with FakeServer(dialect="vllm") as srv:
        srv.push(Reply(reasoning="The user wants OK and nothing more.", answer="OK"))
        assert main(["probe", srv.base_url, "--generate", "--json"]) == 0
        found = json.loads(capsys.readouterr().out)
        assert main(["probe", srv.base_url]) == 0
        text = capsys.readouterr().out
    assert found["dialect"] == "vllm"
    assert found["native_thinking_budget"] is False
    assert found["reasoning"] == "field"
    assert found["evidence"]["native_thinking_budget"].startswith("verified: refused with a 400")
    assert "native thinking budget   unknown  (unknown: vLLM refuses" in text
    assert "dialect                  vllm  (verified: GET /version" in text


# --- 14: a conclusion streams as it comes ------------------------------------------------------

LONG_ANSWER = " ".join(f"word{i}" for i in range(40))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("dialect", "method"),
    [("llamacpp", "llamacpp-completion"), ("vllm", "chat-prefill"), ("sglang", "chat-prefill")],
)
def test_a_concluded_answer_streams_while_the_server_is_still_writing_it(
    dialect: str, method: str, mode: str
) -> None:
    budget = terse.Budget(tokens=16, native=False)
    with FakeServer(dialect=dialect, tokens_per_second=100) as srv:
        srv.push(Runaway(answer=LONG_ANSWER))
        events: list[Any] = []
        busy_at_first_piece: list[bool] = []

        def take(event: Any) -> None:
            if isinstance(event, terse.AnswerDelta) and not busy_at_first_piece:
                last = srv.requests[-1]  # the conclusion, still generating?
                busy_at_first_piece.append(last.continuation and last.finish_reason is None)
            events.append(event)

        if mode == "sync":
            with (
                terse.Client(base_url=srv.base_url, model="m", timeout=10.0) as client,
                client.stream("Why?", thinking_budget=budget) as stream,
            ):
                for event in stream:
                    take(event)
        else:

            async def go() -> None:
                async with (
                    terse.AsyncClient(base_url=srv.base_url, model="m", timeout=10.0) as client,
                    client.stream("Why?", thinking_budget=budget) as stream,
                ):
                    async for event in stream:
                        take(event)

            asyncio.run(go())
    final = events[-1]
    assert isinstance(final, terse.Final)
    assert final.answer.budget is not None
    assert final.answer.budget.method == method
    pieces = [e.text for e in events if isinstance(e, terse.AnswerDelta)]
    # One piece per generated token, not one piece when the conclusion ends; the first
    # arrived while the server was still generating the conclusion.
    assert len(pieces) >= 30, pieces
    assert busy_at_first_piece == [True]
    assert "".join(pieces) == final.answer.text == LONG_ANSWER


def test_a_close_tag_the_model_writes_in_a_conclusion_never_reaches_the_answer() -> None:
    from terse._server.dialects import dialect_named
    from terse._wire.assemble import Assembler

    text = "Paris</think>\n\nParis is the capital.</th" + "ink> Done."
    for size in (1, 2, 3, 7, len(text)):
        asm = Assembler(dialect=dialect_named("llamacpp"), answer_only=True)
        shown = []
        for i in range(0, len(text), size):
            chunk = {"choices": [{"index": 0, "text": text[i : i + size]}]}
            line = "data: " + json.dumps(chunk)
            shown += [e.text for e in asm.feed_line(line)]
        shown += [e.text for e in asm.flush()]
        out = asm.result()
        assert out.error is None
        assert out.text == "Paris\n\nParis is the capital. Done.", size
        assert "".join(shown) == out.text, size
        assert not any("<" in piece for piece in shown)


# --- 17: what ran out, and the setting that fixes it --------------------------------------------

EIGHT = "one two three four five six seven eight"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dialect", ["llamacpp", "vllm", "sglang"])
def test_a_conclusion_cut_by_its_answer_tokens_names_budget_answer_tokens(
    dialect: str, mode: str
) -> None:
    budget = terse.Budget(tokens=16, native=False, answer_tokens=5)
    with FakeServer(dialect=dialect, tokens_per_second=200) as srv:
        srv.push(Runaway(answer=EIGHT))
        with pytest.raises(terse.AnswerTruncated) as info:
            ask(mode, srv, thinking_budget=budget)
        srv.wait_idle()
        gens = [r for r in srv.requests if r.script is not None or r.continuation]
    err = info.value
    assert "raise Budget.answer_tokens" in str(err)
    assert "5 answer tokens" in str(err)
    assert "max_tokens" not in str(err)
    assert err.text == "one two three four five"
    assert err.reasoning.strip().startswith("hmm")
    # The cut request and one conclusion: no re-thinking fallback after the answer ran out.
    assert len(gens) == 2
    generating = [a for a in err.attempts if a.endpoint != "apply-template"]
    assert [a.purpose for a in generating] == ["ask", "conclude"]


@pytest.mark.parametrize("mode", MODES)
def test_a_native_budget_answer_cut_by_its_allowance_names_budget_answer_tokens(
    mode: str,
) -> None:
    with FakeServer(dialect="llamacpp", tokens_per_second=200) as srv:
        srv.push(Runaway(answer=EIGHT))
        with pytest.raises(terse.AnswerTruncated) as info:
            ask(mode, srv, thinking_budget=terse.Budget(tokens=16, answer_tokens=5))
        srv.wait_idle()
        (gen,) = [r for r in srv.requests if r.script is not None]
    assert gen.body is not None
    assert gen.body["reasoning_budget_tokens"] == 16
    assert "raise Budget.answer_tokens" in str(info.value)
    assert info.value.text


def test_the_callers_own_max_tokens_keeps_the_max_tokens_advice() -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.push(Reply(reasoning="Short thought.", answer=EIGHT))
        with pytest.raises(terse.AnswerTruncated, match="raise max_tokens"):
            ask("sync", srv, thinking_budget=64, max_tokens=8)


def test_retrying_a_truncated_conclusion_doubles_its_answer_tokens() -> None:
    budget = terse.Budget(tokens=16, native=False, answer_tokens=5)
    with FakeServer(dialect="vllm", tokens_per_second=200) as srv:
        srv.push(Runaway(answer=EIGHT), Runaway(answer=EIGHT))
        answer = ask(
            "sync",
            srv,
            thinking_budget=budget,
            retry_policy=terse.RetryPolicy(retry=terse.retry_if_truncated),
        )
        srv.wait_idle()
        conclusions = [r.body or {} for r in srv.requests if r.continuation]
    assert answer.text == EIGHT
    assert [c["max_tokens"] for c in conclusions] == [5, 10]
    assert [a.purpose for a in answer.attempts] == ["ask", "conclude", "retry", "conclude"]


# --- 18: the same output gets the same verdict under either llama.cpp reasoning format ---------


@pytest.mark.parametrize(
    ("finish", "verdict"), [("stop", terse.NoAnswer), ("length", terse.ThinkingTruncated)]
)
def test_unclosed_thinking_gets_one_verdict_whether_the_server_splits_it_or_not(
    finish: str, verdict: type[Exception]
) -> None:
    from terse._server.dialects import dialect_named
    from terse._wire.assemble import Assembler

    thought = "The user asks about lighthouses. A lighthouse"
    shapes = {
        # --reasoning-format deepseek: the parser files it all as reasoning
        "deepseek": [{"reasoning_content": thought}],
        # --reasoning-format none: the template's <think> and the thought, in content
        "none": [{"content": "<think>\n" + thought}],
    }
    for name, deltas in shapes.items():
        asm = Assembler(dialect=dialect_named("llamacpp"), thinking_open=True)
        for delta in deltas:
            asm.feed_chunk({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        asm.feed_chunk({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        out = asm.result()
        assert type(out.error) is verdict, (name, out.error)
        assert out.error is not None
        assert out.reasoning.strip() == thought, name
        assert out.text == "", name


# llama.cpp --reasoning-format none: the think tags arrive in content, the budget is the server's
NONE_FORMAT = dataclasses.replace(
    DIALECTS["llamacpp"],
    name="llamacpp-none",
    reasoning_keys=(),
    inline=("<think>\n", "\n</think>\n\n"),
)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dialect", [NONE_FORMAT, DIALECTS["llamacpp"]], ids=["none", "deepseek"])
def test_llamacpp_native_budget_is_used_under_either_reasoning_format(
    dialect: Any, mode: str
) -> None:
    with FakeServer(dialect=dialect, tokens_per_second=200) as srv:
        srv.push(Runaway(answer="42"))
        answer = ask(mode, srv, thinking_budget=terse.Budget(tokens=16))
        srv.wait_idle()
        gens = [r for r in srv.requests if r.script is not None or r.continuation]
    (gen,) = gens  # the server closed the thinking: no cut, no conclusion
    assert gen.body is not None
    assert gen.body["reasoning_budget_tokens"] == 16
    assert not gen.disconnected
    assert answer.text == "42"
    assert answer.budget is not None
    assert (answer.budget.hit, answer.budget.strategy) == (True, "native")
    assert "<think>" not in answer.reasoning
    assert answer.reasoning.count("hmm") == 16
