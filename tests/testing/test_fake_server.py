"""FakeServer through the real openai client: every dialect, sync and async, streamed and not.

The expectations below are written out by hand from the servers' documented wire shapes
(``reference/protocols.md``, ``llama-server.md``), not read from the fake's own table,
so a wrong row in ``_wire.py`` fails here. Runs under openai 2.x and 3.x alike.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any

import pytest

from terse.testing import DIALECTS, FakeServer, Reply, tokenize

from .conftest import OPENAI_MAJOR, USER, aclient, client

REASONING = 'Let me think. A draft: {"city": "Lyon"}. No, wait.'
ANSWER = '{"city": "Paris"}'


@dataclass(frozen=True)
class Expect:
    """What a dialect's server sends, per the references."""

    keys: tuple[str, ...]  # reasoning keys; () means tags inline in content
    wrap: tuple[str, str] | None = None  # inline: (open, close) around the reasoning
    usage_reasoning: str | None = None  # "details" | "top" | None
    empty_reasoning: str = "null"  # "null" | "absent": the keys in a reply without reasoning
    cache_usage: bool = False
    timings: bool = False


EXPECT = {
    "deepseek": Expect(("reasoning_content",), usage_reasoning="details", cache_usage=True),
    "vllm": Expect(("reasoning",)),
    "vllm-transition": Expect(("reasoning", "reasoning_content")),
    "vllm-old": Expect(("reasoning_content",)),
    "llamacpp": Expect(("reasoning_content",), empty_reasoning="absent", timings=True),
    "sglang": Expect(("reasoning_content",), usage_reasoning="top"),
    "ollama": Expect(("reasoning",), empty_reasoning="absent"),
    "openrouter": Expect(("reasoning",), usage_reasoning="details"),
    "lmstudio": Expect(("reasoning_content",), empty_reasoning="absent"),
    "inline": Expect((), wrap=("<think>\n", "\n</think>\n\n")),
    "inline-close-only": Expect((), wrap=("", "\n</think>\n\n")),
    "inline-harmony": Expect(
        (),
        wrap=(
            "<|channel|>analysis<|message|>",
            "<|end|><|start|>assistant<|channel|>final<|message|>",
        ),
    ),
}


def inline_content(name: str) -> str | None:
    """The exact ``content`` of an inline dialect's reply, or None for a parsing server."""
    wrap = EXPECT[name].wrap
    return None if wrap is None else wrap[0] + REASONING + wrap[1] + ANSWER


def generated(name: str) -> int:
    """Tokens generated for REASONING + ANSWER: delimiters are tokens of their own."""
    pieces = [REASONING, ANSWER, *(EXPECT[name].wrap or ())]
    return sum(len(tokenize(p)) for p in pieces)


NAMES = sorted(DIALECTS)
REASONING_KEYS = {"reasoning", "reasoning_content"}


def test_every_dialect_of_the_brief_exists_and_has_expectations() -> None:
    assert set(DIALECTS) == set(EXPECT)


def _usage_reasoning(usage: dict[str, Any], where: str | None) -> int | None:
    if where == "details":
        return int(usage["completion_tokens_details"]["reasoning_tokens"])
    if where == "top":
        return int(usage["reasoning_tokens"])
    assert "reasoning_tokens" not in usage
    assert "reasoning_tokens" not in (usage.get("completion_tokens_details") or {})
    return None


def check_usage(name: str, usage: dict[str, Any], generated: int, reasoning: int) -> None:
    exp = EXPECT[name]
    assert usage["completion_tokens"] == generated
    assert usage["total_tokens"] == usage["prompt_tokens"] + generated
    assert usage["prompt_tokens"] > 0
    got = _usage_reasoning(usage, exp.usage_reasoning)
    assert got in (None, reasoning)
    assert ("prompt_cache_miss_tokens" in usage) is exp.cache_usage


def check_message(name: str, message: dict[str, Any]) -> None:
    exp = EXPECT[name]
    inline = inline_content(name)
    if inline is not None:
        assert message["content"] == inline
        assert not REASONING_KEYS & message.keys()
        return
    assert message["content"] == ANSWER
    for key in exp.keys:
        assert message[key] == REASONING
    assert REASONING_KEYS & message.keys() == set(exp.keys)


def check_stream(name: str, chunks: list[dict[str, Any]]) -> None:
    exp = EXPECT[name]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    texts = {k: "".join(d.get(k) or "" for d in deltas) for k in ("content", *REASONING_KEYS)}
    token_chunks = [d for d in deltas if any(d.get(k) for k in ("content", *REASONING_KEYS))]
    inline = inline_content(name)
    if inline is not None:
        assert texts["content"] == inline
        assert not any(REASONING_KEYS & d.keys() for d in deltas)
    else:
        assert texts["content"] == ANSWER
        for key in exp.keys:
            assert texts[key] == REASONING
        assert all(REASONING_KEYS & d.keys() <= set(exp.keys) for d in deltas)
    assert len(token_chunks) == generated(name)
    finishes = [c["choices"][0].get("finish_reason") for c in chunks if c["choices"]]
    assert [f for f in finishes if f] == ["stop"]
    assert chunks[-1]["choices"] == []  # include_usage: a last chunk with usage only


# --- the matrix: dialect x {sync, async} x {stream, non-stream} ---------------------------


@pytest.mark.parametrize("name", NAMES)
def test_sync_non_stream_puts_reasoning_where_the_dialect_does(name: str) -> None:
    with FakeServer(name) as srv, client(srv.base_url) as c:
        srv.push(Reply(reasoning=REASONING, answer=ANSWER))
        r = c.chat.completions.create(model="test-model", messages=USER)  # type: ignore[arg-type]
        srv.wait_idle()
        rec = srv.requests[-1]
    check_message(name, r.choices[0].message.to_dict())
    assert r.choices[0].finish_reason == "stop"
    assert rec.generated_tokens == generated(name)
    check_usage(name, r.to_dict()["usage"], rec.generated_tokens, rec.reasoning_tokens)
    assert ("timings" in r.to_dict()) is EXPECT[name].timings


@pytest.mark.parametrize("name", NAMES)
def test_sync_stream_sends_one_token_per_chunk_in_the_dialect_shape(name: str) -> None:
    with FakeServer(name) as srv, client(srv.base_url) as c:
        srv.push(Reply(reasoning=REASONING, answer=ANSWER))
        stream = c.chat.completions.create(
            model="test-model",
            messages=USER,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [ch.to_dict() for ch in stream]
        srv.wait_idle()
        rec = srv.requests[-1]
    check_stream(name, chunks)
    check_usage(name, chunks[-1]["usage"], rec.generated_tokens, rec.reasoning_tokens)
    assert (rec.finish_reason, rec.disconnected) == ("stop", False)


@pytest.mark.parametrize("name", NAMES)
async def test_async_non_stream_puts_reasoning_where_the_dialect_does(name: str) -> None:
    async with FakeServer(name) as srv:
        srv.push(Reply(reasoning=REASONING, answer=ANSWER))
        async with aclient(srv.base_url) as c:
            r = await c.chat.completions.create(model="test-model", messages=USER)  # type: ignore[arg-type]
        await srv.await_idle()
    check_message(name, r.choices[0].message.to_dict())
    assert srv.requests[-1].finish_reason == "stop"


@pytest.mark.parametrize("name", NAMES)
async def test_async_stream_sends_one_token_per_chunk_in_the_dialect_shape(name: str) -> None:
    async with FakeServer(name) as srv:
        srv.push(Reply(reasoning=REASONING, answer=ANSWER))
        async with aclient(srv.base_url) as c:
            stream = await c.chat.completions.create(
                model="test-model",
                messages=USER,  # type: ignore[arg-type]
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [ch.to_dict() async for ch in stream]
        await srv.await_idle()
    check_stream(name, chunks)


# --- dialect details ----------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in NAMES if EXPECT[n].keys])
def test_a_reply_without_reasoning_omits_or_nulls_the_keys_as_the_server_does(name: str) -> None:
    with FakeServer(name) as srv, client(srv.base_url) as c:
        srv.push(Reply(answer="Paris"))
        message = c.chat.completions.create(model="m", messages=USER).choices[0].message.to_dict()  # type: ignore[arg-type]
    for key in EXPECT[name].keys:
        if EXPECT[name].empty_reasoning == "absent":
            assert key not in message
        else:
            assert message[key] is None


def test_vllm_transition_sends_both_keys_with_the_same_text_in_every_delta() -> None:
    with FakeServer("vllm-transition") as srv, client(srv.base_url) as c:
        srv.push(Reply(reasoning=REASONING, answer=ANSWER))
        stream = c.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
        deltas = [ch.choices[0].delta.to_dict() for ch in stream if ch.choices]
    reasoning = [d for d in deltas if "reasoning" in d or "reasoning_content" in d]
    assert reasoning
    assert all(d["reasoning"] == d["reasoning_content"] for d in reasoning)


def test_llamacpp_stream_opens_with_a_role_delta_whose_content_is_null() -> None:
    with FakeServer("llamacpp") as srv, client(srv.base_url) as c:
        stream = c.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
        first = next(iter(stream)).choices[0].delta.to_dict()
        stream.close()
    assert first == {"role": "assistant", "content": None}


def test_ollama_reasoning_chunks_carry_empty_content_and_mixed_chunks_are_split() -> None:
    with FakeServer("ollama") as srv, client(srv.base_url) as c:
        srv.push(Reply(reasoning="a b c", answer="d e", chunk=2))
        stream = c.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
        deltas = [ch.choices[0].delta.to_dict() for ch in stream if ch.choices]
    text = [d for d in deltas if d.get("reasoning") or d.get("content")]
    assert text == [
        {
            "role": "assistant",
            "reasoning": "a b",
            "content": "",
        },  # the role rides on the first token
        {"reasoning": " c"},  # tokens " c" and "d" came in one chunk: reasoning first ...
        {"content": "d"},  # ... then the answer, as a chunk of its own
        {"content": " e"},
    ]


def test_vllm_mixed_chunks_carry_reasoning_and_content_together() -> None:
    with FakeServer("vllm") as srv, client(srv.base_url) as c:
        srv.push(Reply(reasoning="a b c", answer="d e", chunk=2))
        stream = c.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
        deltas = [ch.choices[0].delta.to_dict() for ch in stream if ch.choices]
    assert {"reasoning": " c", "content": "d"} in deltas


def test_vllm_puts_finish_reason_on_the_last_token_chunk() -> None:
    with FakeServer("vllm") as srv, client(srv.base_url) as c:
        srv.push(Reply(answer="Paris is big"))
        chunks = [
            ch.to_dict() for ch in c.chat.completions.create(model="m", messages=USER, stream=True)
        ]  # type: ignore[arg-type]
    last = chunks[-1]["choices"][0]
    assert (last["delta"].get("content"), last["finish_reason"]) == (" big", "stop")


def test_deepseek_chunks_null_the_other_field_and_carry_usage_null() -> None:
    with FakeServer("deepseek") as srv, client(srv.base_url) as c:
        srv.push(Reply(reasoning="hm", answer="ok"))
        chunks = [
            ch.to_dict() for ch in c.chat.completions.create(model="m", messages=USER, stream=True)
        ]  # type: ignore[arg-type]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert {"content": None, "reasoning_content": "hm"} in deltas
    assert {"content": "ok", "reasoning_content": None} in deltas
    assert all("usage" in c and c["usage"] is None for c in chunks)


def test_llamacpp_non_stream_prefill_repeats_the_prefix_in_content() -> None:
    prefix = "<think>\nShort notes.\n</think>\n\n"
    messages = [*USER, {"role": "assistant", "content": prefix}]
    with FakeServer("llamacpp") as srv, client(srv.base_url) as c:
        srv.push(Reply(reasoning="never shown", answer="Paris"))
        r = c.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
    assert r.choices[0].message.content == prefix + "Paris"
    assert "reasoning_content" not in r.choices[0].message.to_dict()


@pytest.mark.parametrize(
    ("name", "model"), [("vllm", "asked-for"), ("llamacpp", "SmolLM2-135M-Instruct.Q4_1.gguf")]
)
def test_the_reported_model_is_echoed_except_on_llamacpp(name: str, model: str) -> None:
    with FakeServer(name) as srv, client(srv.base_url) as c:
        r = c.chat.completions.create(model="asked-for", messages=USER)  # type: ignore[arg-type]
    assert r.model == model


@pytest.mark.parametrize("name", NAMES)
def test_models_endpoint_lists_one_model(name: str) -> None:
    with FakeServer(name) as srv, client(srv.base_url) as c:
        models = c.models.list().data
    assert len(models) == 1
    assert models[0].id


def test_openai_parses_every_dialect_without_a_single_warning() -> None:
    assert OPENAI_MAJOR in (2, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name in NAMES:
            with FakeServer(name) as srv, client(srv.base_url) as c:
                srv.push(
                    Reply(reasoning=REASONING, answer=ANSWER),
                    Reply(reasoning=REASONING, answer=ANSWER),
                )
                c.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
                list(c.chat.completions.create(model="m", messages=USER, stream=True))  # type: ignore[arg-type]
    assert [str(w.message) for w in caught] == []


def test_completions_endpoint_returns_text_with_the_think_block_inline() -> None:
    with FakeServer("vllm") as srv, client(srv.base_url) as c:
        srv.push(Reply(reasoning="hm", answer="Paris"))
        r = c.completions.create(model="m", prompt="<|im_start|>assistant\n<think>\n")
    assert r.choices[0].text == "hm\n</think>\n\nParis"
    assert r.choices[0].finish_reason == "stop"


def test_completions_stream_sends_text_chunks() -> None:
    with FakeServer("sglang") as srv, client(srv.base_url) as c:
        srv.push(Reply(reasoning="hm", answer="Paris"))
        chunks = list(c.completions.create(model="m", prompt="p", stream=True))
    assert "".join(ch.choices[0].text for ch in chunks if ch.choices) == "hm\n</think>\n\nParis"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_a_dialect_row_of_your_own_is_served() -> None:
    mine = dataclasses.replace(
        DIALECTS["vllm"], name="mine", reasoning_keys=("thoughts",), model="my-model"
    )
    with FakeServer(mine) as srv, client(srv.base_url) as c:
        srv.push(Reply(reasoning="hm", answer="Paris"))
        r = c.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
    assert r.choices[0].message.to_dict()["thoughts"] == "hm"
    assert "reasoning" not in r.choices[0].message.to_dict()
