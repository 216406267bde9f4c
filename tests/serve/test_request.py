"""The proxy's request reading (pure): what is accepted, and what a 400 says to fix."""

from __future__ import annotations

import json

import pytest

from terse import Budget
from terse.serve._request import UNSET, BadRequest, parse, without_reasoning


def body(**fields: object) -> bytes:
    return json.dumps(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
    ).encode()


def test_a_plain_request() -> None:
    req = parse(body())
    assert req.messages == [{"role": "user", "content": "hi"}]
    assert (req.model, req.stream, req.include_usage) == ("m", False, False)
    assert req.thinking_budget is UNSET
    assert req.options == {}


def test_openai_fields_pass_with_their_meaning_and_unknown_ones_go_in_extra_body() -> None:
    req = parse(
        body(
            temperature=0.2,
            stop=["x"],
            tools=[],
            top_k=20,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert req.options == {
        "temperature": 0.2,
        "stop": ["x"],
        "tools": [],
        "extra_body": {"top_k": 20},
    }
    assert req.stream
    assert req.include_usage


def test_thinking_budget_never_goes_upstream() -> None:
    req = parse(body(thinking_budget=128))
    assert req.thinking_budget == 128
    assert "thinking_budget" not in json.dumps(req.options)
    req = parse(body(thinking_budget={"tokens": 64, "on_exceed": "conclude"}))
    assert req.thinking_budget == Budget(tokens=64, on_exceed="conclude")
    assert parse(body(thinking_budget=None)).thinking_budget is None


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"model": "m"}).encode(), "messages must be a non-empty array"),
        (body(messages=["hi"]), "messages[0] must be an object"),
        (body(model=3), "model must be a string"),
        (body(stream="yes"), "stream must be true or false"),
        (body(stream_options=[]), "stream_options must be an object"),
        (body(thinking_budget="lots"), "thinking_budget must be an integer"),
        (body(thinking_budget=True), "thinking_budget must be an integer"),
        (body(thinking_budget=-1), "0 switches thinking off"),
        (body(thinking_budget={"tokens": 5, "tokenz": 1}), "unknown field(s) tokenz"),
        (body(thinking_budget={"tokens": 5, "on_exceed": "explode"}), "thinking_budget:"),
        (body(tools={"a": 1}), "tools must be an array"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_bad_input_says_what_to_fix(raw: bytes, says: str) -> None:
    with pytest.raises(BadRequest) as err:
        parse(raw)
    assert says in err.value.message
    assert err.value.status == 400


def test_reasoning_is_taken_off_the_history_unless_the_tool_loop_needs_it() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    history = [
        {"role": "user", "content": "hi", "reasoning_content": "not an assistant's"},
        {"role": "assistant", "content": "a", "reasoning_content": "r1", "reasoning": "r1"},
        {"role": "assistant", "content": None, "tool_calls": [call], "reasoning_content": "r2"},
    ]
    plain = without_reasoning(history, keep_on_tool_calls=False)
    assert plain[0] is history[0]
    assert plain[1] == {"role": "assistant", "content": "a"}
    assert plain[2] == {"role": "assistant", "content": None, "tool_calls": [call]}
    kept = without_reasoning(history, keep_on_tool_calls=True)
    assert kept[1] == {"role": "assistant", "content": "a"}
    assert kept[2]["reasoning_content"] == "r2"
    assert history[1]["reasoning_content"] == "r1"  # the caller's list is left as it was


def test_the_config_never_shows_its_keys() -> None:
    from terse.serve._app import ServeConfig

    config = ServeConfig(
        "http://127.0.0.1:1/v1", upstream_key="sk-upstream-9f8e7d6c", proxy_key="pk-proxy-1a2b3c4d"
    )
    assert "sk-upstream-9f8e7d6c" not in repr(config)
    assert "pk-proxy-1a2b3c4d" not in repr(config)
    assert "pk-proxy-1a2b3c4d" not in str(config)
