"""FakeServer scripts through the real openai client: limits, runaways, continuations,
native budgets, errors, faults, disconnects, and the request log."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import openai
import pytest

from terse.testing import (
    DEFAULT_REPLY,
    Drop,
    Fail,
    FakeServer,
    Hang,
    Malformed,
    Reply,
    Runaway,
    SlowStart,
    tokenize,
)

from .conftest import USER, aclient, client

LONG = " ".join(f"w{i}" for i in range(50))


def chat(srv: FakeServer, **extra: Any) -> Any:
    """One chat request on a fresh client; a stream comes back as the list of its chunks."""
    with client(srv.base_url) as c:
        r = c.chat.completions.create(model="m", messages=extra.pop("messages", USER), **extra)
        return list(r) if extra.get("stream") else r


# --- token limits ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["max_tokens", "max_completion_tokens"])
def test_a_token_limit_cuts_generation_with_finish_reason_length(key: str) -> None:
    with FakeServer("vllm") as srv:
        srv.push(Reply(reasoning=LONG, answer="Paris"))
        r = chat(srv, **{key: 7})
        srv.wait_idle()
    assert r.choices[0].finish_reason == "length"
    assert r.choices[0].message.content is None  # vLLM: everything was reasoning
    assert srv.requests[-1].generated_tokens == 7 == r.usage.completion_tokens


def test_the_limit_counts_reasoning_and_answer_alike() -> None:
    with FakeServer("llamacpp") as srv:
        srv.push(Reply(reasoning="a b c", answer="d e f g"))
        r = chat(srv, max_tokens=5)
    assert r.choices[0].message.to_dict()["reasoning_content"] == "a b c"
    assert r.choices[0].message.content == "d e"
    assert r.choices[0].finish_reason == "length"


def test_a_reply_that_fits_the_limit_exactly_stops_normally() -> None:
    with FakeServer("vllm") as srv:
        srv.push(Reply(answer="a b c"))
        r = chat(srv, max_tokens=3)
    assert r.choices[0].finish_reason == "stop"


def test_reply_finish_reason_overrides_the_true_one() -> None:
    with FakeServer("deepseek") as srv:
        srv.push(Reply(answer='{"city": "Par', finish_reason="length"))
        r = chat(srv)
        stream_finish = [c.choices[0].finish_reason for c in chat(srv, stream=True) if c.choices]
    assert r.choices[0].finish_reason == "length"
    assert stream_finish[-1] == "stop"  # the override belonged to the first request only


def test_runaway_thinks_until_max_tokens_and_never_answers() -> None:
    with FakeServer("sglang") as srv:
        srv.push(Runaway(answer="42", token=" hmm"))
        r = chat(srv, max_tokens=40)
        srv.wait_idle()
    assert r.choices[0].message.to_dict()["reasoning_content"] == " hmm" * 40
    assert r.choices[0].message.content is None
    assert r.usage.to_dict()["reasoning_tokens"] == 40
    rec = srv.requests[-1]
    assert (rec.reasoning_tokens, rec.answer_tokens, rec.finish_reason) == (40, 0, "length")


def test_context_length_bounds_a_runaway_without_max_tokens() -> None:
    with FakeServer("vllm", context_length=300) as srv:
        srv.push(Runaway())
        r = chat(srv)
    assert r.usage.completion_tokens == 300
    assert r.choices[0].finish_reason == "length"


def test_chunk_groups_tokens_into_fewer_chunks() -> None:
    with FakeServer("vllm") as srv:
        srv.push(Reply(answer="a b c d e f g", chunk=3))
        contents = [c.choices[0].delta.content for c in chat(srv, stream=True) if c.choices]
    assert contents == ["", "a b c", " d e f", " g"]


# --- continuation after a runaway -----------------------------------------------------------

CLOSED = "<think>\nhmm hmm\n\nConsidering the limited time, I answer now.\n</think>\n\n"


def _runaway_then(srv: FakeServer, **continuation: Any) -> Any:
    """A runaway request cut by max_tokens, then the given continuation request."""
    srv.push(Runaway(answer="Paris"))
    srv.push(Reply(answer="WRONG: the queue must not serve a continuation"))
    first = chat(srv, max_tokens=8)
    assert first.choices[0].finish_reason == "length"
    return chat(srv, **continuation)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(
            {
                "messages": [*USER, {"role": "assistant", "content": CLOSED}],
                "extra_body": {"continue_final_message": True, "add_generation_prompt": False},
            },
            id="vllm-continue-final",
        ),
        pytest.param(
            {
                "messages": [
                    *USER,
                    {
                        "role": "assistant",
                        "content": "",
                        "reasoning_content": "hmm",
                        "prefix": True,
                    },
                ]
            },
            id="deepseek-prefix",
        ),
        pytest.param(
            {"extra_body": {"chat_template_kwargs": {"enable_thinking": False}}},
            id="enable_thinking-false",
        ),
        pytest.param(
            {"extra_body": {"chat_template_kwargs": {"thinking": False}}}, id="thinking-kwarg-false"
        ),
        pytest.param({"reasoning_effort": "none"}, id="reasoning_effort-none"),
        pytest.param(
            {"extra_body": {"thinking": {"type": "disabled"}}}, id="deepseek-thinking-disabled"
        ),
        pytest.param({"extra_body": {"think": False}}, id="ollama-think-false"),
        pytest.param(
            {
                "messages": [
                    *USER,
                    {
                        "role": "assistant",
                        "content": "<|channel|>analysis<|message|>hm<|end|><|start|>assistant<|channel|>final<|message|>",
                    },
                ]
            },
            id="harmony-final-open",
        ),
    ],
)
def test_a_chat_continuation_answers_from_the_armed_runaway(extra: dict[str, Any]) -> None:
    with FakeServer("vllm") as srv:
        r = _runaway_then(srv, **extra)
        srv.wait_idle()
    message = r.choices[0].message.to_dict()
    assert message["content"] == "Paris"
    assert message["reasoning"] is None
    assert srv.requests[-1].continuation
    assert srv.pending == 1  # the queued Reply is still there


def test_a_raw_completion_continuation_answers_from_the_armed_runaway() -> None:
    with FakeServer("vllm") as srv:
        srv.push(Runaway(answer="Paris"))
        chat(srv, max_tokens=5)
        with client(srv.base_url) as c:
            r = c.completions.create(
                model="m", prompt="<|im_start|>assistant\n<think>\nhmm\n</think>\n\n", max_tokens=50
            )
    assert r.choices[0].text == "Paris"


def test_llamacpp_apply_template_then_completion_continues_with_the_answer() -> None:
    import httpx

    with FakeServer("llamacpp") as srv:
        srv.push(Runaway(answer="Paris"))
        chat(srv, max_tokens=5)
        with httpx.Client(base_url=srv.root_url, timeout=5) as h:
            prompt = h.post("/apply-template", json={"messages": USER}).json()["prompt"]
            assert prompt.endswith("<|im_start|>assistant\n<think>\n")
            done = h.post(
                "/completion", json={"prompt": prompt + "hmm\n</think>\n\n", "n_predict": 20}
            ).json()
    assert done["content"] == "Paris"
    assert (done["stop"], done["stop_type"]) == (True, "eos")


def test_the_runaway_is_used_by_one_continuation_only() -> None:
    with FakeServer("vllm") as srv:
        srv.default = Reply(answer="default")
        srv.push(Runaway(answer="Paris"))
        chat(srv, max_tokens=3)
        off = {"reasoning_effort": "none"}
        assert chat(srv, **off).choices[0].message.content == "Paris"
        assert chat(srv, **off).choices[0].message.content == "default"


def test_a_continuation_without_an_armed_runaway_gets_the_next_script_answer_only() -> None:
    with FakeServer("deepseek") as srv:
        srv.push(Reply(reasoning="secret", answer="Paris"))
        r = chat(srv, extra_body={"thinking": {"type": "disabled"}})
    assert r.choices[0].message.to_dict()["reasoning_content"] is None
    assert r.choices[0].message.content == "Paris"


# --- native thinking budgets ----------------------------------------------------------------


@pytest.mark.parametrize("key", ["reasoning_budget_tokens", "thinking_budget_tokens"])
def test_llamacpp_budget_forces_the_close_then_the_runaway_answers(key: str) -> None:
    message = "\n\nOkay, time to answer.\n"
    with FakeServer("llamacpp") as srv:
        srv.push(Runaway(answer="Paris", token=" hmm"))
        r = chat(srv, max_tokens=500, extra_body={key: 16, "reasoning_budget_message": message})
        srv.wait_idle()
    msg = r.choices[0].message.to_dict()
    assert msg["reasoning_content"] == " hmm" * 16 + message
    assert msg["content"] == "Paris"
    assert r.choices[0].finish_reason == "stop"
    assert srv.requests[-1].reasoning_tokens == 16 + len(tokenize(message))


def test_llamacpp_budget_also_cuts_a_reply_streamed() -> None:
    with FakeServer("llamacpp") as srv:
        srv.push(Reply(reasoning=LONG, answer="Paris"))
        chunks = list(chat(srv, stream=True, extra_body={"reasoning_budget_tokens": 5}))
    reasoning = "".join(
        c.choices[0].delta.to_dict().get("reasoning_content", "") for c in chunks if c.choices
    )
    assert reasoning == "w0 w1 w2 w3 w4"


def test_vllm_budget_without_a_reasoning_config_is_refused() -> None:
    with FakeServer("vllm") as srv:
        srv.push(Runaway())
        with pytest.raises(openai.BadRequestError, match="reasoning_config is not configured"):
            chat(srv, extra_body={"thinking_token_budget": 10})
        assert srv.pending == 1  # a refused request consumes no script


def test_vllm_budget_with_a_reasoning_config_is_enforced() -> None:
    with FakeServer("vllm", vllm_reasoning_config=True) as srv:
        srv.push(Runaway(answer="Paris"))
        r = chat(srv, max_tokens=100, extra_body={"thinking_token_budget": 10})
        srv.wait_idle()
    assert r.choices[0].message.content == "Paris"
    assert srv.requests[-1].reasoning_tokens == 10


@pytest.mark.parametrize(("strict", "reasoning_tokens"), [(False, 30), (True, 4)])
def test_sglang_budget_is_ignored_unless_strict(strict: bool, reasoning_tokens: int) -> None:
    with FakeServer("sglang", sglang_strict=strict) as srv:
        srv.push(Runaway(answer="Paris"))
        r = chat(srv, max_tokens=30, extra_body={"custom_params": {"thinking_budget": 4}})
    assert r.usage.to_dict()["reasoning_tokens"] == reasoning_tokens


@pytest.mark.parametrize("name", ["deepseek", "ollama", "openrouter", "lmstudio", "vllm-old"])
def test_servers_without_a_native_budget_ignore_every_knob(name: str) -> None:
    knobs = {
        "reasoning_budget_tokens": 2,
        "thinking_token_budget": 2,
        "custom_params": {"thinking_budget": 2},
    }
    with FakeServer(name) as srv:
        srv.push(Runaway())
        r = chat(srv, max_tokens=12, extra_body=knobs)
    assert r.usage.completion_tokens == 12
    assert r.choices[0].finish_reason == "length"


# --- errors ---------------------------------------------------------------------------------

ERROR_BODIES = {
    # dialect: the body openai exposes as ``e.body`` for Fail(429, message="slow down")
    "deepseek": {"message": "slow down", "type": "rate_limit_error", "param": None, "code": None},
    "vllm": {"message": "slow down", "type": "Too Many Requests", "param": None, "code": 429},
    "sglang": {
        "object": "error",
        "message": "slow down",
        "type": "Too Many Requests",
        "param": None,
        "code": 429,
    },
    "llamacpp": {"code": 429, "message": "slow down", "type": "rate_limit_error"},
    "ollama": {"message": "slow down", "type": "api_error", "param": None, "code": None},
    "openrouter": {"code": 429, "message": "slow down"},
    "lmstudio": "slow down",
}


@pytest.mark.parametrize("name", sorted(ERROR_BODIES))
def test_a_429_carries_the_servers_error_body_and_retry_after(name: str) -> None:
    with FakeServer(name) as srv:
        srv.push(Fail(429, retry_after=2, message="slow down"))
        with pytest.raises(openai.RateLimitError) as info:
            chat(srv)
    assert info.value.body == ERROR_BODIES[name]
    assert info.value.response.headers["retry-after"] == "2"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, openai.BadRequestError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_fail_raises_openais_class_for_the_status(
    status: int, cls: type[Exception], stream: bool
) -> None:
    with FakeServer("llamacpp") as srv:
        srv.push(Fail(status))
        with pytest.raises(cls) as info:
            chat(srv, stream=stream)
    assert info.value.body["code"] == status  # type: ignore[attr-defined]


def test_llamacpp_400_is_an_invalid_request_error() -> None:
    with FakeServer("llamacpp") as srv:
        srv.push(Fail(400, message="bad"))
        with pytest.raises(openai.BadRequestError) as info:
            chat(srv)
    assert info.value.body == {"code": 400, "message": "bad", "type": "invalid_request_error"}


async def test_async_fail_sequence_then_success() -> None:
    async with FakeServer("vllm") as srv:
        srv.push(Fail(500), Fail(429, retry_after=0), Reply(answer="Paris"))
        async with aclient(srv.base_url) as c:
            for cls in (openai.InternalServerError, openai.RateLimitError):
                with pytest.raises(cls):
                    await c.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
            r = await c.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
    assert r.choices[0].message.content == "Paris"
    assert [q.status for q in srv.requests] == [500, 429, 200]


# --- faults ---------------------------------------------------------------------------------


def test_drop_closes_the_stream_after_n_token_chunks_without_done() -> None:
    seen: list[str] = []

    def read() -> None:
        with client(srv.base_url) as c:
            for chunk in c.chat.completions.create(model="m", messages=USER, stream=True):  # type: ignore[arg-type]
                seen.append(chunk.choices[0].delta.content or "")

    with FakeServer("vllm") as srv:
        srv.push(Drop(after_chunks=3, then=Reply(answer=LONG)))
        # openai 3 wraps the transport error in APIConnectionError; openai 2 lets httpx's through
        with pytest.raises(Exception, match=r"peer closed|Connection error"):
            read()
        srv.wait_idle()
    assert "".join(seen) == "w0 w1 w2"
    rec = srv.requests[-1]
    assert (rec.generated_tokens, rec.finish_reason, rec.disconnected) == (3, None, False)


def test_drop_on_a_non_stream_request_cuts_the_body() -> None:
    with FakeServer("vllm") as srv:
        srv.push(Drop(after_chunks=1))
        with pytest.raises(openai.APIConnectionError):
            chat(srv)


def test_malformed_sends_a_data_line_that_is_not_json() -> None:
    with FakeServer("ollama") as srv, client(srv.base_url) as c:
        srv.push(Malformed(after_chunks=2))
        stream = c.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
        first = [next(stream), next(stream)]
        with pytest.raises(ValueError, match=r"Unterminated|Expecting|Invalid"):
            next(stream)
    assert [c.choices[0].delta.to_dict().get("reasoning") for c in first] == ["The", " user"]


def test_malformed_on_a_non_stream_request_sends_half_a_json_body() -> None:
    with FakeServer("vllm") as srv:
        srv.push(Malformed())
        with pytest.raises(ValueError, match=r"Unterminated|Expecting|Invalid"):
            chat(srv)


def test_slow_start_delays_the_first_byte_then_plays_its_script() -> None:
    with FakeServer("vllm") as srv:
        srv.push(SlowStart(0.2, then=Fail(503)))
        with client(srv.base_url, timeout=0.05) as c, pytest.raises(openai.APITimeoutError):
            c.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
        srv.push(SlowStart(0.05, then=Reply(answer="late")))
        assert chat(srv).choices[0].message.content == "late"


def test_hang_never_answers_and_notes_the_client_leaving() -> None:
    with FakeServer("vllm") as srv:
        srv.push(Hang())
        with client(srv.base_url, timeout=0.2) as c, pytest.raises(openai.APITimeoutError):
            c.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
        deadline = time.monotonic() + 2
        while not srv.requests[-1].disconnected and time.monotonic() < deadline:
            time.sleep(0.01)
        srv.wait_idle()  # a hanging request is not generating
    assert srv.requests[-1].disconnected
    assert srv.requests[-1].status is None


def test_stopping_the_server_does_not_wait_for_hanging_or_running_requests() -> None:
    errors: list[BaseException] = []
    srv = FakeServer("vllm", tokens_per_second=5).start()
    srv.push(Hang(), Runaway())

    def call() -> None:
        try:
            chat(srv)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    while len(srv.requests) < 2:
        time.sleep(0.01)
    closer = threading.Thread(target=srv.close)
    closer.start()
    closer.join(3)
    assert not closer.is_alive()
    for t in threads:
        t.join(3)
    assert len(errors) == 2
    assert all(isinstance(e, openai.APIConnectionError) for e in errors)


# --- disconnects ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vllm", "llamacpp", "inline"])
def test_closing_a_stream_stops_generation_within_two_tokens(name: str) -> None:
    with FakeServer(name, tokens_per_second=50) as srv, client(srv.base_url) as c:
        srv.push(Runaway())
        stream = c.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
        received = 0
        for c in stream:
            delta = c.choices[0].delta.to_dict() if c.choices else {}
            received += bool(
                delta.get("content") or delta.get("reasoning") or delta.get("reasoning_content")
            )
            if received == 10:
                break
        stream.close()
        srv.wait_idle()
    rec = srv.requests[-1]
    assert rec.disconnected
    assert rec.finish_reason is None
    assert 10 <= rec.generated_tokens <= 12


async def test_closing_an_async_stream_stops_generation_within_two_tokens() -> None:
    async with FakeServer("deepseek", tokens_per_second=50) as srv:
        srv.push(Runaway())
        async with aclient(srv.base_url) as c:
            stream = await c.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
            received = 0
            async for chunk in stream:
                received += bool(
                    chunk.choices and chunk.choices[0].delta.to_dict().get("reasoning_content")
                )
                if received == 5:
                    break
            await stream.close()
        await srv.await_idle()
    rec = srv.requests[-1]
    assert rec.disconnected
    assert 5 <= rec.generated_tokens <= 7


def test_a_non_stream_client_timing_out_stops_generation() -> None:
    with FakeServer("vllm", tokens_per_second=100) as srv:
        srv.push(Runaway())
        with client(srv.base_url, timeout=0.3) as c, pytest.raises(openai.APITimeoutError):
            c.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
        srv.wait_idle()
    rec = srv.requests[-1]
    assert rec.disconnected
    assert 0 < rec.generated_tokens < 100


# --- scheduling and the request log ---------------------------------------------------------


def test_queue_comes_before_routes_and_routes_before_the_default() -> None:
    with FakeServer("vllm") as srv:
        srv.default = Reply(answer="default")
        srv.route("France", Reply(answer="route"))
        srv.route(lambda body: body.get("temperature") == 0, Reply(answer="predicate"))
        srv.push(Reply(answer="queued"))
        answers = [
            chat(srv).choices[0].message.content,
            chat(srv).choices[0].message.content,
            chat(srv, messages=[{"role": "user", "content": "x"}], temperature=0)
            .choices[0]
            .message.content,
            chat(srv, messages=[{"role": "user", "content": "x"}]).choices[0].message.content,
        ]
    assert answers == ["queued", "route", "predicate", "default"]


def test_the_default_script_is_a_short_reasoned_ok() -> None:
    with FakeServer("vllm") as srv:
        assert srv.default == DEFAULT_REPLY
        message = chat(srv).choices[0].message.to_dict()
    assert (message["content"], message["reasoning"]) == ("ok", DEFAULT_REPLY.reasoning)


def test_every_request_is_recorded_with_path_headers_and_body() -> None:
    with FakeServer("vllm") as srv:
        with client(srv.base_url) as c:
            c.models.list()
            c.chat.completions.create(model="m", messages=USER, max_tokens=50)  # type: ignore[arg-type]
        srv.wait_idle()
        models, completion = srv.requests
    assert (models.method, models.path, models.body, models.script) == (
        "GET",
        "/v1/models",
        None,
        None,
    )
    assert (completion.method, completion.path) == ("POST", "/v1/chat/completions")
    assert completion.body == {"model": "m", "messages": USER, "max_tokens": 50}
    assert completion.headers["authorization"] == "Bearer sk-test-secret"
    assert completion.headers["content-type"] == "application/json"
    assert "sk-test-secret" not in repr(completion)
    assert completion.script == DEFAULT_REPLY
    assert (completion.reasoning_tokens, completion.answer_tokens) == (
        len(tokenize(DEFAULT_REPLY.reasoning)),
        1,
    )


async def test_async_context_does_not_block_the_running_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    try:
        async with FakeServer("vllm", tokens_per_second=100) as srv:
            srv.push(Reply(answer=LONG))
            async with aclient(srv.base_url) as c:
                await c.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
            await srv.await_idle()
    finally:
        task.cancel()
    assert ticks > 10  # the loop kept running during ~0.5 s of generation


def test_wait_idle_raises_when_a_request_is_still_generating() -> None:
    with FakeServer("vllm", tokens_per_second=50) as srv, client(srv.base_url) as c:
        srv.push(Runaway())
        stream = c.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
        next(iter(stream))
        with pytest.raises(TimeoutError, match="still generating"):
            srv.wait_idle(timeout=0.05)
        stream.close()
        srv.wait_idle()
    assert srv.errors == []
