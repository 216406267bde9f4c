"""Native budget knobs: the request fields, the refusal, and what the fake server reads."""

from __future__ import annotations

import pytest

from terse._server.budgets import LLAMACPP_BUDGET, SGLANG_BUDGET, VLLM_BUDGET, NativeBudget
from terse.testing import DIALECTS as FAKE_DIALECTS
from terse.testing._plan import Budget as FakeBudget
from terse.testing._plan import Rejected, native_budget


@pytest.mark.parametrize(
    ("knob", "fields"),
    [
        (LLAMACPP_BUDGET, {"reasoning_budget_tokens": 12}),
        (VLLM_BUDGET, {"thinking_token_budget": 12}),
        (SGLANG_BUDGET, {"custom_params": {"thinking_budget": 12}}),
    ],
)
def test_fields_are_the_servers_own_request_shape(
    knob: NativeBudget, fields: dict[str, object]
) -> None:
    assert knob.fields(12) == fields
    assert knob.sent_in({"model": "m", **fields})
    assert not knob.sent_in({"model": "m"})
    assert knob.requested(fields) == (knob.path[-1], 12)


def test_requested_reads_aliases_and_ignores_other_shapes() -> None:
    assert LLAMACPP_BUDGET.requested({"thinking_budget_tokens": 5}) == (
        "thinking_budget_tokens",
        5,
    )
    assert SGLANG_BUDGET.requested({"custom_params": "x"}) is None
    assert SGLANG_BUDGET.requested({}) is None


@pytest.mark.parametrize(
    ("status", "message", "refused"),
    [
        (400, "thinking_token_budget is set but reasoning_config is not configured", True),
        (400, "Unknown field REASONING_BUDGET", True),
        (400, "messages must not be empty", False),
        (500, "reasoning_config missing", False),
    ],
)
def test_a_refusal_is_a_400_that_names_the_knob(status: int, message: str, refused: bool) -> None:
    assert VLLM_BUDGET.refused(status, message) is refused


def test_the_fake_server_honours_exactly_what_terse_sends() -> None:
    """terse's fields for each knob are the ones the simulated server enforces."""
    tokens = 9
    llama = native_budget(
        FAKE_DIALECTS["llamacpp"],
        {**LLAMACPP_BUDGET.fields(tokens), "reasoning_budget_message": "stop."},
        vllm_config=False,
        sglang_strict=False,
    )
    assert llama == FakeBudget(tokens, "stop.")
    vllm = native_budget(
        FAKE_DIALECTS["vllm"], VLLM_BUDGET.fields(tokens), vllm_config=True, sglang_strict=False
    )
    assert vllm == FakeBudget(tokens)
    with pytest.raises(Rejected) as refused:
        native_budget(
            FAKE_DIALECTS["vllm"],
            VLLM_BUDGET.fields(tokens),
            vllm_config=False,
            sglang_strict=False,
        )
    assert VLLM_BUDGET.refused(400, refused.value.message)  # terse recognises the fake's 400
    sglang = native_budget(
        FAKE_DIALECTS["sglang"], SGLANG_BUDGET.fields(tokens), vllm_config=False, sglang_strict=True
    )
    assert sglang == FakeBudget(tokens)
