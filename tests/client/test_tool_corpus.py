"""Every labelled corpus row, as the raw ``content`` of a server with no tool parser, through
the client: whole and streamed under random chunkings, the labelled calls, text and
reasoning come out — or the typed error a client must raise (a call cut by the token limit
or malformed beside a good one: `ToolCallError`; only a rehearsal in closed reasoning:
`NoAnswer`, naming the draft).
"""

from __future__ import annotations

import itertools
import json
import random
import socket
from typing import Any

import pytest

import terse
from terse._client.transport import InProcessTransport, Scripted, sse
from tests.tools._corpus import load_rows, thinking_open, tools_for

ROWS = load_rows()
IDS = [r["id"] for r in ROWS]
SPARE = {"type": "function", "function": {"name": "spare_tool"}}  # so every row offers tools


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"an in-process test opened a connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def _finish(row: dict[str, Any]) -> str:
    return "length" if "truncated" in row["tags"] else "stop"


def _whole(row: dict[str, Any]) -> str:
    message = {"role": "assistant", "content": row["raw"]}
    return json.dumps(
        {"choices": [{"index": 0, "message": message, "finish_reason": _finish(row)}]}
    )


def _streamed(row: dict[str, Any], rng: random.Random) -> list[str]:
    raw = row["raw"]
    cuts = sorted({rng.randrange(1, max(2, len(raw))) for _ in range(rng.randint(1, 30))})
    at = [0, *cuts, len(raw)]
    pieces = [raw[a:b] for a, b in itertools.pairwise(at) if raw[a:b]]
    chunks = [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": _finish(row)}]})
    return sse(*chunks)


def _ask(row: dict[str, Any], scripted: Scripted, stream: bool) -> Any:
    client = terse.Client(
        base_url="http://in-process.invalid/v1",
        model="m",
        dialect="vllm",
        thinking_open=thinking_open(row),
    )
    client._transport = InProcessTransport([scripted])
    tools = [*tools_for(row), SPARE]
    try:
        if stream:
            with client.stream("q", tools=tools, max_retries=0) as s:
                events = list(s)
            answer = s.get_answer()
            shown = "".join(e.text for e in events if isinstance(e, terse.AnswerDelta))
            assert shown == answer.text or "gpt_oss" in row["family"]
            return answer
        return client.ask("q", tools=tools, max_retries=0)
    except terse.TerseError as exc:
        return exc


def _check(row: dict[str, Any], got: Any) -> None:
    tags = set(row["tags"])
    if tags & {"truncated", "partial_bad_sibling"}:
        assert isinstance(got, terse.ToolCallError), got
        kinds = {p.kind for p in got.problems}
        assert kinds == ({"truncated"} if "truncated" in tags else {"malformed"})
        return
    if "terminal_in_reasoning" in tags:
        assert isinstance(got, terse.NoAnswer), got
        assert row["if_promoted"][0]["name"] in str(got)
        return
    assert isinstance(got, terse.Answer), got
    calls = [{"name": c.name, "arguments": c.arguments} for c in got.tool_calls]
    assert calls == row["tool_calls"]
    assert got.text == row["content"]
    assert got.reasoning.strip() == (row["reasoning"] or "")
    assert got.finish_reason == ("tool_calls" if calls else "stop")
    assert [p.call for p in got.parts if isinstance(p, terse.ToolCallPart)] == list(got.tool_calls)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_row_through_the_client_whole(row: dict[str, Any]) -> None:
    _check(row, _ask(row, Scripted(_whole(row)), stream=False))


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_row_through_the_client_streamed(row: dict[str, Any]) -> None:
    rng = random.Random(row["id"])
    whole = _ask(row, Scripted(_whole(row)), stream=False)
    for _ in range(4):
        got = _ask(row, Scripted(_streamed(row, rng)), stream=True)
        _check(row, got)
        if isinstance(whole, terse.Answer):
            assert isinstance(got, terse.Answer)
            assert got.tool_calls == whole.tool_calls  # ids included: chunking changes nothing
