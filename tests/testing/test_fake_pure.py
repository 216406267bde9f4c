"""The fake server's pure parts: tokenizer, request reading, token plans, scripts, wire table."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from terse import UsageError, split
from terse.testing import (
    DIALECTS,
    Drop,
    Fail,
    FakeServer,
    Malformed,
    Reply,
    Runaway,
    SlowStart,
    tokenize,
)
from terse.testing._plan import (
    Budget,
    Generation,
    Rejected,
    is_continuation,
    native_budget,
    prompt_text,
    thinking_off,
    token_limit,
)
from terse.testing._wire import error_body

# --- tokenizer ----------------------------------------------------------------------------


@given(st.text())
def test_tokens_join_back_to_the_text(text: str) -> None:
    assert "".join(tokenize(text)) == text


@given(st.text(min_size=1))
def test_every_token_is_non_empty_and_text_has_at_least_one(text: str) -> None:
    tokens = tokenize(text)
    assert tokens
    assert all(tokens)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Let me think... Paris!", ["Let", " me", " think", ".", ".", ".", " Paris", "!"]),
        ("<think>\nhm\n</think>\n\nok", ["<think>", "\nhm", "\n</think>", "\n\nok"]),
        ("<|channel|>analysis<|message|>", ["<|channel|>", "analysis", "<|message|>"]),
        ('{"a": 1}', ["{", '"', "a", '"', ":", " 1", "}"]),
        ("end  ", ["end", "  "]),
        ("", []),
    ],
)
def test_tokenizer_cuts_words_punctuation_and_special_tokens(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


# --- reading requests ---------------------------------------------------------------------

USER = {"role": "user", "content": "Capital of France?"}


def chat(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"messages": [USER, *messages], **extra}


def test_prompt_text_joins_messages_and_text_parts() -> None:
    body = chat(
        {"role": "assistant", "content": [{"type": "text", "text": "Hm"}, {"type": "image_url"}]}
    )
    assert prompt_text("chat", body) == "Capital of France?\nHm"
    assert prompt_text("completions", {"prompt": ["first", "second"]}) == "first"
    assert prompt_text("native", {"prompt": [1, 2, 3]}) == ""


CONTINUATIONS = [
    (chat({"role": "assistant", "content": "<think>\nhm\n</think>\n\n"}), True),
    (chat({"role": "assistant", "content": "hm</think>"}), True),
    (chat({"role": "assistant", "content": "[THINK]hm[/THINK]\n"}), True),
    (chat({"role": "assistant", "content": "", "prefix": True}), True),
    (chat({"role": "assistant", "content": "<think>\nhm"}), False),  # still thinking
    (chat({"role": "assistant", "content": "Paris"}), False),
    (chat({"role": "user", "content": "x</think>"}), False),  # only an assistant turn counts
    (chat(), False),
    (chat(reasoning_effort="none"), True),
    (chat(reasoning_effort="low"), False),
    (chat(chat_template_kwargs={"enable_thinking": False}), True),
    (chat(chat_template_kwargs={"enable_thinking": True}), False),
    (chat(thinking={"type": "disabled"}), True),
    (chat(thinking={"type": "enabled"}), False),
    (chat(think=False), True),
    (chat(reasoning={"effort": "none"}), True),
]


@pytest.mark.parametrize(("body", "expected"), CONTINUATIONS)
def test_is_continuation_recognises_closed_blocks_prefixes_and_thinking_switches(
    body: dict[str, Any], expected: bool
) -> None:
    assert is_continuation("chat", body) is expected


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("<think>\nhm\n</think>\n\n", True),
        ("<think>\n", False),
        ("x<|end|><|start|>assistant<|channel|>final<|message|>", True),
    ],
)
def test_a_raw_prompt_is_a_continuation_when_it_ends_after_a_close(
    prompt: str, expected: bool
) -> None:
    assert is_continuation("completions", {"prompt": prompt}) is expected


def test_thinking_off_ignores_missing_and_odd_shapes() -> None:
    assert not thinking_off({"chat_template_kwargs": "nope", "thinking": None})


@pytest.mark.parametrize(
    ("kind", "body", "limit"),
    [
        ("chat", {}, 1000),
        ("chat", {"max_tokens": 7}, 7),
        ("chat", {"max_completion_tokens": 5, "max_tokens": 7}, 5),
        ("chat", {"max_tokens": 5000}, 1000),
        ("completions", {"max_tokens": 3}, 3),
        ("native", {"n_predict": -1}, 1000),
        ("native", {"n_predict": 4}, 4),
        ("native", {"max_tokens": 4}, 1000),  # /completion reads n_predict only
    ],
)
def test_token_limit_reads_the_endpoints_own_field(
    kind: Any, body: dict[str, Any], limit: int
) -> None:
    assert token_limit(kind, body, context_length=1000) == limit


@pytest.mark.parametrize("bad", [0, -3, "5", 2.5, True])
def test_token_limit_rejects_what_a_server_would(bad: object) -> None:
    with pytest.raises(Rejected):
        token_limit("chat", {"max_tokens": bad}, 1000)


BUDGETS = [
    ("llamacpp", {"reasoning_budget_tokens": 8}, Budget(8)),
    (
        "llamacpp",
        {"thinking_budget_tokens": 8, "reasoning_budget_message": "Stop."},
        Budget(8, "Stop."),
    ),
    ("llamacpp", {"reasoning_budget_tokens": -1}, None),
    ("llamacpp", {"thinking_token_budget": 8}, None),
    ("vllm", {"reasoning_budget_tokens": 8}, None),
    ("sglang", {"custom_params": {"thinking_budget": 8}}, None),  # not strict: ignored
    ("deepseek", {"reasoning_budget_tokens": 8, "thinking_token_budget": 8}, None),
]


@pytest.mark.parametrize(("name", "body", "budget"), BUDGETS)
def test_native_budget_is_read_only_where_the_server_enforces_it(
    name: str, body: dict[str, Any], budget: Budget | None
) -> None:
    assert native_budget(DIALECTS[name], body, vllm_config=False, sglang_strict=False) == budget


def test_native_budget_on_vllm_needs_a_reasoning_config() -> None:
    with pytest.raises(Rejected, match="reasoning_config is not configured"):
        native_budget(
            DIALECTS["vllm"], {"thinking_token_budget": 8}, vllm_config=False, sglang_strict=False
        )
    assert native_budget(
        DIALECTS["vllm"], {"thinking_token_budget": 8}, vllm_config=True, sglang_strict=False
    ) == Budget(8)
    body = {"custom_params": {"thinking_budget": 3}}
    assert native_budget(DIALECTS["sglang"], body, vllm_config=False, sglang_strict=True) == Budget(
        3
    )


# --- token plans ----------------------------------------------------------------------------


def run(gen: Generation) -> tuple[list[tuple[bool, str]], str | None]:
    return list(gen), gen.finish_reason


def test_generation_streams_reasoning_then_answer_and_stops() -> None:
    tokens, finish = run(Generation(["a", " b"], ["c"], limit=10))
    assert (tokens, finish) == ([(True, "a"), (True, " b"), (False, "c")], "stop")


def test_generation_wraps_inline_reasoning_in_its_delimiters() -> None:
    tokens, _ = run(Generation(["a"], ["c"], limit=10, wrap=("<think>\n", "\n</think>\n\n")))
    assert "".join(t for _, t in tokens) == "<think>\na\n</think>\n\nc"
    assert [r for r, _ in tokens] == [True, True, True, True, True, False]


def test_generation_without_reasoning_writes_no_delimiters() -> None:
    tokens, _ = run(Generation([], ["c"], limit=10, wrap=("<think>\n", "\n</think>\n\n")))
    assert tokens == [(False, "c")]


def test_generation_stops_at_the_limit_with_length() -> None:
    tokens, finish = run(Generation(itertools.repeat(" hm"), ["never"], limit=4))
    assert (len(tokens), finish) == (4, "length")


def test_generation_of_exactly_the_limit_stops_normally() -> None:
    assert run(Generation(["a"], ["b"], limit=2))[1] == "stop"


def test_a_budget_cuts_endless_reasoning_inserts_its_message_and_answers() -> None:
    gen = Generation(itertools.repeat(" hm"), ["Paris"], limit=100, budget=Budget(3, " Done."))
    tokens, finish = run(gen)
    assert "".join(t for r, t in tokens if r) == " hm hm hm Done."
    assert "".join(t for r, t in tokens if not r) == "Paris"
    assert finish == "stop"


def test_a_budget_larger_than_the_reasoning_changes_nothing() -> None:
    assert run(Generation(["a"], ["b"], limit=9, budget=Budget(5, "!")))[0] == [
        (True, "a"),
        (False, "b"),
    ]


def test_a_zero_budget_goes_straight_to_the_answer() -> None:
    tokens, _ = run(Generation(["a", "b"], ["c"], limit=9, budget=Budget(0)))
    assert tokens == [(False, "c")]


# --- scripts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: Reply(tokens_per_second=0),
        lambda: Reply(finish_reason="tool_calls"),  # type: ignore[arg-type]
        lambda: Reply(chunk=0),
        lambda: Reply(chunk="word"),  # type: ignore[arg-type]
        lambda: Runaway(token=""),
        lambda: Fail(200),
        lambda: Fail(429, retry_after=-1),
        lambda: Drop(after_chunks=-1),
        lambda: Malformed(after_chunks=-1),
        lambda: SlowStart(-1.0),
        lambda: FakeServer("nope"),
        lambda: FakeServer("vllm", tokens_per_second=-1),
    ],
)
def test_bad_script_or_server_arguments_raise_usage_error(make: Any) -> None:
    with pytest.raises(UsageError):
        make()


def test_scripts_are_frozen_values() -> None:
    reply = Reply(answer="a")
    with pytest.raises(AttributeError):
        reply.answer = "b"  # type: ignore[misc]
    assert Reply(answer="a") == reply
    assert hash(Drop(2, reply)) == hash(Drop(2, Reply(answer="a")))


def test_urls_need_a_running_server() -> None:
    srv = FakeServer("vllm")
    with pytest.raises(UsageError, match="not running"):
        _ = srv.base_url
    assert "stopped" in repr(srv)
    with srv:
        assert srv.base_url == f"http://127.0.0.1:{srv.port}/v1"
        assert srv.root_url == f"http://127.0.0.1:{srv.port}"
        with pytest.raises(UsageError, match="already running"):
            srv.start()
    srv.close()  # closing twice is harmless


# --- the wire table -------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n, d in DIALECTS.items() if d.inline])
def test_inline_delimiters_are_ones_terses_splitter_recognises(name: str) -> None:
    open_, close = DIALECTS[name].inline or ("", "")
    result = split(open_ + "Let me think." + close + "Paris")
    assert (result.reasoning.strip(), result.answer, result.closed) == (
        "Let me think.",
        "Paris",
        True,
    )


@pytest.mark.parametrize(
    ("name", "body"),
    [
        (
            "vllm",
            {"error": {"message": "m", "type": "InternalServerError", "param": None, "code": 500}},
        ),
        (
            "sglang",
            {
                "object": "error",
                "message": "m",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            },
        ),
        ("llamacpp", {"error": {"code": 503, "message": "m", "type": "unavailable_error"}}),
        (
            "ollama",
            {
                "error": {
                    "message": "m",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
        ),
        (
            "deepseek",
            {"error": {"message": "m", "type": "server_error", "param": None, "code": None}},
        ),
        ("openrouter", {"error": {"code": 503, "message": "m"}}),
        ("lmstudio", {"error": "m"}),
    ],
)
def test_error_bodies_follow_each_servers_shape(name: str, body: object) -> None:
    status = {"vllm": 500, "sglang": 400, "llamacpp": 503, "ollama": 400, "deepseek": 500}.get(
        name, 503
    )
    assert error_body(DIALECTS[name], status, "m") == body


def test_the_public_names_are_exported_and_sorted() -> None:
    import terse.testing as t

    assert t.__all__ == sorted(t.__all__, key=lambda n: (not n.isupper(), n))  # constants first
    assert all(hasattr(t, n) for n in t.__all__)
