"""`terse serve` end to end: real openai clients (sync and async) against the proxy over FakeServer."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from typing import Any

import httpx
import openai
import pytest

from terse.testing import Call, Drop, Fail, FakeServer, Hang, Reply, Runaway

from .conftest import TOOLS, Proxy

USER = [{"role": "user", "content": "What is the answer?"}]
WEATHER = Call("get_weather", {"city": "Paris"})
DRAFT = Call("get_weather", {"city": "Rome"})


def client(base_url: str, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=30)


def aclient(base_url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=30)


def collect(stream: Any) -> tuple[str, str, list[Any], str | None, Any, list[Any]]:
    """content, reasoning, tool-call deltas, finish_reason, usage, and every chunk."""
    content, reasoning, calls, finish, usage, chunks = [], [], [], None, None, []
    for chunk in stream:
        chunks.append(chunk)
        if chunk.usage is not None:
            usage = chunk.usage
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        delta = choice.delta
        content.append(delta.content or "")
        reasoning.append(getattr(delta, "reasoning_content", None) or "")
        calls.extend(delta.tool_calls or [])
        finish = choice.finish_reason or finish
    return "".join(content), "".join(reasoning), calls, finish, usage, chunks


# -- answers ----------------------------------------------------------------------------------


def test_runaway_thinking_is_cut_at_the_budget_and_answered(
    inline: FakeServer, proxy: Proxy
) -> None:
    inline.push(Runaway(answer="42"))
    srv = proxy(inline, thinking_budget=64)
    r = client(srv.base_url).chat.completions.create(model="m", messages=USER)
    msg = r.choices[0].message
    assert msg.content == "42"
    assert r.choices[0].finish_reason == "stop"
    reasoning = msg.reasoning_content  # type: ignore[attr-defined]
    assert "hmm" in reasoning
    assert "<think>" not in reasoning
    assert "<think>" not in msg.content
    assert r.usage is not None
    assert r.usage.completion_tokens_details is not None
    # the budget held: the runaway request stopped near 64 reasoning tokens
    assert 64 <= r.usage.completion_tokens_details.reasoning_tokens <= 96
    inline.wait_idle()
    reqs = [q for q in inline.requests if q.path.endswith("/chat/completions")]
    assert len(reqs) == 2  # the runaway, then its conclusion
    # usage is summed over both upstream requests
    # usage covers both upstream requests: the runaway's reasoning and the conclusion's answer
    assert reqs[1].reasoning_tokens == 0
    assert reqs[1].answer_tokens >= 1
    assert (
        r.usage.completion_tokens
        == r.usage.completion_tokens_details.reasoning_tokens + reqs[1].answer_tokens
    )
    assert all("thinking_budget" not in (q.body or {}) for q in reqs)


def test_a_request_budget_overrides_the_default_and_never_reaches_the_upstream(
    inline: FakeServer, proxy: Proxy
) -> None:
    inline.push(Runaway(answer="7"))
    srv = proxy(inline)  # no default budget
    r = client(srv.base_url).chat.completions.create(
        model="m", messages=USER, extra_body={"thinking_budget": {"tokens": 32}}
    )
    assert r.choices[0].message.content == "7"
    assert r.usage is not None
    assert r.usage.completion_tokens_details is not None
    assert r.usage.completion_tokens_details.reasoning_tokens <= 64
    inline.wait_idle()
    assert all("thinking_budget" not in (q.body or {}) for q in inline.requests)


def test_a_request_budget_of_0_switches_thinking_off(vllm: FakeServer, proxy: Proxy) -> None:
    srv = proxy(vllm, thinking_budget=256)
    vllm.push(Reply(answer="7"))
    r = client(srv.base_url).chat.completions.create(
        model="m", messages=USER, extra_body={"thinking_budget": 0}
    )
    assert r.choices[0].message.content == "7"
    vllm.wait_idle()
    sent = [q for q in vllm.requests if q.path.endswith("/chat/completions")][-1].body
    assert sent is not None
    assert sent["chat_template_kwargs"]["enable_thinking"] is False  # as Client(thinking_budget=0)
    assert "thinking_budget" not in sent


def test_stream_role_first_reasoning_apart_answer_clean_usage_and_done(
    inline: FakeServer, proxy: Proxy
) -> None:
    inline.push(Reply(reasoning="Six times seven.", answer="It is 42."))
    srv = proxy(inline)
    raw = httpx.post(
        srv.base_url + "/chat/completions",
        json={
            "model": "m",
            "messages": USER,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        timeout=30,
    )
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in raw.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    assert len({c["id"] for c in chunks}) == 1
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    reasoning = "".join(
        c["choices"][0]["delta"].get("reasoning_content") or "" for c in chunks if c["choices"]
    )
    assert content == "It is 42."
    assert reasoning.strip() == "Six times seven."
    # streamed as it came: one delta per upstream token, not one block
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")) >= 4

    with client(srv.base_url) as c:
        inline.push(Reply(reasoning="Hmm.", answer="Fine."))
        content, reasoning, _, finish, usage, _ = collect(
            c.chat.completions.create(model="m", messages=USER, stream=True)
        )
        assert (content, reasoning.strip(), finish, usage) == ("Fine.", "Hmm.", "stop", None)


def test_reasoning_can_be_dropped(inline: FakeServer, proxy: Proxy) -> None:
    inline.push(
        Reply(reasoning="secret musing", answer="ok"), Reply(reasoning="secret musing", answer="ok")
    )
    srv = proxy(inline, reasoning="drop")
    c = client(srv.base_url)
    msg = c.chat.completions.create(model="m", messages=USER).choices[0].message
    assert msg.content == "ok"
    assert getattr(msg, "reasoning_content", None) is None
    content, reasoning, *_ = collect(
        c.chat.completions.create(model="m", messages=USER, stream=True)
    )
    assert (content, reasoning) == ("ok", "")


async def test_async_client_stream_and_not(inline: FakeServer, proxy: Proxy) -> None:
    inline.push(Runaway(answer="42"), Runaway(answer="43"))
    srv = proxy(inline, thinking_budget=48)
    async with aclient(srv.base_url) as c:
        r = await c.chat.completions.create(model="m", messages=USER)
        assert r.choices[0].message.content == "42"
        stream = await c.chat.completions.create(model="m", messages=USER, stream=True)
        text = "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])
        assert text == "43"


# -- tool calls -------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["vllm", "inline"])
@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls_native_or_inline_come_back_normalised_and_drafts_never(
    dialect: str, stream: bool, proxy: Proxy
) -> None:
    with FakeServer(dialect=dialect) as up:
        up.push(Reply(reasoning="I need the weather.", drafts=[DRAFT], tool_calls=[WEATHER]))
        srv = proxy(up)
        c = client(srv.base_url)
        if stream:
            content, _reasoning, calls, finish, _, _ = collect(
                c.chat.completions.create(model="m", messages=USER, tools=TOOLS, stream=True)  # type: ignore[arg-type]
            )
            assert len(calls) == 1
            call = calls[0]
            assert call.index == 0
        else:
            r = c.chat.completions.create(model="m", messages=USER, tools=TOOLS)  # type: ignore[arg-type]
            msg = r.choices[0].message
            content, finish = msg.content or "", r.choices[0].finish_reason
            assert msg.tool_calls is not None
            assert len(msg.tool_calls) == 1
            call = msg.tool_calls[0]
        assert finish == "tool_calls"
        assert call.type == "function"
        assert call.id
        assert call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": "Paris"}  # never the Rome draft
        assert "<tool_call>" not in content
        assert "<think>" not in content
        assert "Rome" not in content


def test_a_tool_result_turn_goes_through_and_gets_the_final_answer(
    vllm: FakeServer, proxy: Proxy
) -> None:
    vllm.push(
        Reply(reasoning="Need weather.", tool_calls=[WEATHER]),
        Reply(reasoning="Got it.", answer="Sunny in Paris."),
    )
    srv = proxy(vllm)
    c = client(srv.base_url)
    first = c.chat.completions.create(model="m", messages=USER, tools=TOOLS)  # type: ignore[arg-type]
    msg = first.choices[0].message
    assert msg.tool_calls
    history = [
        *USER,
        msg.model_dump(exclude_none=True, exclude={"reasoning_content"}),
        {"role": "tool", "tool_call_id": msg.tool_calls[0].id, "content": "sunny"},
    ]
    second = c.chat.completions.create(model="m", messages=history, tools=TOOLS)  # type: ignore[arg-type]
    assert second.choices[0].message.content == "Sunny in Paris."
    vllm.wait_idle()
    sent = vllm.requests[-1].body or {}
    assert sent["messages"][-1]["role"] == "tool"
    assert all("reasoning_content" not in m for m in sent["messages"])


# -- errors -----------------------------------------------------------------------------------


def post(srv: Any, body: Any, timeout: Any = 30) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(srv.base_url + "/chat/completions", content=content, timeout=timeout)


def error_of(r: httpx.Response) -> dict[str, Any]:
    e = r.json()["error"]
    assert set(e) >= {"message", "type", "code"}
    assert "Traceback" not in e["message"]
    return dict(e)


def test_bad_input_is_a_400_in_openais_shape(inline: FakeServer, proxy: Proxy) -> None:
    srv = proxy(inline)
    for body, says in [
        (b"{oops", "not valid JSON"),
        ({"model": "m", "messages": "hi"}, "messages must be"),
        (
            {"model": "m", "messages": USER, "thinking_budget": {"tokns": 5}},
            "unknown field(s) tokns",
        ),
        ({"model": "m", "messages": USER, "n": 2}, "n"),
    ]:
        r = post(srv, body)
        assert r.status_code == 400, (body, r.text)
        e = error_of(r)
        assert e["type"] == "invalid_request_error"
        assert says in e["message"]
    assert not [q for q in inline.requests if q.path.endswith("/chat/completions")]
    with pytest.raises(openai.BadRequestError, match="thinking_budget"):
        client(srv.base_url).chat.completions.create(
            model="m", messages=USER, extra_body={"thinking_budget": -1}
        )


def test_upstream_refusal_keeps_its_status_and_message(inline: FakeServer, proxy: Proxy) -> None:
    inline.push(Fail(404, message="model 'nope' not found"))
    srv = proxy(inline, max_retries=0)
    r = post(srv, {"model": "nope", "messages": USER})
    assert r.status_code == 404
    assert "model 'nope' not found" in error_of(r)["message"]
    inline.push(Fail(404, message="model 'nope' not found"))
    with pytest.raises(openai.NotFoundError, match="not found"):
        client(srv.base_url).chat.completions.create(model="nope", messages=USER, stream=True)


def test_unreachable_upstream_is_502_and_silent_upstream_504(
    inline: FakeServer, proxy: Proxy
) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    s.close()
    srv = proxy(dead, max_retries=0)
    r = post(srv, {"model": "m", "messages": USER})
    assert r.status_code == 502
    assert error_of(r)["code"] == "upstream_unreachable"
    assert httpx.get(srv.base_url + "/models", timeout=30).status_code == 502

    inline.push(Hang(), Hang())
    silent = proxy(inline, max_retries=0, deadline=1.0)
    t0 = time.monotonic()
    r = post(silent, {"model": "m", "messages": USER})
    assert r.status_code == 504, r.text
    assert error_of(r)["code"] == "upstream_timeout"
    r = post(silent, {"model": "m", "messages": USER, "stream": True})
    assert r.status_code == 504, r.text
    assert time.monotonic() - t0 < 20


def test_errors_never_show_the_upstream_key(inline: FakeServer, proxy: Proxy) -> None:
    key = "sk-upstreamsecret1234567890"
    inline.push(Fail(401, message=f"bad key {key}"))
    srv = proxy(inline, upstream_key=key, max_retries=0)
    r = post(srv, {"model": "m", "messages": USER})
    assert r.status_code == 401
    assert key not in r.text
    assert "upstreamsecret" not in r.text
    inline.wait_idle()
    assert inline.requests[-1].headers["authorization"] == f"Bearer {key}"


def test_a_retry_after_answer_text_was_streamed_ends_the_stream_with_an_error(
    inline: FakeServer, proxy: Proxy
) -> None:
    inline.push(
        Drop(after_chunks=12, then=Reply(reasoning="r", answer="a long answer that is cut")),
        Reply(answer="fine"),
    )
    srv = proxy(inline, max_retries=1)
    with pytest.raises(openai.APIError, match="cannot be taken back"):
        collect(client(srv.base_url).chat.completions.create(model="m", messages=USER, stream=True))


def test_a_retry_before_any_answer_text_is_invisible(inline: FakeServer, proxy: Proxy) -> None:
    inline.push(Fail(503), Reply(reasoning="r", answer="fine"))
    srv = proxy(inline, max_retries=1)
    content, *_ = collect(
        client(srv.base_url).chat.completions.create(model="m", messages=USER, stream=True)
    )
    assert content == "fine"


# -- the rest of the surface ------------------------------------------------------------------


def test_models_come_from_the_upstream_and_health_answers(vllm: FakeServer, proxy: Proxy) -> None:
    srv = proxy(vllm)
    ids = [m.id for m in client(srv.base_url).models.list()]
    direct = [m.id for m in client(vllm.base_url).models.list()]
    assert ids == direct
    assert ids
    assert httpx.get(srv.base_url[: -len("/v1")] + "/health", timeout=10).json() == {"status": "ok"}
    wrong = httpx.get(srv.base_url + "/chat/completions", timeout=10)  # GET, not POST
    assert wrong.status_code == 405
    assert wrong.json()["error"]["type"] == "invalid_request_error"


def test_a_proxy_key_is_required_when_set(inline: FakeServer, proxy: Proxy) -> None:
    srv = proxy(inline, proxy_key="proxy-key-0123456789")
    with pytest.raises(openai.AuthenticationError):
        client(srv.base_url, key="wrong").chat.completions.create(model="m", messages=USER)
    with pytest.raises(openai.AuthenticationError):
        client(srv.base_url, key="wrong").models.list()
    inline.push(Reply(answer="ok"))
    r = client(srv.base_url, key="proxy-key-0123456789").chat.completions.create(
        model="m", messages=USER
    )
    assert r.choices[0].message.content == "ok"
    inline.wait_idle()
    # the proxy key is the proxy's: it is not forwarded upstream
    assert "proxy-key-0123456789" not in inline.requests[-1].headers.get("authorization", "")


def test_request_bodies_are_size_limited(inline: FakeServer, proxy: Proxy) -> None:
    srv = proxy(inline, max_body=10_000)
    r = post(srv, {"model": "m", "messages": [{"role": "user", "content": "x" * 20_000}]})
    assert r.status_code == 413
    assert "larger than 10000 bytes" in error_of(r)["message"]
    # chunked (no Content-Length): still cut at the cap
    r = httpx.post(
        srv.base_url + "/chat/completions",
        content=iter(
            [b'{"model": "m", "messages": [{"role": "user", "content": "', b"x" * 20_000, b'"}]}']
        ),
        timeout=30,
    )
    assert r.status_code == 413
    assert not [q for q in inline.requests if q.path.endswith("/chat/completions")]


def test_a_client_that_stalls_mid_body_gets_a_408(inline: FakeServer, proxy: Proxy) -> None:
    import socket

    srv = proxy(inline, body_timeout=0.5)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            b'{"model": '  # 10 of 100 bytes, then nothing
        )
        t0 = time.monotonic()
        reply = b""
        while b"\r\n\r\n" not in reply:
            got = sock.recv(4096)
            if not got:
                break
            reply += got
        waited = time.monotonic() - t0
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert 0.4 <= waited < 15
    assert not [q for q in inline.requests if q.path.endswith("/chat/completions")]


# -- disconnects and concurrency --------------------------------------------------------------


def _eventually(check: Any, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.02)
    return bool(check())


def test_a_client_disconnect_mid_stream_stops_the_upstream(proxy: Proxy) -> None:
    with FakeServer(dialect="inline", tokens_per_second=200) as up:
        up.push(Runaway(answer="never"))
        srv = proxy(up, thinking_budget=100_000)
        with httpx.stream(
            "POST",
            srv.base_url + "/chat/completions",
            json={"model": "m", "messages": USER, "stream": True},
            timeout=30,
        ) as r:
            seen = 0
            for line in r.iter_lines():
                if "reasoning_content" in line:
                    seen += 1
                if seen >= 5:
                    break
        t0 = time.monotonic()
        up.wait_idle(timeout=10)
        assert time.monotonic() - t0 < 10
        req = up.requests[-1]
        assert req.disconnected
        assert req.reasoning_tokens < 2000  # it stopped, well short of running on


def test_a_disconnect_while_the_upstream_is_silent_cancels_it_too(proxy: Proxy) -> None:
    with FakeServer(dialect="inline") as up:
        up.push(Reply(reasoning="r", answer="a"), Hang())
        srv = proxy(up)
        # the first request is answered; then one whose upstream never sends a byte
        assert post(srv, {"model": "m", "messages": USER}).status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            post(
                srv,
                {"model": "m", "messages": USER, "stream": True},
                timeout=httpx.Timeout(30, read=1.0),
            )
        assert _eventually(lambda: up.requests[-1].disconnected), up.requests[-1]


async def test_concurrent_streams_do_not_block_each_other(proxy: Proxy) -> None:
    with FakeServer(dialect="inline") as up:
        up.route("slow", Reply(reasoning="think " * 5, answer="slow done", tokens_per_second=5))
        up.default = Reply(reasoning="r", answer="fast done")
        srv = proxy(up)
        async with aclient(srv.base_url) as c:

            async def ask(prompt: str) -> tuple[str, float]:
                stream = await c.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": prompt}], stream=True
                )
                text = "".join(
                    [ch.choices[0].delta.content or "" async for ch in stream if ch.choices]
                )
                return text, time.monotonic()

            slow = asyncio.create_task(ask("slow please"))
            await asyncio.sleep(0.3)
            t0 = time.monotonic()
            fast = [await ask(f"fast {i}") for i in range(3)]
            assert all(t == "fast done" for t, _ in fast)
            assert not slow.done()  # the fast ones finished while the slow one streams
            assert (await slow)[0] == "slow done"
            assert fast[-1][1] - t0 < 5


def _load(proxy: Proxy, n: int) -> None:
    with FakeServer(dialect="inline") as up:
        up.default = Reply(reasoning="thinking it over", answer="echo")
        srv = proxy(up, thinking_budget=512)

        async def main() -> list[str]:
            limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
            async with openai.AsyncOpenAI(
                base_url=srv.base_url,
                api_key="x",
                max_retries=0,
                timeout=120,
                http_client=openai.DefaultAsyncHttpxClient(limits=limits),
            ) as c:

                async def one(i: int) -> str:
                    stream = await c.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": f"n{i}"}], stream=True
                    )
                    parts = [ch.choices[0].delta.content or "" async for ch in stream if ch.choices]
                    return "".join(parts)

                return await asyncio.gather(*(one(i) for i in range(n)))

        answers = asyncio.run(main())
        assert answers == ["echo"] * n
        up.wait_idle(timeout=30)
        prompts = sorted(q.body["messages"][-1]["content"] for q in up.requests if q.body)
        assert prompts == sorted(f"n{i}" for i in range(n))  # 0 lost, none twice


def test_load_32_streams(proxy: Proxy) -> None:
    _load(proxy, 32)


@pytest.mark.slow
def test_load_256_concurrent_streams_none_lost_none_mixed(proxy: Proxy) -> None:
    _load(proxy, 256)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl(inline: FakeServer, proxy: Proxy) -> None:
    inline.push(Runaway(answer="42"), Runaway(answer="42"))
    srv = proxy(inline, thinking_budget=32)

    def curl(flags: str, body: dict[str, Any]) -> str:
        url = srv.base_url + "/chat/completions"
        argv = ["curl", flags, "--max-time", "30", url, "-H", "Content-Type: application/json"]
        return subprocess.run(
            [*argv, "-d", json.dumps(body)], capture_output=True, text=True, check=True
        ).stdout

    out = curl("-sS", {"model": "m", "messages": USER})
    assert json.loads(out)["choices"][0]["message"]["content"] == "42"
    out = curl("-sSN", {"model": "m", "messages": USER, "stream": True})
    data = [ln[6:] for ln in out.splitlines() if ln.startswith("data: ")]
    assert data[-1] == "[DONE]"
    text = "".join((json.loads(d)["choices"][0]["delta"].get("content") or "") for d in data[:-1])
    assert text == "42"


def test_the_upstream_is_probed_once_for_every_call(vllm: FakeServer, proxy: Proxy) -> None:
    srv = proxy(vllm)
    c = client(srv.base_url)
    for _ in range(3):
        vllm.push(Reply(reasoning="r", answer="ok"))
        assert (
            c.chat.completions.create(model="m", messages=USER).choices[0].message.content == "ok"
        )
    vllm.wait_idle()
    paths = [q.path for q in vllm.requests]
    assert paths.count("/v1/chat/completions") == 3
    assert 1 <= len(paths) - 3 <= 6  # one probe's requests, before the first call only
    assert paths[-3:] == ["/v1/chat/completions"] * 3


# -- the upstream transport -------------------------------------------------------------------


def test_which_upstream_transport_carries_the_request(
    vllm: FakeServer, proxy: Proxy, request: pytest.FixtureRequest
) -> None:
    """The proxy's own connection is aiohttp; given an openai client, it is that client.

    The fixture runs each test over both; here each says which one the upstream saw,
    with the upstream key and the request's own fields arriving the same either way.
    """
    srv = proxy(vllm, upstream_key="sk-upstream-0123456789abcdef")
    vllm.push(Reply(reasoning="Hmm.", answer="42"))
    r = client(srv.base_url).chat.completions.create(
        model="m", messages=USER, temperature=0.5, extra_body={"top_k": 7}
    )
    assert r.choices[0].message.content == "42"
    vllm.wait_idle()
    seen = [q for q in vllm.requests if q.path.endswith("/chat/completions")][-1]
    assert seen.headers["authorization"] == "Bearer sk-upstream-0123456789abcdef"
    assert seen.body is not None
    assert (seen.body["temperature"], seen.body["top_k"], seen.body["model"]) == (0.5, 7, "m")
    agent = seen.headers["user-agent"]
    if request.node.callspec.params["proxy"] == "aiohttp":
        assert agent.startswith("terse/"), agent
    else:
        assert agent.startswith("AsyncOpenAI/Python"), agent


def test_an_openai_client_given_to_the_proxy_carries_its_requests(vllm: FakeServer) -> None:
    from terse.serve import Server, app

    vllm.push(Reply(answer="42"))
    # The proxy never closes a client it was given, and this one lives in the proxy's
    # loop: "Connection: close" leaves it no pooled connection to leak.
    oai = openai.AsyncOpenAI(
        base_url=vllm.base_url,
        api_key="sk-given",
        default_headers={"X-Tenant": "blue", "Connection": "close"},
    )
    with Server(app("http://unused.invalid/v1", model="m", openai_client=oai)) as srv:
        r = client(srv.base_url).chat.completions.create(model="m", messages=USER)
        assert r.choices[0].message.content == "42"
    vllm.wait_idle()
    seen = [q for q in vllm.requests if q.path.endswith("/chat/completions")][-1]
    assert seen.headers["x-tenant"] == "blue"
    assert seen.headers["authorization"] == "Bearer sk-given"
