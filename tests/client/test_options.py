"""Call options mean what openai-python means; typos and bad values never reach the server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import openai
import pytest
from tenacity import stop_after_attempt, wait_none

import terse
from terse.testing import Drop, Fail, FakeServer, Hang, Reply, Runaway

MODES = ["sync", "async"]
NO_WAIT = terse.RetryPolicy(wait=wait_none())


def ask(mode: str, srv: FakeServer, *, client: dict[str, Any] | None = None, **kw: Any) -> Any:
    opts: dict[str, Any] = {"model": "m", "timeout": 10.0, **(client or {})}
    if mode == "sync":
        with terse.Client(base_url=srv.base_url, **opts) as c:
            return c.ask("How many?", **kw)

    async def go() -> Any:
        async with terse.AsyncClient(base_url=srv.base_url, **opts) as c:
            return await c.ask("How many?", **kw)

    return asyncio.run(go())


def events_of(mode: str, srv: FakeServer, **kw: Any) -> list[terse.StreamEvent]:
    if mode == "sync":
        c = terse.Client(base_url=srv.base_url, model="m", timeout=10.0)
        with c, c.stream("How many?", **kw) as s:
            events = list(s)
            assert s.text == events[-1].answer.text  # type: ignore[union-attr]
            return events

    async def go() -> list[terse.StreamEvent]:
        c = terse.AsyncClient(base_url=srv.base_url, model="m", timeout=10.0)
        async with c, c.stream("How many?", **kw) as s:
            events = [e async for e in s]
            assert s.text == events[-1].answer.text  # type: ignore[union-attr]
            return events

    return asyncio.run(go())


def chats(srv: FakeServer) -> list[Any]:
    srv.wait_idle()
    return [r for r in srv.requests if r.path.endswith("/chat/completions")]


# -- 1. stop= is OpenAI's stop sequences -----------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_stop_is_sent_as_stop_sequences_on_every_attempt(mode: str) -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.push(Fail(500), Reply(answer="2"))
        answer = ask(mode, srv, stop=["\n\n", "END"], retry_policy=NO_WAIT)
        sent = chats(srv)
    assert answer.text == "2"
    assert len(sent) == 2
    for rec in sent:
        assert rec.body["stop"] == ["\n\n", "END"]


@pytest.mark.parametrize("mode", MODES)
def test_a_tenacity_stop_in_stop_is_refused_before_any_request(mode: str) -> None:
    with FakeServer(dialect="vllm") as srv:
        with pytest.raises(terse.UsageError, match=r"retry_policy=terse\.RetryPolicy"):
            ask(mode, srv, stop=stop_after_attempt(3))
        assert srv.requests == []


@pytest.mark.parametrize("old", ["wait", "retry"])
def test_old_retry_keywords_say_where_they_went(old: str) -> None:
    with FakeServer(dialect="vllm") as srv:
        with pytest.raises(terse.UsageError, match=f"RetryPolicy\\({old}="):
            ask("sync", srv, **{old: wait_none()})
        assert srv.requests == []


def test_retry_policy_and_max_retries_together_are_refused() -> None:
    with FakeServer(dialect="vllm") as srv:
        with pytest.raises(terse.UsageError, match="not both"):
            ask(
                "sync",
                srv,
                max_retries=1,
                retry_policy=terse.RetryPolicy(stop=stop_after_attempt(2)),
            )
        with pytest.raises(terse.UsageError, match="tenacity strategy"):
            terse.RetryPolicy(stop=3)  # type: ignore[arg-type]
        assert srv.requests == []


def test_client_retry_policy_is_the_default_and_a_call_overrides_it() -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.default = Fail(500)
        policy = terse.RetryPolicy(stop=stop_after_attempt(2), wait=wait_none())
        with pytest.raises(terse.RetriesExhausted) as info:
            ask("sync", srv, client={"retry_policy": policy})
        assert len(info.value.attempts) == 2
        with pytest.raises(terse.RetriesExhausted) as info:
            ask("sync", srv, client={"retry_policy": policy}, max_retries=3)
        assert len(info.value.attempts) == 4


@pytest.mark.parametrize("mode", MODES)
def test_a_stop_sequence_that_fires_inside_the_reasoning_leaves_no_answer(mode: str) -> None:
    # What a server does when the stop string occurs in the thinking: generation ends
    # there, normally, with no answer. terse says so (NoAnswer), never an empty value.
    with FakeServer(dialect="vllm") as srv:
        srv.default = Reply(reasoning="Step one.")
        with pytest.raises(terse.NoAnswer):
            ask(mode, srv, stop=["\n\n"], max_retries=0)


# -- 2. extra_body, extra_headers, extra_query, timeout --------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_request_options_arrive_where_openai_puts_them(mode: str) -> None:
    with FakeServer(dialect="vllm") as srv:
        ask(
            mode,
            srv,
            client={"default_headers": {"X-Team": "a"}, "default_query": {"tenant": "t1"}},
            temperature=0,
            extra_body={"top_k": 20, "chat_template_kwargs": {"enable_thinking": False}},
            extra_headers={"X-Trace": "abc"},
            extra_query={"api-version": "7"},
        )
        rec = chats(srv)[-1]
    assert rec.body["temperature"] == 0
    assert rec.body["top_k"] == 20  # at the top level of the JSON body
    assert rec.body["chat_template_kwargs"] == {"enable_thinking": False}
    assert "extra_body" not in rec.body
    assert "extra_headers" not in rec.body
    assert rec.headers["x-trace"] == "abc"
    assert rec.headers["x-team"] == "a"
    assert parse_qs(rec.query) == {"api-version": ["7"], "tenant": ["t1"]}


def test_client_extra_body_is_the_default_and_a_call_overrides_it() -> None:
    with FakeServer(dialect="vllm") as srv:
        ask(
            "sync", srv, client={"extra_body": {"top_k": 20, "min_p": 0.1}}, extra_body={"top_k": 5}
        )
        body = chats(srv)[-1].body
    assert (body["top_k"], body["min_p"]) == (5, 0.1)


@pytest.mark.parametrize("mode", MODES)
def test_extra_headers_go_with_every_request_of_the_call(mode: str) -> None:
    # A budget on llama.cpp: the probe, the cut request and the conclusion all carry them.
    with FakeServer(dialect="llamacpp", tokens_per_second=200) as srv:
        srv.push(Runaway(answer="42"))
        answer = ask(mode, srv, thinking_budget=16, extra_headers={"X-Trace": "t"})
        srv.wait_idle()
        recs = list(srv.requests)
    assert answer.text == "42"
    assert len(recs) >= 3
    assert all(r.headers.get("x-trace") == "t" for r in recs), [r.path for r in recs]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("make", [lambda: 0.5, lambda: openai.Timeout(0.5)])
def test_timeout_per_call_is_a_request_timeout(mode: str, make: Callable[[], Any]) -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.default = Hang()
        t0 = time.monotonic()
        with pytest.raises(terse.ConnectionFailed):
            ask(mode, srv, timeout=make(), max_retries=0)
        assert time.monotonic() - t0 < 8.0  # the client's own timeout is 10 s


@pytest.mark.parametrize("bad", [-1, 0, "5", float("nan"), True])
def test_bad_timeouts_are_refused(bad: Any) -> None:
    with FakeServer(dialect="vllm") as srv:
        with pytest.raises(terse.UsageError, match="timeout"):
            terse.Client(base_url=srv.base_url, model="m", timeout=bad)
        with pytest.raises(terse.UsageError, match="timeout"):
            ask("sync", srv, timeout=bad)
        assert srv.requests == []


# -- 3. a wrapped client is the caller's ------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_wrapped_clients_timeout_holds(mode: str) -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.default = Hang()
        if mode == "sync":
            oa = openai.OpenAI(base_url=srv.base_url, api_key="k", timeout=0.5)
            call: Callable[[], Any] = terse.Client(oa, model="m", max_retries=0).ask
        else:
            aoa = openai.AsyncOpenAI(base_url=srv.base_url, api_key="k", timeout=0.5)
            aclient = terse.AsyncClient(aoa, model="m", max_retries=0)

            def call(prompt: str) -> Any:
                return asyncio.run(aclient.ask(prompt))

        t0 = time.monotonic()
        with pytest.raises(terse.ConnectionFailed):
            call("q")
        assert time.monotonic() - t0 < 8.0


def test_an_explicit_terse_timeout_overrides_the_wrapped_clients() -> None:
    oa = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="k", timeout=600)
    assert terse.Client(oa, model="m", timeout=3).openai.timeout == 3
    assert terse.Client(oa, model="m").openai.timeout == 600


def test_a_wrapped_client_is_never_closed_but_terses_own_is() -> None:
    with FakeServer(dialect="vllm") as srv:
        oa = openai.OpenAI(base_url=srv.base_url, api_key="k")
        with terse.Client(oa, model="m") as c:
            c.ask("q")
        assert not oa.is_closed()
        assert oa.models.list() is not None  # still usable
        own = terse.Client(base_url=srv.base_url, model="m")
        own.close()
        assert own.openai.is_closed()
        oa.close()


def test_a_wrapped_async_client_is_never_closed_but_terses_own_is() -> None:
    async def go() -> None:
        with FakeServer(dialect="vllm") as srv:
            oa = openai.AsyncOpenAI(base_url=srv.base_url, api_key="k")
            async with terse.AsyncClient(oa, model="m") as c:
                await c.ask("q")
            assert not oa.is_closed()
            await oa.models.list()
            own = terse.AsyncClient(base_url=srv.base_url, model="m")
            await own.close()
            assert own.openai.is_closed()
            await oa.close()

    asyncio.run(go())


# -- 4. typos and unsupported options ----------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("kwargs", "suggestion"),
    [
        ({"temprature": 0}, "temperature="),
        ({"modle": "x"}, "model="),
        ({"response_modle": int}, "response_model="),
        ({"max_token": 5}, "max_tokens="),
        ({"top_k": 20}, "extra_body={'top_k'"),
    ],
)
def test_typos_are_refused_with_a_suggestion_and_send_nothing(
    mode: str, kwargs: dict[str, Any], suggestion: str
) -> None:
    with FakeServer(dialect="vllm") as srv:
        with pytest.raises(terse.UsageError) as info:
            ask(mode, srv, **kwargs)
        assert srv.requests == []
    assert suggestion in str(info.value)


def test_typos_on_the_constructor_are_refused() -> None:
    with pytest.raises(terse.UsageError, match="temperature="):
        terse.Client(base_url="http://127.0.0.1:9/v1", model="m", temprature=0)
    with pytest.raises(terse.UsageError, match="temperature="):
        terse.AsyncClient(base_url="http://127.0.0.1:9/v1", model="m", temprature=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 2}, "n=2 is not supported"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "logprobs"),
        ({"stream": True}, "stream"),
        ({"extra_body": {"stream": True}}, "stream"),
        ({"extra_body": [1]}, "extra_body must be a dict"),
        ({"extra_headers": "x"}, "extra_headers must be a dict"),
        ({"metadata": {"a": object()}}, "metadata= is not JSON serialisable"),
    ],
)
def test_unsupported_options_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with FakeServer(dialect="vllm") as srv:
        with pytest.raises(terse.UsageError, match=match):
            ask("sync", srv, **kwargs)
        assert srv.requests == []


def test_every_create_parameter_of_the_installed_openai_is_accepted() -> None:
    import inspect

    from openai.resources.chat.completions import Completions

    from terse._core.options import CREATE_PARAMS, REQUEST_OPTIONS

    names = {
        n
        for n, p in inspect.signature(Completions.create).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert names - {"messages", "model"} <= CREATE_PARAMS | REQUEST_OPTIONS


@pytest.mark.parametrize("mode", MODES)
def test_plain_create_fields_are_sent_as_is(mode: str) -> None:
    with FakeServer(dialect="vllm") as srv:
        ask(mode, srv, n=1, seed=7, top_p=0.9, user="u1", presence_penalty=openai.NOT_GIVEN)
        body = chats(srv)[-1].body
    assert (body["n"], body["seed"], body["top_p"], body["user"]) == (1, 7, 0.9, "u1")
    assert "presence_penalty" not in body  # openai's "not given" is left out, as openai does


# -- 5. bad values fail before the first request -------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"response_model": "str"}, "not the string 'str'"),
        ({"response_model": 5}, "cannot extract"),
        ({"deadline": -1}, "deadline"),
        ({"deadline": "soon"}, "deadline"),
        ({"max_total_tokens": 0}, "max_total_tokens"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"repair_budget": "of"}, "repair_budget"),
        ({"thinking_budget": "lots"}, "thinking_budget"),
        ({"retry_policy": stop_after_attempt(2)}, "retry_policy"),
        ({"salvage": "yes"}, "salvage"),
        ({"model": 3}, "model"),
    ],
)
def test_bad_values_fail_before_any_request(mode: str, kwargs: dict[str, Any], match: str) -> None:
    with FakeServer(dialect="vllm") as srv:
        with pytest.raises(terse.UsageError, match=match):
            ask(mode, srv, **kwargs)
        assert srv.requests == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"deadline": 0}, "deadline"),
        ({"max_total_tokens": -5}, "max_total_tokens"),
        ({"on_attempt": 3}, "on_attempt"),
        ({"thinking_open": "yes"}, "thinking_open"),
        ({"default_headers": ["x"]}, "default_headers"),
    ],
)
def test_bad_constructor_values_are_refused(kwargs: dict[str, Any], match: str) -> None:
    for cls in (terse.Client, terse.AsyncClient):
        with pytest.raises(terse.UsageError, match=match):
            cls(base_url="http://127.0.0.1:9/v1", model="m", **kwargs)


# -- 6. streams across attempts ------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_reask_starts_a_new_attempt_in_the_stream(mode: str) -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.push(
            Reply(reasoning="Phobos, Deimos.", answer="Mars has two moons."), Reply(answer="2")
        )
        events = events_of(mode, srv, response_model=int, retry_policy=NO_WAIT)
    marks = [e for e in events if isinstance(e, terse.NewAttempt)]
    assert [(m.number, m.reason) for m in marks] == [(2, "invalid")]
    assert isinstance(marks[0].error, terse.ExtractionError)
    cut = events.index(marks[0])
    before = "".join(e.text for e in events[:cut] if isinstance(e, terse.AnswerDelta))
    after = "".join(e.text for e in events[cut:] if isinstance(e, terse.AnswerDelta))
    final = events[-1]
    assert isinstance(final, terse.Final)
    assert before == "Mars has two moons."
    assert after == final.answer.text == "2"
    assert final.answer.value == 2


@pytest.mark.parametrize("mode", MODES)
def test_a_dropped_stream_starts_a_new_attempt(mode: str) -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.push(Drop(after_chunks=4, then=Reply(reasoning="abc", answer="one two three four")))
        srv.push(Reply(reasoning="ok", answer="7"))
        events = events_of(mode, srv, retry_policy=NO_WAIT)
    marks = [e for e in events if isinstance(e, terse.NewAttempt)]
    assert [(m.number, m.reason) for m in marks] == [(2, "transport")]
    tail = events[events.index(marks[0]) + 1 :]
    final = events[-1]
    assert isinstance(final, terse.Final)
    assert "".join(e.text for e in tail if isinstance(e, terse.ReasoningDelta)) == "ok"
    assert final.answer.reasoning == "ok"


@pytest.mark.parametrize("mode", MODES)
def test_a_budget_conclusion_is_not_a_new_attempt(mode: str) -> None:
    with FakeServer(dialect="vllm", tokens_per_second=200) as srv:
        srv.push(Runaway(answer="42"))
        events = events_of(mode, srv, thinking_budget=16)
    final = events[-1]
    assert isinstance(final, terse.Final)
    assert final.answer.budget is not None
    assert final.answer.budget.hit
    assert not any(isinstance(e, terse.NewAttempt) for e in events)
    assert "".join(e.text for e in events if isinstance(e, terse.AnswerDelta)).strip() == "42"


def test_answer_text_refuses_to_join_two_attempts() -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.push(Reply(answer="Mars has two moons."), Reply(answer="2"))
        c = terse.Client(base_url=srv.base_url, model="m")
        with c, c.stream("q", response_model=int, retry_policy=NO_WAIT) as s:
            pieces: list[str] = []
            with pytest.raises(terse.UsageError, match="started over"):
                pieces.extend(s.answer_text())
            assert "".join(pieces) == "Mars has two moons."
        # Without a restart, answer_text is the answer.
        srv.push(Reply(answer="2"))
        c = terse.Client(base_url=srv.base_url, model="m")
        with c, c.stream("q", response_model=int) as s:
            assert "".join(s.answer_text()) == "2"
            assert s.attempt == 1


def test_async_answer_text_refuses_to_join_two_attempts() -> None:
    async def go() -> None:
        with FakeServer(dialect="vllm") as srv:
            srv.push(Reply(answer="Mars has two moons."), Reply(answer="2"))
            c = terse.AsyncClient(base_url=srv.base_url, model="m")
            async with c, c.stream("q", response_model=int, retry_policy=NO_WAIT) as s:
                with pytest.raises(terse.UsageError, match="started over"):
                    async for _ in s.answer_text():
                        pass
                assert s.attempt == 2

    asyncio.run(go())


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_conclusion_restarts_the_answer_and_replays_the_reasoning(mode: str) -> None:
    # vLLM: the budget is cut, the prefill conclusion runs out of the caller's max_tokens
    # (an answer was shown), and the new-turn conclusion answers. What was shown of the
    # failed conclusion is void; the reasoning that stands is streamed again. (Running out
    # of Budget.answer_tokens instead ends the call: see test_budget_paths.)
    with FakeServer(dialect="vllm", tokens_per_second=300) as srv:
        srv.push(Runaway(answer=" ".join(["word"] * 40)))
        srv.default = Reply(answer="42")
        budget = terse.Budget(tokens=16)
        events = events_of(mode, srv, thinking_budget=budget, max_tokens=24)
    marks = [e for e in events if isinstance(e, terse.NewAttempt)]
    assert [(m.number, m.reason) for m in marks] == [(1, "conclude")]
    cut = events.index(marks[0])
    assert any(isinstance(e, terse.AnswerDelta) for e in events[:cut])
    tail = events[cut + 1 :]
    final = events[-1]
    assert isinstance(final, terse.Final)
    assert final.answer.text == "42"
    assert "".join(e.text for e in tail if isinstance(e, terse.AnswerDelta)).strip() == "42"
    assert "".join(e.text for e in tail if isinstance(e, terse.ReasoningDelta)) == (
        final.answer.reasoning
    )


def test_the_migration_page_covers_every_create_option() -> None:
    from pathlib import Path

    from terse._core.options import CREATE_PARAMS, REQUEST_OPTIONS

    page = (Path(__file__).parents[2] / "docs" / "coming-from-openai.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    named = {name for row in rows for name in row.split("|")[1].replace("`", "").split(", ")}
    names = {n.strip() for n in named}
    assert (CREATE_PARAMS | REQUEST_OPTIONS | {"messages", "model"}) <= names


@pytest.mark.parametrize("mode", MODES)
def test_an_openai_timeout_object_also_bounds_the_probes(mode: str) -> None:
    # A stream probes the server first; the probe's bound is read from the Timeout's parts.
    with FakeServer(dialect="vllm") as srv:
        srv.default = Reply(answer="2")
        events = events_of(mode, srv, timeout=openai.Timeout(5.0, connect=2.0))
        assert events[-1].answer.text == "2"  # type: ignore[union-attr]
        assert any(r.path != "/v1/chat/completions" for r in srv.requests)  # it did probe
