"""Continuation policies: each builds the request shape its server expects."""

from __future__ import annotations

import pytest

from terse._core.budget import QWEN_NUDGE
from terse._server.continuation import (
    ChatPrefill,
    Cut,
    DeepSeekPrefix,
    LlamaCompletion,
    NewTurn,
)
from terse._wire.assemble import Limit

from ._drive import body_of, run_for

ASKED = [{"role": "user", "content": "What is 6 x 7?"}]


def cut(**kw: object) -> Cut:
    base: dict[str, object] = {
        "messages": ASKED,
        "reasoning": "six sevens are forty-two   ",
        "nudge": QWEN_NUDGE,
        "cap": 64,
    }
    base.update(kw)
    return Cut(**base)  # type: ignore[arg-type]


def test_llama_completion_continues_the_rendered_chat_after_a_closed_think_block() -> None:
    run = run_for("llamacpp", request={"temperature": 0.2, "reasoning_effort": "high"})
    assert LlamaCompletion.needs_template
    call = LlamaCompletion().build(cut(stream=True), run, "<|user|>hi<|assistant|><think>\n")
    body = body_of(call)
    assert call.endpoint == "completions"
    assert call.answer_only
    assert call.stream
    assert call.purpose == "conclude"
    assert body["prompt"] == (
        "<|user|>hi<|assistant|><think>\nsix sevens are forty-two" + QWEN_NUDGE + "\n</think>\n\n"
    )
    assert body["max_tokens"] == 64
    assert body["model"] == "m"
    assert body["temperature"] == 0.2
    assert "reasoning_effort" not in body
    assert "messages" not in body


def test_llama_completion_opens_the_think_block_when_the_template_does_not() -> None:
    call = LlamaCompletion().build(cut(), run_for("llamacpp"), "<|assistant|>")
    assert body_of(call)["prompt"].startswith("<|assistant|><think>\nsix sevens")


def test_llama_completion_says_it_needs_the_template() -> None:
    with pytest.raises(ValueError, match="template"):
        LlamaCompletion().build(cut(), run_for("llamacpp"), None)


def test_chat_prefill_continues_the_final_assistant_message() -> None:
    call = ChatPrefill().build(cut(), run_for("vllm"))
    body = body_of(call)
    assert (call.endpoint, call.answer_only, call.stream) == ("chat", True, False)
    assert body["continue_final_message"] is True
    assert body["add_generation_prompt"] is False
    last = body["messages"][-1]
    assert last["role"] == "assistant"
    assert last["content"].startswith("<think>\nsix sevens are forty-two" + QWEN_NUDGE)
    assert last["content"].endswith("</think>\n\n")
    assert body["max_tokens"] == 64
    assert "thinking_token_budget" not in body  # a conclusion carries no thinking budget


def test_deepseek_prefix_goes_to_the_beta_endpoint_with_the_reasoning_as_prefix() -> None:
    call = DeepSeekPrefix().build(cut(), run_for("deepseek"))
    last = body_of(call)["messages"][-1]
    assert call.endpoint == "beta-chat"
    assert not call.answer_only
    assert last == {
        "role": "assistant",
        "content": "",
        "reasoning_content": "six sevens are forty-two" + QWEN_NUDGE,
        "prefix": True,
    }


def test_new_turn_hands_back_the_notes_with_thinking_off() -> None:
    run = run_for("sglang")
    off = run.dialect.disable_thinking
    call = NewTurn().build(cut(thinking_off=off), run)
    body = body_of(call)
    assert call.endpoint == "chat"
    assert call.thinking_disabled
    assert not call.stream
    assert body["chat_template_kwargs"] == {"enable_thinking": False, "thinking": False}
    ask = body["messages"][-1]
    assert ask["role"] == "user"
    assert "<notes>\nsix sevens are forty-two\n</notes>" in ask["content"]
    assert body["messages"][:-1] == ASKED


def test_new_turn_under_a_budget_streams_with_the_guard_and_may_not_switch_off() -> None:
    guard = Limit(tokens=10)
    call = NewTurn().build(cut(guard=guard, thinking_off=None), run_for("vllm"))
    assert call.stream
    assert body_of(call)["stream"] is True
    assert call.limit == guard
    assert not call.thinking_disabled
    assert "chat_template_kwargs" not in body_of(call)


def test_policies_compare_by_kind_and_report_their_names() -> None:
    names = [p.name for p in (LlamaCompletion(), ChatPrefill(), DeepSeekPrefix(), NewTurn())]
    assert names == ["llamacpp-completion", "chat-prefill", "deepseek-prefix", "new-turn"]
    assert NewTurn() == NewTurn()
    assert NewTurn() != ChatPrefill()
    assert len({NewTurn(), NewTurn(), ChatPrefill()}) == 2
    assert repr(NewTurn()) == "NewTurn()"
