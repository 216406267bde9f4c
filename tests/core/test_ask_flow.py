"""`ask_flow` on its own: driven with scripted `Outcome`s, and over the in-process transport.

The first half sends the generator the outcomes a server would have produced and checks
the operations it yields (requests, sleeps, new attempts) and what it returns or raises:
retries, re-asks, budget conclusions, the deadline and the token cap, on a fake clock. The
second half drives `Client`/`AsyncClient` over `InProcessTransport`, which feeds scripted
raw bytes (SSE text, JSON bodies) through the real `Reader` and `Assembler` with every
socket connect refused, so nothing here can be HTTP.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Generator
from typing import Any

import pytest
from tenacity import stop_after_attempt, stop_after_delay, wait_fixed

import terse
from terse._client.transport import (
    AsyncInProcessTransport,
    InProcessTransport,
    Scripted,
    sse,
)
from terse._core.flow import DEFAULT_MAX_TOKENS, Call, Memo, Settings, Sleep, ask_flow
from terse._core.retry import DEFAULT_RETRY, wait_retry_after
from terse._results import NewAttempt, ReasoningDelta, Usage
from terse._server.dialects import dialect_named
from terse._wire.assemble import Outcome

# -- driving the generator with scripted outcomes ------------------------------------------------


class Clock:
    """A fake monotonic clock: sleeps and slow requests move it, nothing else does."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ok(text: str = "Paris", reasoning: str = "Hmm.", tokens: int = 10) -> Outcome:
    usage = Usage(answer_tokens=tokens, total_tokens=tokens, source="server")
    return Outcome(reasoning, text, True, "stop", usage, 3)


def failed(error: terse.TerseError, tokens: int = 0) -> Outcome:
    usage = Usage(total_tokens=tokens, answer_tokens=tokens, source="server")
    return Outcome("", "", True, None, usage, 0, error=error)


def settings(**kw: Any) -> Settings:
    base: dict[str, Any] = {
        "model": "m",
        "messages": ({"role": "user", "content": "Capital of France?"},),
        "request": {},
        "stop": stop_after_attempt(3),
        "wait": wait_retry_after(),
        "retry": DEFAULT_RETRY,
    }
    return Settings(**{**base, **kw})


class Run:
    """Drives one flow: answers each `Call` with the next scripted outcome."""

    def __init__(self, outcomes: list[Outcome | Any], clock: Clock | None = None) -> None:
        self.outcomes = list(outcomes)
        self.clock = clock or Clock()
        self.ops: list[Any] = []
        self.calls: list[Call] = []

    def __call__(
        self, s: Settings, memo: Memo | None = None
    ) -> terse.Answer[Any]:  # the answer, or what the flow raised
        flow = ask_flow(s, memo or Memo(), clock=self.clock)
        return self.drive(flow)

    def drive(self, flow: Generator[Any, Any, Any]) -> Any:
        result: Any = None
        while True:
            try:
                op = flow.send(result)
            except StopIteration as stop:
                return stop.value
            self.ops.append(op)
            result = None
            if isinstance(op, Sleep):
                self.clock.now += op.seconds
            elif isinstance(op, Call):
                self.calls.append(op)
                assert self.outcomes, f"no outcome scripted for {op.endpoint} ({op.purpose})"
                got = self.outcomes.pop(0)
                if callable(got):  # a step that also moves the clock
                    got = got(self.clock)
                result = got

    def kinds(self) -> list[str]:
        names = {Call: "call", Sleep: "sleep", NewAttempt: "new", ReasoningDelta: "replay"}
        return [names[type(op)] for op in self.ops]


def test_one_request_builds_the_body_and_accounts() -> None:
    seen: list[terse.Attempt] = []
    run = Run([ok()])
    answer = run(settings(on_attempt=seen.append))
    assert (answer.text, answer.reasoning, answer.value) == ("Paris", "Hmm.", "Paris")
    (call,) = run.calls
    assert call.endpoint == "chat"
    assert call.purpose == "ask"
    assert not call.stream
    assert call.body is not None
    assert call.body["model"] == "m"
    assert call.body["messages"] == [{"role": "user", "content": "Capital of France?"}]
    assert call.body["max_tokens"] == DEFAULT_MAX_TOKENS  # every request carries a cap
    assert [a.outcome for a in answer.attempts] == ["ok"]
    assert seen == list(answer.attempts)
    assert answer.usage.total_tokens == 10


def test_a_transport_fault_is_retried_after_a_backoff() -> None:
    run = Run([failed(terse.ServerError(503, "busy", "")), ok()])
    answer = run(settings())
    assert run.kinds() == ["call", "new", "sleep", "call"]
    new = run.ops[1]
    assert (new.number, new.reason) == (2, "server")
    assert run.ops[2].seconds > 0
    assert [c.purpose for c in run.calls] == ["ask", "retry"]
    assert [a.outcome for a in answer.attempts] == ["server", "ok"]


def test_retry_after_is_honoured() -> None:
    limited = terse.RateLimited(429, "slow down", "", retry_after=3.0)
    run = Run([failed(limited), ok()])
    run(settings())
    assert [op.seconds for op in run.ops if isinstance(op, Sleep)] == [3.0]


def test_attempts_run_out() -> None:
    run = Run([failed(terse.ServerError(503, "busy", "")) for _ in range(3)])
    with pytest.raises(terse.RetriesExhausted) as info:
        run(settings())
    assert info.value.reason == "attempts"
    assert len(info.value.attempts) == 3
    assert len(run.calls) == 3


def test_a_client_error_is_not_retried() -> None:
    run = Run([failed(terse.ServerError(400, "bad request", ""))])
    with pytest.raises(terse.ServerError) as info:
        run(settings())
    assert info.value.status == 400
    assert len(run.calls) == 1
    assert [a.outcome for a in info.value.attempts] == ["server"]  # the cost is kept


def test_a_retry_policy_reads_the_flows_own_clock() -> None:
    """stop_after_delay counts on the flow's clock: tenacity strategies read RetryState."""

    def slow(clock: Clock) -> Outcome:
        clock.now += 4.0
        return failed(terse.ServerError(503, "busy", ""))

    run = Run([slow, slow, slow])
    s = settings(stop=stop_after_delay(6), wait=wait_fixed(0))
    with pytest.raises(terse.RetriesExhausted) as info:
        run(s)
    assert info.value.reason == "attempts"
    assert len(run.calls) == 2


def test_an_invalid_answer_is_reasked_with_feedback_and_no_wait() -> None:
    run = Run([ok("I am not sure."), ok("42")])
    answer = run(settings(response_model=int))
    assert answer.value == 42
    assert run.kinds() == ["call", "new", "call"]  # a re-ask does not wait
    first, second = run.calls
    assert second.purpose == "reask"
    assert second.body is not None
    assert first.body is not None
    sent = second.body["messages"]
    assert sent[: len(first.body["messages"])] == first.body["messages"]
    assert sent[-2] == {"role": "assistant", "content": "I am not sure."}  # answer only
    assert sent[-1]["role"] == "user"
    assert "Hmm." not in json.dumps(sent)
    assert [a.outcome for a in answer.attempts] == ["invalid", "ok"]


def test_a_repair_turn_can_switch_thinking_off() -> None:
    memo = Memo(dialect=dialect_named("vllm"))
    run = Run([ok("unsure"), ok("7")])
    answer = run(settings(response_model=int, repair_budget="off"), memo)
    assert answer.value == 7
    assert run.calls[1].thinking_disabled
    assert not run.calls[0].thinking_disabled
    assert run.calls[1].body is not None
    assert run.calls[1].body["chat_template_kwargs"] == {"enable_thinking": False}


def test_a_budget_hit_is_concluded() -> None:
    memo = Memo(dialect=dialect_named("vllm"), native_ok=False)
    cut = Outcome("long thought", "", False, None, Usage(reasoning_tokens=20), 20, cut=True)
    run = Run([cut, ok("Paris", reasoning="")])
    answer = run(settings(budget=terse.Budget(tokens=20)), memo)
    assert answer.text == "Paris"
    first, second = run.calls
    assert first.stream
    assert first.limit is not None
    assert first.limit.tokens == 20
    assert second.purpose == "conclude"
    assert answer.budget is not None
    assert answer.budget.hit
    assert answer.budget.strategy == "conclude"
    assert answer.reasoning.startswith("long thought")
    assert [a.purpose for a in answer.attempts] == ["ask", "conclude"]


def test_a_budget_can_raise_instead() -> None:
    memo = Memo(dialect=dialect_named("vllm"), native_ok=False)
    cut = Outcome("long thought", "", False, None, Usage(), 20, cut=True)
    run = Run([cut])
    with pytest.raises(terse.ThinkingBudgetExceeded) as info:
        run(settings(budget=terse.Budget(tokens=20, on_exceed="raise")), memo)
    assert info.value.reasoning == "long thought"
    assert len(run.calls) == 1


def test_requests_carry_the_deadline_and_a_clamped_timeout() -> None:
    clock = Clock()
    run = Run([ok()], clock)
    run(settings(deadline=5.0, timeout=600.0))
    (call,) = run.calls
    assert call.deadline_at == clock.now + 5.0
    assert call.timeout == 5.0  # no request may outlast what is left of the call


def test_the_deadline_ends_the_retries() -> None:
    def late(clock: Clock) -> Outcome:
        clock.now += 6.0
        return failed(terse.ServerError(503, "busy", ""))

    run = Run([late])
    with pytest.raises(terse.RetriesExhausted) as info:
        run(settings(deadline=5.0))
    assert info.value.reason == "deadline"
    assert len(run.calls) == 1


def test_a_wait_past_the_deadline_is_not_slept() -> None:
    limited = terse.RateLimited(429, "slow down", "", retry_after=30.0)
    run = Run([failed(limited)])
    with pytest.raises(terse.RetriesExhausted) as info:
        run(settings(deadline=10.0))
    assert info.value.reason == "deadline"
    assert not any(isinstance(op, Sleep) for op in run.ops)


def test_the_token_cap_lowers_max_tokens_and_stops_retries() -> None:
    run = Run([failed(terse.ServerError(503, "busy", ""), tokens=40)])
    with pytest.raises(terse.RetriesExhausted) as info:
        run(settings(max_total_tokens=40))
    assert info.value.reason == "tokens"
    assert run.calls[0].body is not None
    assert run.calls[0].body["max_tokens"] == 40


def test_a_truncated_answer_under_the_token_cap_is_not_retried() -> None:
    cutoff = terse.AnswerTruncated("cut", text="Par", finish_reason="length")
    run = Run([failed(cutoff, tokens=30)])
    s = settings(max_total_tokens=30, retry=DEFAULT_RETRY | terse.retry_if_truncated)
    with pytest.raises(terse.RetriesExhausted) as info:
        run(s)
    assert info.value.reason == "tokens"


# -- the in-process transport: real bytes, real assembler, no sockets ---------------------------


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"an in-process test opened a connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def body(content: str, reasoning: str = "", finish: str = "stop") -> str:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        message["reasoning_content"] = reasoning
    return json.dumps(
        {
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
        }
    )


def chunks(reasoning: list[str], answer: list[str]) -> list[str]:
    deltas = [{"reasoning_content": r} for r in reasoning] + [{"content": a} for a in answer]
    pieces = [{"choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    pieces.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return sse(*pieces)


def client_over(transport: Any, **kw: Any) -> terse.Client:
    client = terse.Client(base_url="http://in-process.invalid/v1", model="m", **kw)
    client._transport = transport
    return client


def test_a_client_over_the_in_process_transport() -> None:
    transport = InProcessTransport([Scripted(body("Paris", reasoning="France's capital."))])
    answer = client_over(transport, dialect="vllm").ask("Capital of France?")
    assert (answer.text, answer.reasoning) == ("Paris", "France's capital.")
    assert answer.usage.prompt_tokens == 5
    (call,) = transport.calls
    assert call.body is not None
    assert call.body["messages"][0]["content"] == "Capital of France?"


def test_a_stream_over_the_in_process_transport() -> None:
    transport = InProcessTransport([Scripted(chunks(["Think", "ing."], ["Par", "is"]))])
    client = client_over(transport, dialect="vllm", thinking_open=False)
    with client.stream("Capital of France?") as s:
        events = list(s)
    assert "".join(e.text for e in events if isinstance(e, terse.ReasoningDelta)) == "Thinking."
    assert "".join(e.text for e in events if isinstance(e, terse.AnswerDelta)) == "Paris"
    assert transport.calls[0].stream


def test_inline_think_tags_are_split_from_the_bytes() -> None:
    transport = InProcessTransport([Scripted(body("<think>Hmm.</think>\n\n42"))])
    answer = client_over(transport, dialect="vllm").ask("6*7?", response_model=int)
    assert (answer.value, answer.reasoning.strip()) == (42, "Hmm.")


def test_a_rate_limit_then_a_dropped_stream_then_an_answer() -> None:
    transport = InProcessTransport(
        [
            Scripted(
                '{"error": {"message": "slow down"}}', status=429, headers={"Retry-After": "0"}
            ),
            Scripted([*chunks(["Thinking"], [])[:1], terse.ConnectionFailed("reset by peer")]),
            Scripted(body("Paris"), content_type="application/json"),  # JSON to a stream
        ]
    )
    client = client_over(transport, dialect="vllm", thinking_open=False)
    with client.stream("Capital of France?") as s:
        answer = s.get_answer()
    assert answer.text == "Paris"
    assert [a.outcome for a in answer.attempts] == ["server", "transport", "ok"]
    assert isinstance(answer.attempts[0].error, terse.RateLimited)
    assert answer.attempts[0].error.message == "slow down"


def test_a_body_past_the_limit_is_refused() -> None:
    transport = InProcessTransport([Scripted(["{" + " " * 600, " " * 600 + "}"])])
    client = client_over(transport, dialect="vllm", limits=terse.Limits(body=1000))
    with pytest.raises(terse.ResponseTooLarge) as info:
        client.ask("q", max_retries=0)
    assert info.value.limit == "body"


def test_a_budget_cuts_the_scripted_stream_and_concludes() -> None:
    thoughts = [f" step{i}" for i in range(200)]
    transport = InProcessTransport(
        [Scripted(chunks(thoughts, ["never read"])), Scripted(body("Paris"))]
    )
    client = client_over(transport, dialect="vllm", thinking_open=False)
    answer = client.ask("q", thinking_budget=terse.Budget(tokens=30, native=False))
    assert answer.text == "Paris"
    assert "never read" not in answer.text
    assert answer.budget is not None
    assert answer.budget.hit
    assert 30 <= answer.budget.reasoning_tokens < 60  # reading stopped near the budget
    first, second = transport.calls
    assert (first.purpose, first.stream) == ("ask", True)  # a budget is read as a stream
    assert (second.purpose, second.stream) == ("conclude", False)
    assert second.body is not None
    assert "step0" in json.dumps(second.body["messages"])  # the cut thought, continued


@pytest.mark.parametrize("pieces", ["one per event", "one burst"])
def test_a_budget_cut_does_not_depend_on_how_the_bytes_were_split(pieces: str) -> None:
    # A server (or a proxy between) may deliver hundreds of events in one read: the cut
    # must land where one event per read would put it, not at the end of the burst.
    events = chunks([f" step{i}" for i in range(400)], ["never read"])
    script = events if pieces == "one per event" else ["".join(events)]
    transport = InProcessTransport([Scripted(script), Scripted(body("Paris"))])
    client = client_over(transport, dialect="vllm", thinking_open=False)
    answer = client.ask("q", thinking_budget=terse.Budget(tokens=30, native=False))
    assert answer.text == "Paris"
    assert answer.budget is not None
    assert 30 <= answer.budget.reasoning_tokens < 40
    continued = json.dumps(transport.calls[1].body)
    assert "step5" in continued
    assert "step40" not in continued  # reasoning past the cut is not sent back


def test_a_scripted_probe() -> None:
    props = json.dumps({"build_info": "b1", "chat_template": "{{ x }}<think>\n"})
    rendered = json.dumps({"prompt": "<|user|>hi<|assistant|><think>\n"})
    transport = InProcessTransport([Scripted(props), Scripted(rendered)])
    info = client_over(transport).probe()
    assert info.dialect == "llamacpp"
    assert info.template_opens_thinking is True
    assert [(c.endpoint, c.path) for c in transport.calls] == [
        ("get", "/props"),
        ("apply-template", ""),
    ]


def test_a_function_can_answer_each_call() -> None:
    def serve(call: Call) -> Scripted:
        assert call.body is not None
        question = call.body["messages"][-1]["content"]
        return Scripted(body("yes" if "?" in question else "no"))

    client = client_over(InProcessTransport(serve), dialect="vllm")
    assert client.ask("Is it?").text == "yes"
    assert client.ask("It is.").text == "no"


async def test_the_async_client_over_the_in_process_transport() -> None:
    transport = AsyncInProcessTransport(
        [
            Scripted("{}", status=503, headers={"retry-after": "0"}),
            Scripted(chunks(["Hmm"], ["4", "2"])),
        ]
    )
    client = terse.AsyncClient(base_url="http://in-process.invalid/v1", model="m", dialect="vllm")
    client._transport = transport
    seen: list[Any] = []
    async with client.stream("6*7?", response_model=int) as s:
        async for event in s:
            seen.append(event)
    answer = await s.get_answer()
    assert answer.value == 42
    assert answer.reasoning == "Hmm"
    assert any(isinstance(e, terse.NewAttempt) for e in seen)
    assert [a.outcome for a in answer.attempts] == ["server", "ok"]
