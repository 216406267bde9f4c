"""Pin down the llama-server wire facts terse relies on, with the plain openai client.

Each test asserts mechanics (which fields exist, token counts, request shapes), never what a 135M
model says. If one of these fails after a llama.cpp upgrade, terse's llama-server handling needs a
look before anything else.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest

pytestmark = pytest.mark.llama

# Seconds. About ten times what a quiet 2-core host needs: generation drops to 2-16 tok/s when busy.
TIMEOUT = 120.0
IDLE_DEADLINE = 1.0  # after a client hangs up, the slot must be free within this
QUESTION = [{"role": "user", "content": "What is the capital of France? Answer briefly."}]
STORY = [{"role": "user", "content": "Write a very long story about a lighthouse keeper."}]


def client(server: Any) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.base_url, api_key="sk-local", timeout=TIMEOUT, max_retries=0
    )


def chat_json(server: Any, **params: Any) -> dict[str, Any]:
    """POST a chat completion through openai and return the response body exactly as sent."""
    params.setdefault("model", "ignored-by-llama-server")
    params.setdefault("temperature", 0)
    with client(server) as api:
        raw = api.chat.completions.with_raw_response.create(**params)
        body: dict[str, Any] = json.loads(raw.text)
    return body


def native(server: Any, path: str, body: dict[str, Any] | None = None) -> Any:
    """GET (or POST ``body`` to) one of llama-server's own endpoints and decode the JSON."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.root_url + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
        return json.loads(resp.read())


def n_tokens(server: Any, text: str) -> int:
    return len(native(server, "/tokenize", {"content": text, "add_special": False})["tokens"])


def tokens_predicted_total(server: Any) -> float:
    """The server-wide count of generated tokens, from the Prometheus text at /metrics."""
    with urllib.request.urlopen(server.root_url + "/metrics", timeout=TIMEOUT) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("llamacpp:tokens_predicted_total "):
                return float(line.split()[1])
    raise AssertionError("/metrics has no llamacpp:tokens_predicted_total")


def stream_chunks(server: Any, **params: Any) -> Iterator[Any]:
    params.setdefault("model", "ignored-by-llama-server")
    params.setdefault("temperature", 0)
    with client(server) as api, api.chat.completions.create(stream=True, **params) as stream:
        yield from stream


# --- non-stream shapes ------------------------------------------------------------------------


def test_plain_chatml_answer_has_content_and_no_reasoning_field(llama_chatml: Any) -> None:
    body = chat_json(llama_chatml, messages=QUESTION, max_tokens=24)

    message = body["choices"][0]["message"]
    assert message["role"] == "assistant"
    assert isinstance(message["content"], str)
    assert message["content"].strip()
    assert "reasoning_content" not in message  # absent, not null
    assert body["model"] != "ignored-by-llama-server"  # the server names its own model file
    assert body["usage"]["completion_tokens"] <= 24
    assert "reasoning_tokens" not in json.dumps(body["usage"])
    assert {"prompt_n", "predicted_n", "predicted_ms"} <= body["timings"].keys()


def test_r1_template_runaway_puts_everything_in_reasoning(llama_r1: Any) -> None:
    body = chat_json(llama_r1, messages=STORY, max_tokens=16)

    choice = body["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == ""
    assert choice["message"]["reasoning_content"].strip()
    assert body["usage"]["completion_tokens"] == 16


@pytest.mark.parametrize(
    ("reasoning_format", "split"),
    [("deepseek", True), ("auto", True), ("deepseek-legacy", True), ("none", False)],
)
def test_reasoning_format_decides_whether_the_server_splits(
    llama_r1: Any, reasoning_format: str, split: bool
) -> None:
    body = chat_json(
        llama_r1, messages=QUESTION, max_tokens=8, extra_body={"reasoning_format": reasoning_format}
    )

    message = body["choices"][0]["message"]
    assert ("reasoning_content" in message) is split
    if not split:
        assert message["content"].startswith("<think>\n")


def test_unknown_reasoning_format_is_a_server_error(llama_r1: Any) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        chat_json(
            llama_r1, messages=QUESTION, max_tokens=4, extra_body={"reasoning_format": "bogus"}
        )
    assert info.value.status_code == 500


def test_prompt_over_context_is_a_400_naming_the_sizes(llama_chatml: Any) -> None:
    long_text = "lighthouse " * 6000

    with pytest.raises(openai.BadRequestError) as info:
        chat_json(llama_chatml, messages=[{"role": "user", "content": long_text}], max_tokens=4)

    error = json.loads(info.value.response.text)["error"]
    assert error["type"] == "exceed_context_size_error"
    assert error["n_prompt_tokens"] > error["n_ctx"]


# --- streaming --------------------------------------------------------------------------------


def test_stream_sends_one_token_per_delta_then_finish_then_usage(llama_chatml: Any) -> None:
    chunks = list(
        stream_chunks(
            llama_chatml, messages=STORY, max_tokens=20, stream_options={"include_usage": True}
        )
    )

    first = chunks[0].choices[0].delta
    assert first.model_dump(exclude_unset=True) == {"role": "assistant", "content": None}
    *tokens, finish, usage_chunk = chunks[1:]
    assert all(len(c.choices) == 1 and c.choices[0].delta.content for c in tokens)
    assert len(tokens) == usage_chunk.usage.completion_tokens == 20
    assert finish.choices[0].finish_reason == "length"
    assert finish.choices[0].delta.model_dump(exclude_unset=True) == {}
    assert usage_chunk.choices == []


@pytest.mark.parametrize("include_usage", [False, True])
def test_stream_timings_ride_on_the_last_chunk_only(llama_chatml: Any, include_usage: bool) -> None:
    chunks = list(
        stream_chunks(
            llama_chatml,
            messages=STORY,
            max_tokens=6,
            stream_options={"include_usage": include_usage},
        )
    )

    with_timings = [i for i, c in enumerate(chunks) if "timings" in (c.model_extra or {})]
    assert with_timings == [len(chunks) - 1]
    assert chunks[-1].model_extra["timings"]["predicted_n"] == 6
    assert (chunks[-1].choices == []) is include_usage


def test_closing_a_stream_early_frees_the_slot_and_stops_generation(llama_chatml: Any) -> None:
    before = tokens_predicted_total(llama_chatml)
    read = 0
    with client(llama_chatml) as api:
        stream = api.chat.completions.create(
            model="m",
            messages=STORY,
            max_tokens=2000,
            temperature=0,
            stream=True,
            extra_body={"ignore_eos": True},  # the model cannot stop on its own before we hang up
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                read += 1
                if read == 30:
                    break
        stream.close()
    hung_up = time.monotonic()

    while any(slot["is_processing"] for slot in native(llama_chatml, "/slots")):
        assert time.monotonic() - hung_up < IDLE_DEADLINE, "slot still busy after the client left"
        time.sleep(0.02)
    predicted = tokens_predicted_total(llama_chatml) - before
    assert read == 30
    assert read <= predicted <= read + 2


# --- budgets and switches ---------------------------------------------------------------------


@pytest.mark.parametrize("budget", [8, 32])
@pytest.mark.parametrize("message", [None, " Time to answer."])
def test_native_reasoning_budget_forces_the_think_block_closed(
    llama_r1: Any, budget: int, message: str | None
) -> None:
    knobs: dict[str, Any] = {"reasoning_budget_tokens": budget}
    if message is not None:
        knobs["reasoning_budget_message"] = message

    body = chat_json(llama_r1, messages=STORY, max_tokens=budget + 48, extra_body=knobs)

    reasoning = body["choices"][0]["message"]["reasoning_content"]
    allowance = budget + (n_tokens(llama_r1, message) if message else 0)
    assert allowance - 2 <= n_tokens(llama_r1, reasoning) <= allowance + 2
    assert reasoning.endswith(message or "")
    assert body["choices"][0]["message"]["content"].strip()


@pytest.mark.parametrize(
    ("switch", "thinks"),
    [
        pytest.param({}, True, id="default"),
        pytest.param({"chat_template_kwargs": {"enable_thinking": True}}, True, id="enable-true"),
        pytest.param(
            {"chat_template_kwargs": {"enable_thinking": False}}, False, id="enable-false"
        ),
        pytest.param({"reasoning_effort": "none"}, False, id="effort-none"),
    ],
)
def test_kwargs_template_thinking_switch(
    llama_kwargs: Any, switch: dict[str, Any], thinks: bool
) -> None:
    body = chat_json(llama_kwargs, messages=QUESTION, max_tokens=12, extra_body=switch)

    message = body["choices"][0]["message"]
    assert ("reasoning_content" in message) is thinks
    assert bool(message["content"]) is not thinks


def test_minimal_template_leaves_reasoning_and_close_tag_in_content(llama_minimal: Any) -> None:
    # Prefill a closed thought: the server continues it and repeats it, still unsplit, in content.
    thought = "The user wants a capital.\n</think>\n\n"
    messages = [*QUESTION, {"role": "assistant", "content": thought}]

    body = chat_json(llama_minimal, messages=messages, max_tokens=12)

    message = body["choices"][0]["message"]
    assert "reasoning_content" not in message
    assert "</think>" in message["content"]
    assert not message["content"].startswith("<think>")


def test_minimal_template_without_prefill_never_fills_reasoning(llama_minimal: Any) -> None:
    body = chat_json(llama_minimal, messages=QUESTION, max_tokens=16)

    message = body["choices"][0]["message"]
    assert "reasoning_content" not in message
    assert message["content"]


# --- continuation and prefill -----------------------------------------------------------------


def test_apply_template_then_completion_concludes_a_thought(llama_r1: Any) -> None:
    prompt = native(llama_r1, "/apply-template", {"messages": QUESTION})["prompt"]
    assert prompt.endswith("<|im_start|>assistant\n<think>\n")

    closed = prompt + "The capital of France is Paris.\n</think>\n\n"
    body = native(llama_r1, "/completion", {"prompt": closed, "n_predict": 12, "temperature": 0})

    assert body["content"].strip()
    assert 0 < body["tokens_predicted"] <= 12


def test_completion_streams_sse_until_a_stop_event(llama_r1: Any) -> None:
    prompt = native(llama_r1, "/apply-template", {"messages": QUESTION})["prompt"]
    request = urllib.request.Request(
        llama_r1.root_url + "/completion",
        data=json.dumps(
            {"prompt": prompt + "Paris.\n</think>\n\n", "n_predict": 8, "stream": True}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
        events = [json.loads(line[len(b"data: ") :]) for line in resp if line.startswith(b"data: ")]

    assert [e["stop"] for e in events].count(True) == 1
    assert events[-1]["stop"] is True
    assert "".join(e["content"] for e in events[:-1]).strip()


@pytest.mark.parametrize("stream", [False, True])
def test_prefill_response_repeats_the_prefix(llama_chatml: Any, stream: bool) -> None:
    prefix = "The capital of France is"
    messages = [*QUESTION, {"role": "assistant", "content": prefix}]

    if stream:
        chunks = stream_chunks(llama_chatml, messages=messages, max_tokens=8)
        content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        content = chat_json(llama_chatml, messages=messages, max_tokens=8)["choices"][0]["message"][
            "content"
        ]

    assert content.startswith(prefix)
    assert len(content) > len(prefix)
