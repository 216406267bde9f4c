"""The dialect table: each server's knowledge in one row, every field of it used."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from terse._server.budgets import NATIVE_BUDGETS, NativeBudget
from terse._server.continuation import ChatPrefill, DeepSeekPrefix, LlamaCompletion, NewTurn
from terse._server.dialects import (
    DIALECTS,
    GENERIC,
    Dialect,
    ModelFamily,
    ProbeHints,
    detect_from_response,
    detect_from_url,
    dialect_named,
    dialect_owning,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "terse"


def _attribute_reads() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in SRC.rglob("*.py"))


@pytest.mark.parametrize("cls", [Dialect, ProbeHints, NativeBudget, ModelFamily])
def test_every_field_of_the_server_knowledge_is_read_somewhere(cls: type) -> None:
    source = _attribute_reads()
    unread = [
        f.name
        for f in dataclasses.fields(cls)
        if not re.search(rf"\.{f.name}\b", source)
        and not (cls is ModelFamily and f.name == "name")  # an identifier, for people
    ]
    assert not unread, f"{cls.__name__} fields never read: {unread}"


def test_the_two_fields_the_review_found_unread_are_gone() -> None:
    assert "probe_paths" not in {f.name for f in dataclasses.fields(Dialect)}
    assert "nudge" not in {f.name for f in dataclasses.fields(ModelFamily)}


def test_dialect_names_are_unique_and_each_is_found_by_name() -> None:
    names = [d.name for d in DIALECTS]
    assert len(names) == len(set(names))
    for d in DIALECTS:
        assert dialect_named(d.name) is d
    assert GENERIC.name == "openai-compatible"


def test_every_continuation_chain_ends_with_the_new_turn_that_works_everywhere() -> None:
    for d in DIALECTS:
        assert d.conclude, d.name
        assert d.conclude[-1] == NewTurn(), d.name
        assert len({c.name for c in d.conclude}) == len(d.conclude), d.name


@pytest.mark.parametrize(
    ("name", "chain", "knob"),
    [
        ("llamacpp", (LlamaCompletion(), NewTurn()), "llamacpp"),
        ("vllm", (ChatPrefill(), NewTurn()), "vllm"),
        ("sglang", (ChatPrefill(), NewTurn()), "sglang"),
        ("deepseek", (DeepSeekPrefix(), NewTurn()), None),
        ("ollama", (NewTurn(),), None),
        ("openrouter", (NewTurn(),), None),
        ("lmstudio", (NewTurn(),), None),
        ("openai-compatible", (NewTurn(),), None),
    ],
)
def test_each_server_row_holds_its_budget_knob_and_continuations(
    name: str, chain: tuple[object, ...], knob: str | None
) -> None:
    d = dialect_named(name)
    assert d.conclude == chain
    if knob is None:
        assert d.native_budget is None
    else:
        assert d.native_budget is NATIVE_BUDGETS[knob]


def test_continuations_chain_with_or_in_order() -> None:
    assert LlamaCompletion() | NewTurn() == (LlamaCompletion(), NewTurn())
    three = ChatPrefill() | DeepSeekPrefix() | NewTurn()
    assert three == (ChatPrefill(), DeepSeekPrefix(), NewTurn())
    assert ChatPrefill() | (DeepSeekPrefix(), NewTurn()) == three


def test_probe_paths_come_from_the_rows_in_table_order() -> None:
    paths = [d.probe.path for d in DIALECTS if d.probe.path is not None]
    assert paths == ["/props", "/server_info", "/version", "/api/version"]


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://api.deepseek.com/v1", "deepseek"),
        ("https://openrouter.ai/api/v1", "openrouter"),
        ("http://127.0.0.1:11434/v1", "ollama"),
        ("http://localhost:1234/v1", "lmstudio"),
        ("http://127.0.0.1:8000/v1", None),
    ],
)
def test_url_hints_live_on_the_rows(url: str, name: str | None) -> None:
    assert detect_from_url(url) == name


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({"timings": {}, "usage": {"reasoning_tokens": 3}}, "llamacpp"),  # first row wins
        ({"usage": {"prompt_cache_hit_tokens": 0}}, "deepseek"),
        ({"usage": {"reasoning_tokens": 3}}, "sglang"),
        ({"provider": "x"}, "openrouter"),
        ({"system_fingerprint": "fp_ollama"}, "ollama"),
        ({"system_fingerprint": "fp_other"}, None),
        ({"owned_by": "vllm"}, "vllm"),
        ({"usage": None}, None),
    ],
)
def test_response_hints_live_on_the_rows(body: dict[str, object], name: str | None) -> None:
    assert detect_from_response(body) == name


def test_the_models_owner_names_the_dialect() -> None:
    for owner in ("vllm", "sglang", "llamacpp", "ollama", "deepseek"):
        found = dialect_owning(owner)
        assert found is not None
        assert found.name == owner
    assert dialect_owning("openai") is None
    assert dialect_owning("") is None


def test_a_new_row_is_one_place() -> None:
    """A server that is only a row: its knob, chain and probe are what the rows say."""
    row = Dialect(
        "mine",
        "My server",
        native_budget=NATIVE_BUDGETS["vllm"],
        conclude=ChatPrefill() | NewTurn(),
        probe=ProbeHints("/mine", ("mine",)),
    )
    assert row.native_budget is not None
    assert row.native_budget.fields(7) == {"thinking_token_budget": 7}
    assert [c.name for c in row.conclude] == ["chat-prefill", "new-turn"]
