"""FakeServer speaks tool calls: native per dialect with its streaming quirks, inline per family.

Driven through the real openai client, sync and async, streamed and not. The expected wire
shapes and markup are written out by hand from ``shared/reference/tools.md`` (§1 wire shapes
and server quirks, §3 family formats, §4 history rules), not read from the fake's own rows,
so a wrong row or writer fails here.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from terse import UsageError
from terse.testing import DIALECTS, TOOL_FORMATS, Call, FakeServer, Reply, Runaway, tool_markup

from .conftest import USER, aclient, client

REASONING = "The user wants the weather. I will call the tool."
ANSWER = "Let me check."
CALLS = [Call("get_weather", {"city": "Paris", "days": 3}), Call("get_time", {"tz": "UTC"})]
ARGS = ['{"city": "Paris", "days": 3}', '{"tz": "UTC"}']
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
        },
    },
]


@dataclass(frozen=True)
class Quirks:
    """How a server streams calls, per tools.md §1 (written by hand, not read from the row)."""

    index: str = "each"  # "each" | "zero" | "absent"
    id_every_chunk: bool = False
    whole_call: bool = False
    args_one_chunk: bool = False
    cut_finish: str = "length"  # streamed finish_reason when max_tokens cuts a call
    id_re: str = r"call_fake\d{8}_[01]"  # ids the server makes up


NATIVE = {
    "deepseek": Quirks(id_re=r"call_0[01]_fake\d{8}"),
    "vllm": Quirks(cut_finish="tool_calls", id_re=r"chatcmpl-tool-fake\d{8}[01]"),
    "vllm-transition": Quirks(cut_finish="tool_calls", id_re=r"chatcmpl-tool-fake\d{8}[01]"),
    "vllm-old": Quirks(cut_finish="tool_calls", id_re=r"chatcmpl-tool-fake\d{8}[01]"),
    "llamacpp": Quirks(),
    "sglang": Quirks(id_every_chunk=True),
    "ollama": Quirks(index="zero", whole_call=True),
    "openrouter": Quirks(),
    "lmstudio": Quirks(args_one_chunk=True),
}

HERMES = (
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}\n'
    '</tool_call>\n<tool_call>\n{"name": "get_time", "arguments": {"tz": "UTC"}}\n</tool_call>'
)
QWEN3_XML = (
    "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
    "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>\n"
    "<tool_call>\n<function=get_time>\n<parameter=tz>\nUTC\n</parameter>\n</function>\n"
    "</tool_call>"
)
HARMONY_CALLS = (
    "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
    '<|message|>{"city": "Paris", "days": 3}<|call|>'
    "<|start|>assistant<|channel|>commentary to=functions.get_time <|constrain|>json"
    '<|message|>{"tz": "UTC"}<|call|>'
)
INLINE = {
    "inline": f"<think>\n{REASONING}\n</think>\n\n{ANSWER}\n{HERMES}",
    "inline-close-only": f"{REASONING}\n</think>\n\n{ANSWER}\n{QWEN3_XML}",
    "inline-harmony": (
        f"<|channel|>analysis<|message|>{REASONING}<|end|>"
        f"<|start|>assistant<|channel|>commentary<|message|>{ANSWER}<|end|>{HARMONY_CALLS}"
    ),
}
REASONING_KEYS = {
    "deepseek": ("reasoning_content",),
    "vllm": ("reasoning",),
    "vllm-transition": ("reasoning", "reasoning_content"),
    "vllm-old": ("reasoning_content",),
    "llamacpp": ("reasoning_content",),
    "sglang": ("reasoning_content",),
    "ollama": ("reasoning",),
    "openrouter": ("reasoning",),
    "lmstudio": ("reasoning_content",),
}


def test_every_dialect_is_covered_natively_or_inline() -> None:
    assert set(DIALECTS) == set(NATIVE) | set(INLINE)
    assert not set(NATIVE) & set(INLINE)


def reply(**kwargs: Any) -> Reply:
    return Reply(**{"reasoning": REASONING, "answer": ANSWER, "tool_calls": CALLS, **kwargs})


# --- checks -------------------------------------------------------------------------------


def check_message(name: str, message: dict[str, Any], finish: str) -> None:
    if name in INLINE:
        assert message["content"] == INLINE[name]
        assert not message.get("tool_calls")
        assert finish == "stop"  # no tool parser: the server does not know these are calls
        return
    assert finish == "tool_calls"
    assert message["content"] == ANSWER
    for key in REASONING_KEYS[name]:
        assert message[key] == REASONING
    calls = message["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert [c["function"]["arguments"] for c in calls] == ARGS  # JSON strings, not objects
    assert [c["type"] for c in calls] == ["function", "function"]
    ids = [c["id"] for c in calls]
    assert len(set(ids)) == 2
    assert all(re.fullmatch(NATIVE[name].id_re, i) for i in ids)
    assert all("index" not in c for c in calls)


def entries(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every ``delta.tool_calls`` entry of a stream, in order."""
    return [
        e for c in chunks if c["choices"] for e in c["choices"][0]["delta"].get("tool_calls") or []
    ]


def accumulate(items: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Rebuild calls from deltas: a name starts a call, later fragments extend the last one."""
    calls: list[dict[str, str]] = []
    for e in items:
        fn = e.get("function") or {}
        if fn.get("name"):
            calls.append({"id": e.get("id", ""), "name": fn["name"], "arguments": ""})
        calls[-1]["arguments"] += fn.get("arguments") or ""
    return calls


def check_stream(name: str, chunks: list[dict[str, Any]]) -> None:
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    content = "".join(d.get("content") or "" for d in deltas)
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    if name in INLINE:
        assert content == INLINE[name]
        assert entries(chunks) == []
        assert [f for f in finishes if f] == ["stop"]
        return
    q = NATIVE[name]
    assert content == ANSWER
    for key in REASONING_KEYS[name]:
        assert "".join(d.get(key) or "" for d in deltas) == REASONING
    assert [f for f in finishes if f] == ["tool_calls"]
    items = entries(chunks)
    calls = accumulate(items)
    assert [(c["name"], c["arguments"]) for c in calls] == list(
        zip(["get_weather", "get_time"], ARGS, strict=True)
    )
    heads = [e for e in items if (e.get("function") or {}).get("name")]
    assert all(e["type"] == "function" and re.fullmatch(q.id_re, e["id"]) for e in heads)
    assert len({e["id"] for e in heads}) == 2
    expected_index = {"each": [0, 1], "zero": [0, 0]}.get(q.index)
    if expected_index is None:
        assert all("index" not in e for e in items)
    else:
        assert [e["index"] for e in heads] == expected_index
    if q.whole_call:  # one delta per call, arguments complete
        assert [e["function"]["arguments"] for e in items] == ARGS
        return
    assert all(e["function"]["arguments"] == "" for e in heads)
    fragments = [e for e in items if e not in heads]
    if q.args_one_chunk:
        assert [e["function"]["arguments"] for e in fragments] == ARGS
    else:  # one argument token per delta
        assert len(fragments) > 2 * len(ARGS)
        assert all(len(e["function"]["arguments"]) < 8 for e in fragments)
    assert all(("id" in e) is q.id_every_chunk for e in fragments)
    assert all("name" not in e["function"] for e in fragments)


# --- the matrix: dialect x {sync, async} x {stream, non-stream} ---------------------------

NAMES = sorted(DIALECTS)


@pytest.mark.parametrize("name", NAMES)
def test_sync_non_stream_calls(name: str) -> None:
    with FakeServer(name) as srv, client(srv.base_url) as c:
        srv.push(reply())
        r = c.chat.completions.create(model="m", messages=USER, tools=TOOLS)  # type: ignore[arg-type]
        srv.wait_idle()
        rec = srv.requests[-1]
    check_message(name, r.choices[0].message.to_dict(), r.choices[0].finish_reason)
    if name in NATIVE:  # the openai client parses native calls into typed objects
        calls = r.choices[0].message.tool_calls or []
        assert [json.loads(t.function.arguments) for t in calls] == [  # type: ignore[union-attr]
            {"city": "Paris", "days": 3},
            {"tz": "UTC"},
        ]
    assert rec.body is not None
    assert rec.body["tools"] == TOOLS
    assert rec.finish_reason == ("stop" if name in INLINE else "tool_calls")
    assert r.usage is not None
    assert r.usage.completion_tokens == rec.generated_tokens


@pytest.mark.parametrize("name", NAMES)
def test_sync_stream_calls(name: str) -> None:
    with FakeServer(name) as srv, client(srv.base_url) as c:
        srv.push(reply())
        stream = c.chat.completions.create(
            model="m",
            messages=USER,  # type: ignore[arg-type]
            tools=TOOLS,  # type: ignore[arg-type]
            stream=True,
        )
        typed = []
        chunks = []
        for ch in stream:
            chunks.append(ch.to_dict())
            if ch.choices and ch.choices[0].delta.tool_calls:
                typed.extend(ch.choices[0].delta.tool_calls)
        srv.wait_idle()
    check_stream(name, chunks)
    if name in NATIVE:  # openai parses delta.tool_calls into typed objects
        assert {t.function.name for t in typed if t.function and t.function.name} == {
            "get_weather",
            "get_time",
        }


@pytest.mark.parametrize("name", NAMES)
async def test_async_non_stream_calls(name: str) -> None:
    async with FakeServer(name) as srv:
        srv.push(reply())
        async with aclient(srv.base_url) as c:
            r = await c.chat.completions.create(model="m", messages=USER, tools=TOOLS)  # type: ignore[arg-type]
    check_message(name, r.choices[0].message.to_dict(), r.choices[0].finish_reason)


@pytest.mark.parametrize("name", NAMES)
async def test_async_stream_calls(name: str) -> None:
    async with FakeServer(name) as srv:
        srv.push(reply())
        async with aclient(srv.base_url) as c:
            stream = await c.chat.completions.create(
                model="m",
                messages=USER,  # type: ignore[arg-type]
                tools=TOOLS,  # type: ignore[arg-type]
                stream=True,
            )
            chunks = [ch.to_dict() async for ch in stream]
    check_stream(name, chunks)


# --- inline markup, family by family --------------------------------------------------------

ONE = [Call("get_weather", {"city": "Paris", "days": 3})]
MARKUP = {
    "hermes": (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}\n'
        "</tool_call>"
    ),
    "qwen3_xml": (
        "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
        "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>"
    ),
    "glm": (
        "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n"
        "<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n</tool_call>"
    ),
    "minimax_m2": (
        '<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Paris'
        '</parameter>\n<parameter name="days">3</parameter>\n</invoke>\n</minimax:tool_call>'
    ),
    "deepseek_v3": (
        "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
        '{"city": "Paris", "days": 3}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>'
    ),
    "deepseek_v31": (
        "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>"
        '{"city": "Paris", "days": 3}<｜tool▁call▁end｜><｜tool▁calls▁end｜>'
    ),
    "deepseek_v32": (
        '<｜DSML｜function_calls>\n<｜DSML｜invoke name="get_weather">\n'
        '<｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>\n'
        '<｜DSML｜parameter name="days" string="false">3</｜DSML｜parameter>\n'
        "</｜DSML｜invoke>\n</｜DSML｜function_calls>"
    ),
    "kimi_k2": (
        "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0"
        '<|tool_call_argument_begin|>{"city": "Paris", "days": 3}<|tool_call_end|>'
        "<|tool_calls_section_end|>"
    ),
    "mistral": '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris", "days": 3}',
    "harmony": (
        "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
        '<|message|>{"city": "Paris", "days": 3}<|call|>'
    ),
}


def test_every_family_has_an_expectation() -> None:
    assert set(TOOL_FORMATS) == set(MARKUP)


@pytest.mark.parametrize("family", sorted(MARKUP))
def test_markup_is_exactly_the_familys(family: str) -> None:
    assert tool_markup(ONE, family) == MARKUP[family]


@pytest.mark.parametrize("family", sorted(MARKUP))
def test_an_inline_server_passes_the_familys_markup_through(family: str) -> None:
    row = dataclasses.replace(DIALECTS["inline"], name=f"inline-{family}", tool_format=family)
    with FakeServer(row) as srv, client(srv.base_url) as c:
        srv.push(Reply(answer="Checking.", tool_calls=ONE), Reply(tool_calls=ONE))
        text = c.chat.completions.create(model="m", messages=USER).choices[0].message.content
        stream = c.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
        streamed = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
    if family == "harmony":  # text before a call is a commentary preamble
        assert text == "<|channel|>commentary<|message|>Checking.<|end|>" + MARKUP[family]
    else:
        assert text == "Checking.\n" + MARKUP[family]
    bare = MARKUP[family].removeprefix("<|start|>assistant")  # harmony: the prompt has it
    assert streamed == bare


@pytest.mark.parametrize("family", sorted(MARKUP))
def test_terses_own_parser_reads_the_fakes_markup_back(family: str) -> None:
    from terse.tools import parse_output

    before = "<|channel|>commentary<|message|>Checking.<|end|>" if family == "harmony" else ""
    parsed = parse_output((before or "Checking.\n") + MARKUP[family], TOOLS)
    assert [(c.name, c.arguments) for c in parsed.calls] == [
        ("get_weather", {"city": "Paris", "days": 3})
    ]


def test_raw_string_arguments_are_written_verbatim_in_every_family() -> None:
    bad = [Call("get_weather", '{"city": Paris}')]
    for family in TOOL_FORMATS:
        assert '{"city": Paris}' in tool_markup(bad, family)
    assert tool_markup([], "hermes") == ""
    with pytest.raises(UsageError, match="unknown tool-call family"):
        tool_markup(ONE, "nope")


def test_legacy_completions_write_calls_inline_even_on_a_parsing_server() -> None:
    with FakeServer("vllm") as srv, client(srv.base_url) as c:
        srv.push(Reply(reasoning="Hm.", answer="", tool_calls=ONE))
        text = c.completions.create(model="m", prompt="Weather?").choices[0].text
    assert text == "Hm.\n</think>\n\n" + MARKUP["hermes"]


# --- drafts, invalid then valid, truncation ---------------------------------------------------

DRAFT = Call("get_weather", {"city": "Lyon"})
DRAFT_HERMES = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Lyon"}}\n</tool_call>'


@pytest.mark.parametrize("stream", [False, True])
def test_a_draft_stays_in_the_reasoning_of_a_parsing_server(stream: bool) -> None:
    with FakeServer("vllm") as srv, client(srv.base_url) as c:
        srv.push(Reply(reasoning="Plan:", drafts=[DRAFT], tool_calls=ONE))
        r = c.chat.completions.create(model="m", messages=USER, stream=stream)  # type: ignore[call-overload]
        chunks = [ch.to_dict() for ch in r] if stream else None
        message = None if stream else r.choices[0].message.to_dict()
    if chunks is not None:
        deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
        reasoning = "".join(d.get("reasoning") or "" for d in deltas)
        calls = accumulate(entries(chunks))
    else:
        assert message is not None
        reasoning = message["reasoning"]
        calls = [{"name": t["function"]["name"], **t["function"]} for t in message["tool_calls"]]
    assert reasoning == "Plan:\n" + DRAFT_HERMES
    assert [(c["name"], c["arguments"]) for c in calls] == [("get_weather", ARGS[0])]


@pytest.mark.parametrize("stream", [False, True])
def test_lm_studio_fires_the_draft_as_a_phantom_call_too(stream: bool) -> None:
    with FakeServer("lmstudio") as srv, client(srv.base_url) as c:
        srv.push(Reply(reasoning="Plan:", drafts=[DRAFT], tool_calls=ONE))
        r = c.chat.completions.create(model="m", messages=USER, stream=stream)  # type: ignore[call-overload]
        if stream:
            chunks = [ch.to_dict() for ch in r]
            calls = [(x["name"], x["arguments"]) for x in accumulate(entries(chunks))]
            reasoning = "".join(
                ch["choices"][0]["delta"].get("reasoning_content") or ""
                for ch in chunks
                if ch["choices"]
            )
        else:
            message = r.choices[0].message
            calls = [(t.function.name, t.function.arguments) for t in message.tool_calls]
            reasoning = message.to_dict()["reasoning_content"]
    assert calls == [("get_weather", '{"city": "Lyon"}'), ("get_weather", ARGS[0])]
    assert reasoning == "Plan:\n" + DRAFT_HERMES


def test_a_draft_sits_inside_the_think_block_of_an_inline_server() -> None:
    with FakeServer("inline") as srv, client(srv.base_url) as c:
        srv.push(Reply(reasoning="Plan:", drafts=[DRAFT], tool_calls=ONE))
        text = c.chat.completions.create(model="m", messages=USER).choices[0].message.content
    assert text == f"<think>\nPlan:\n{DRAFT_HERMES}\n</think>\n\n{MARKUP['hermes']}"


def test_a_terminal_draft_with_nothing_after_it_in_qwen3_xml() -> None:
    with FakeServer("inline-close-only") as srv, client(srv.base_url) as c:
        srv.push(Reply(reasoning="Plan:", drafts=ONE))
        text = c.chat.completions.create(model="m", messages=USER).choices[0].message.content
    assert text == f"Plan:\n{MARKUP['qwen3_xml']}\n</think>\n\n"


@pytest.mark.parametrize("name", ["deepseek", "llamacpp", "inline"])
def test_invalid_arguments_then_valid_ones_on_the_re_ask(name: str) -> None:
    with FakeServer(name) as srv, client(srv.base_url) as c:
        srv.push(
            Reply(tool_calls=[Call("get_weather", '{"city": Paris,}')]),
            Reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}]),
        )
        first = c.chat.completions.create(model="m", messages=USER).choices[0].message
        second = c.chat.completions.create(model="m", messages=USER).choices[0].message
    if name == "inline":
        assert first.content is not None
        assert '"arguments": {"city": Paris,}}' in first.content
        assert second.content is not None
        assert '"arguments": {"city": "Paris"}}' in second.content
        return
    assert first.tool_calls
    assert second.tool_calls
    assert first.tool_calls[0].function.arguments == '{"city": Paris,}'  # type: ignore[union-attr]
    assert second.tool_calls[0].function.arguments == '{"city": "Paris"}'  # type: ignore[union-attr]


def test_double_encoded_arguments_go_out_as_given() -> None:
    twice = json.dumps(json.dumps({"city": "Paris"}))
    with FakeServer("llamacpp") as srv, client(srv.base_url) as c:
        srv.push(Reply(tool_calls=[Call("get_weather", twice)]))
        message = c.chat.completions.create(model="m", messages=USER).choices[0].message
    assert message.tool_calls
    assert json.loads(json.loads(message.tool_calls[0].function.arguments)) == {"city": "Paris"}  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["vllm", "llamacpp", "deepseek", "ollama"])
def test_max_tokens_cuts_a_native_call(name: str) -> None:
    limit = 6  # "get_weather" + 5 argument tokens: {"city":  (the call has 13 argument tokens)
    with FakeServer(name) as srv, client(srv.base_url) as c:
        srv.push(Reply(tool_calls=ONE), Reply(tool_calls=ONE))
        r = c.chat.completions.create(model="m", messages=USER, max_tokens=limit)
        stream = c.chat.completions.create(
            model="m",
            messages=USER,  # type: ignore[arg-type]
            max_tokens=limit,
            stream=True,
        )
        chunks = [ch.to_dict() for ch in stream]
        srv.wait_idle()
        recs = [q for q in srv.requests if q.path.endswith("completions")]
    cut = '{"city":'
    assert r.choices[0].finish_reason == "length"  # non-stream: the true reason
    calls = r.choices[0].message.tool_calls or []
    assert [t.function.arguments for t in calls] == [cut]  # type: ignore[union-attr]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert [f for f in finishes if f] == [NATIVE[name].cut_finish]
    assert [(c["name"], c["arguments"]) for c in accumulate(entries(chunks))] == [
        ("get_weather", cut)
    ]
    assert [q.finish_reason for q in recs] == ["length", "length"]
    assert all(q.generated_tokens == limit for q in recs)


def test_max_tokens_cuts_inline_markup_mid_call() -> None:
    with FakeServer("inline") as srv, client(srv.base_url) as c:
        srv.push(Reply(reasoning="Hm.", tool_calls=ONE))
        r = c.chat.completions.create(model="m", messages=USER, max_tokens=12)
    text = r.choices[0].message.content or ""
    assert r.choices[0].finish_reason == "length"
    full = f"<think>\nHm.\n</think>\n\n{MARKUP['hermes']}"
    assert full.startswith(text)
    assert "<tool_call>" in text
    assert "</tool_call>" not in text


def test_a_runaway_cut_by_a_native_budget_may_conclude_with_a_call() -> None:
    with FakeServer("llamacpp") as srv, client(srv.base_url) as c:
        srv.push(Runaway(answer="", tool_calls=ONE))
        r = c.chat.completions.create(
            model="m",
            messages=USER,
            tools=TOOLS,  # type: ignore[arg-type]
            extra_body={"reasoning_budget_tokens": 5},
        )
        srv.wait_idle()
        rec = srv.requests[-1]
    assert r.choices[0].finish_reason == "tool_calls"
    message = r.choices[0].message
    assert message.tool_calls
    assert message.tool_calls[0].function.arguments == ARGS[0]  # type: ignore[union-attr]
    assert rec.reasoning_tokens <= 5 + 2


def test_the_continuation_of_a_runaway_is_a_call() -> None:
    with FakeServer("vllm") as srv, client(srv.base_url) as c:
        srv.push(Runaway(answer="Checking.", tool_calls=ONE))
        first = c.chat.completions.create(model="m", messages=USER, max_tokens=8)
        cont = [*USER, {"role": "assistant", "content": "<think>hmm hmm</think>"}]
        second = c.chat.completions.create(model="m", messages=cont)  # type: ignore[arg-type]
    assert first.choices[0].finish_reason == "length"
    assert not first.choices[0].message.tool_calls
    assert second.choices[0].finish_reason == "tool_calls"
    assert second.choices[0].message.content == "Checking."
    assert [t.function.name for t in second.choices[0].message.tool_calls or []] == [  # type: ignore[union-attr]
        "get_weather"
    ]


# --- quirks configured on a row of one's own --------------------------------------------------


def _stream_entries(row: Any, script: Reply) -> list[dict[str, Any]]:
    with FakeServer(row) as srv, client(srv.base_url) as c:
        srv.push(script)
        stream = c.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
        return entries([ch.to_dict(warnings=False) for ch in stream])  # objects where str is typed


def test_a_row_without_index_leaves_it_out() -> None:
    row = dataclasses.replace(
        DIALECTS["ollama"],
        name="ollama-0.4",
        tool_stream=dataclasses.replace(DIALECTS["ollama"].tool_stream, index="absent"),
    )
    items = _stream_entries(row, reply())
    assert len(items) == 2
    assert all("index" not in e for e in items)
    assert [e["function"]["arguments"] for e in items] == ARGS


def test_a_row_with_object_arguments_sends_objects() -> None:
    quirk = dataclasses.replace(DIALECTS["llamacpp"].tool_stream, args_object=True)
    row = dataclasses.replace(DIALECTS["llamacpp"], name="llamacpp-obj", tool_stream=quirk)
    items = _stream_entries(row, Reply(tool_calls=[*CALLS, Call("bad", "{oops")]))
    args = [e["function"]["arguments"] for e in items if e["function"].get("arguments") != ""]
    assert args == [{"city": "Paris", "days": 3}, {"tz": "UTC"}, "{oops"]  # unparsable: a string
    with FakeServer(row) as srv, client(srv.base_url) as c:
        srv.push(reply())
        body = c.chat.completions.create(model="m", messages=USER).to_dict(warnings=False)
    assert body["choices"][0]["message"]["tool_calls"][1]["function"]["arguments"] == {"tz": "UTC"}


def test_a_row_without_ids_sends_none_and_given_ids_win() -> None:
    quirk = dataclasses.replace(DIALECTS["vllm"].tool_stream, send_id=False)
    row = dataclasses.replace(DIALECTS["vllm"], name="vllm-noid", tool_stream=quirk)
    items = _stream_entries(row, reply())
    assert items
    assert all("id" not in e for e in items)
    items = _stream_entries("vllm", Reply(tool_calls=[Call("f", {}, id="functions.f:0")]))
    assert items[0]["id"] == "functions.f:0"


def test_content_and_a_call_share_a_delta_when_chunks_hold_several_tokens() -> None:
    with FakeServer("vllm") as srv, client(srv.base_url) as c:
        srv.push(Reply(answer="Sure.", tool_calls=ONE, chunk=4))
        chunks = [
            ch.to_dict()
            for ch in c.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[call-overload]
        ]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert any(d.get("content") and d.get("tool_calls") for d in deltas)
    assert "".join(d.get("content") or "" for d in deltas) == "Sure."
    assert [(c["name"], c["arguments"]) for c in accumulate(entries(chunks))] == [
        ("get_weather", ARGS[0])
    ]


# --- requests: tools, tool_choice, and the history rules ----------------------------------------


@pytest.mark.parametrize(
    ("tools", "choice"),
    [
        ({"type": "function"}, None),  # not a list
        ([{"type": "retrieval"}], None),
        ([{"type": "function", "function": "get_weather"}], None),
        ([{"type": "function", "function": {"name": "has space"}}], None),
        ([{"type": "function", "function": {"name": "f" * 65}}], None),
        ([{"type": "function", "function": {"name": "f", "parameters": "x"}}], None),
        (TOOLS, "sometimes"),
        (TOOLS, {"type": "function", "function": {"name": "nope"}}),
        (None, "required"),
    ],
)
def test_malformed_tools_get_a_400(tools: Any, choice: Any) -> None:
    extra = {k: v for k, v in (("tools", tools), ("tool_choice", choice)) if v is not None}
    with FakeServer("vllm") as srv, client(srv.base_url) as c:
        with pytest.raises(openai.BadRequestError) as e:
            c.chat.completions.create(model="m", messages=USER, extra_body=extra)  # type: ignore[arg-type]
        srv.wait_idle()
        assert [q.status for q in srv.requests] == [400]
    assert e.value.body["code"] == 400  # type: ignore[index]  # vLLM's error shape


def test_a_named_tool_choice_is_accepted_and_recorded() -> None:
    choice = {"type": "function", "function": {"name": "get_time"}}
    with FakeServer("llamacpp") as srv, client(srv.base_url) as c:
        c.chat.completions.create(model="m", messages=USER, tools=TOOLS, tool_choice=choice)  # type: ignore[arg-type]
        rec = srv.requests[-1]
    assert rec.status == 200
    assert rec.body is not None
    assert rec.body["tool_choice"] == choice


def test_lm_studio_refuses_tool_choice_as_an_object() -> None:
    choice = {"type": "function", "function": {"name": "get_time"}}
    with FakeServer("lmstudio") as srv, client(srv.base_url) as c:
        with pytest.raises(openai.BadRequestError):
            c.chat.completions.create(model="m", messages=USER, tools=TOOLS, tool_choice=choice)  # type: ignore[arg-type]
        c.chat.completions.create(model="m", messages=USER, tools=TOOLS, tool_choice="required")  # type: ignore[arg-type]


def loop(assistant: dict[str, Any], *, answer_id: str = "call_1") -> list[dict[str, Any]]:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    return [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call], **assistant},
        {"role": "tool", "tool_call_id": answer_id, "content": "18C, sunny"},
    ]


def test_deepseek_refuses_a_tool_loop_without_reasoning_content() -> None:
    with FakeServer("deepseek") as srv, client(srv.base_url) as c:
        with pytest.raises(openai.BadRequestError) as e:
            c.chat.completions.create(model="deepseek-reasoner", messages=loop({}), tools=TOOLS)  # type: ignore[arg-type]
        with pytest.raises(openai.BadRequestError):
            c.chat.completions.create(
                model="deepseek-reasoner",
                messages=loop({"reasoning_content": None}),  # type: ignore[arg-type]
                tools=TOOLS,  # type: ignore[arg-type]
            )
    assert e.value.status_code == 400
    assert e.value.response.json() == {
        "error": {
            "message": "Missing `reasoning_content` field in the assistant message at message "
            "index 2. For more information, please refer to "
            "https://api-docs.deepseek.com/guides/thinking_mode#tool-calls",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


@pytest.mark.parametrize(
    "extra",
    [
        {"messages": loop({"reasoning_content": "I should call get_weather."})},
        {"messages": loop({"reasoning_content": ""})},  # DeepSeek accepts the empty string
        {"messages": loop({}), "extra_body": {"thinking": {"type": "disabled"}}},
        {"messages": [*loop({}), {"role": "user", "content": "And Lyon?"}]},  # a new user turn
    ],
)
async def test_deepseek_accepts_the_echo_thinking_off_and_later_turns(extra: Any) -> None:
    async with FakeServer("deepseek") as srv:
        srv.push(Reply(answer="18C and sunny."))
        async with aclient(srv.base_url) as c:
            r = await c.chat.completions.create(model="deepseek-reasoner", tools=TOOLS, **extra)  # type: ignore[arg-type]
    assert r.choices[0].message.content == "18C and sunny."


KIMI = dataclasses.replace(
    DIALECTS["deepseek"],
    name="kimi",
    model="kimi-k2.5",
    errors="kimi",
    echo_reasoning="kimi",
    tool_format="kimi_k2",
    tool_stream=dataclasses.replace(
        DIALECTS["deepseek"].tool_stream, id_format="functions.{name}:{index}"
    ),
)


def test_a_kimi_row_wants_a_non_empty_echo_on_every_tool_call_message() -> None:
    later = [*loop({"reasoning_content": ""}), {"role": "user", "content": "And Lyon?"}]
    with FakeServer(KIMI) as srv, client(srv.base_url) as c:
        for messages in (loop({}), loop({"reasoning_content": ""}), later):
            with pytest.raises(openai.BadRequestError) as e:
                c.chat.completions.create(model="kimi-k2.5", messages=messages)  # type: ignore[arg-type]
            assert e.value.response.json() == {
                "error": {
                    "message": "thinking is enabled but reasoning_content is missing in "
                    "assistant tool call message at index 2",
                    "type": "invalid_request_error",
                }
            }
        ok = c.chat.completions.create(model="kimi-k2.5", messages=loop({"reasoning_content": " "}))  # type: ignore[arg-type]
        srv.push(Reply(tool_calls=ONE))
        call = c.chat.completions.create(model="kimi-k2.5", messages=USER).choices[0].message
    assert ok.choices[0].message.content == "ok"
    assert call.tool_calls
    assert call.tool_calls[0].id == "functions.get_weather:0"


@pytest.mark.parametrize("name", ["vllm", "llamacpp", "ollama", "inline"])
def test_other_servers_do_not_need_the_echo(name: str) -> None:
    with FakeServer(name) as srv, client(srv.base_url) as c:
        r = c.chat.completions.create(model="m", messages=loop({}), tools=TOOLS)  # type: ignore[arg-type]
    assert r.choices[0].finish_reason == "stop"


def test_a_tool_message_must_answer_an_id_of_the_call_before_it() -> None:
    echo = {"reasoning_content": "Call it."}
    orphan = [USER[0], {"role": "tool", "tool_call_id": "call_1", "content": "18C"}]
    with FakeServer("deepseek") as srv, client(srv.base_url) as c:
        with pytest.raises(openai.BadRequestError, match="'call_2' not found"):
            c.chat.completions.create(model="m", messages=loop(echo, answer_id="call_2"))  # type: ignore[arg-type]
        with pytest.raises(openai.BadRequestError, match="preceding message with 'tool_calls'"):
            c.chat.completions.create(model="m", messages=orphan)  # type: ignore[arg-type]
        ok = c.chat.completions.create(model="m", messages=loop(echo))  # type: ignore[arg-type]
        srv.wait_idle()
        statuses = [q.status for q in srv.requests]
    assert ok.choices[0].message.content == "ok"
    assert statuses == [400, 400, 200]


# --- scripts --------------------------------------------------------------------------------


def test_reply_takes_calls_or_dicts_and_refuses_anything_else() -> None:
    r = Reply(tool_calls=[{"name": "f", "arguments": {"a": 1}, "id": "x"}, Call("g")])
    assert r.tool_calls == (Call("f", {"a": 1}, "x"), Call("g", {}))
    assert Call("g").arguments_text == "{}"
    with pytest.raises(UsageError):
        Reply(tool_calls=[{"name": "f", "args": {}}])
    with pytest.raises(UsageError):
        Reply(tool_calls="f")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        Call("")
    with pytest.raises(UsageError):
        Call("f", 3)  # type: ignore[arg-type]


def test_call_arguments_are_frozen_copies() -> None:
    args = {"city": "Paris"}
    call = Call("get_weather", args)
    args["city"] = "Lyon"
    assert call.arguments == {"city": "Paris"}
    with pytest.raises(TypeError):
        call.arguments["city"] = "Lyon"  # type: ignore[index]
