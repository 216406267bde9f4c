"""Findings 1-5 of issue 13: one clock per call, whatever the server sends or withholds.

Every case runs the same call on the four paths at once and checks that each ends within
its bound plus the stated slack (and a margin for a loaded machine), with a typed error or
the right answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

import terse

from .conftest import (
    LOAD_MARGIN,
    PATHS,
    SLACK,
    Conn,
    Hostile,
    Request,
    answer_script,
    chunk,
    event,
    head,
    response,
    run_paths,
)

DEADLINE = 1.0


def _first(req: Request) -> bool:
    """The call's first request (a conclusion's last message is not the prompt "q")."""
    return bool(req.body.get("messages", [{}])[-1].get("content") == "q")


def _endless_reasoning(conn: Conn, req: Request) -> None:
    if req.stream:
        conn.send(head())
        while True:
            conn.send(event(chunk(reasoning="hmm ")))
            conn.sleep(0.005)
    conn.send(head(ctype="application/json", length=10**9))
    conn.send(b'{"choices":[{"message":{"content":"')
    while True:
        conn.send(b"a" * 64)
        conn.sleep(0.01)


def _keepalive(conn: Conn, req: Request) -> None:
    conn.send(head() if req.stream else head(ctype="application/json", length=10**6))
    while True:
        conn.send(b": keep-alive\n\n" if req.stream else b" ")
        conn.sleep(0.02)


def _blank_lines(conn: Conn, req: Request) -> None:
    conn.send(head() if req.stream else head(ctype="application/json", length=10**6))
    while True:
        conn.send(b"\n")
        conn.sleep(0.02)


def _slow_headers(conn: Conn, req: Request) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nx-pad: " + b"a" * 10**6:
        conn.send(bytes([byte]))
        conn.sleep(0.1)


def _slow_body(conn: Conn, req: Request) -> None:
    conn.send(head() if req.stream else head(ctype="application/json", length=10**6))
    body = (b"data: " if req.stream else b"") + b'{"choices":[{"delta":{"content":"' + b"a" * 10**6
    for byte in body:
        conn.send(bytes([byte]))
        conn.sleep(0.1)


def _slow_sse_line(conn: Conn, req: Request) -> None:
    """A good start, then one SSE line that never ends, a byte at a time."""
    if not req.stream:
        return _slow_body(conn, req)
    conn.send(head())
    conn.send(event(chunk(reasoning="Let me think.")))
    for byte in b'data: {"choices":[{"delta":{"reasoning_content":"' + b"a" * 10**6:
        conn.send(bytes([byte]))
        conn.sleep(0.1)


def _silent(conn: Conn, req: Request) -> None:
    conn.hold()


HOSTILE: dict[str, Callable[[Conn, Request], None]] = {
    "endless-reasoning": _endless_reasoning,
    "keep-alive-comments": _keepalive,
    "blank-lines": _blank_lines,
    "slow-headers": _slow_headers,
    "slow-body": _slow_body,
    "slow-sse-line": _slow_sse_line,
    "silent": _silent,
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_deadline_holds_while_reading(server: Hostile, case: str) -> None:
    server.script = HOSTILE[case]
    results = run_paths(server, call_kw={"deadline": DEADLINE})
    for path in PATHS:
        ran = results[path]
        assert isinstance(ran.error, terse.RetriesExhausted), (path, ran)
        assert ran.error.reason == "deadline", (path, ran.error)
        assert ran.elapsed <= DEADLINE + SLACK + LOAD_MARGIN, (path, ran.elapsed)


def test_budget_seconds_fire_against_a_silent_server(server: Hostile) -> None:
    """The budget's seconds run out while nothing arrives: terse concludes anyway."""
    conclude = answer_script("42")

    def script(conn: Conn, req: Request) -> None:
        if _first(req):
            conn.send(head())
            conn.send(event(chunk(reasoning="Let me think about it.")))
            conn.hold()
        else:
            conclude(conn, req)

    server.script = script
    budget = terse.Budget(seconds=0.5)
    results = run_paths(server, call_kw={"thinking_budget": budget})
    for path in PATHS:
        ran = results[path]
        assert ran.answer is not None, (path, ran)
        assert ran.answer.text == "42"
        assert ran.answer.budget is not None
        assert ran.answer.budget.hit
        assert ran.elapsed <= 0.5 + SLACK + LOAD_MARGIN, (path, ran.elapsed)


def test_budget_seconds_fire_during_a_trickled_line(server: Hostile) -> None:
    def script(conn: Conn, req: Request) -> None:
        if not _first(req):  # the conclusion
            return answer_script("42")(conn, req)
        _slow_sse_line(conn, req)

    server.script = script
    results = run_paths(
        server, call_kw={"thinking_budget": terse.Budget(seconds=0.5), "deadline": 5}
    )
    for path in PATHS:
        ran = results[path]
        assert ran.answer is not None, (path, ran)
        assert ran.answer.text == "42"
        assert ran.elapsed <= 0.5 + SLACK + LOAD_MARGIN, (path, ran.elapsed)


def test_budget_seconds_and_deadline_against_total_silence(server: Hostile) -> None:
    """The seconds fire on the silent request and on its silent conclusion: a typed error
    (the thinking could not be concluded) well inside the deadline."""
    server.script = _silent
    results = run_paths(
        server, call_kw={"thinking_budget": terse.Budget(seconds=0.3), "deadline": DEADLINE}
    )
    for path in PATHS:
        ran = results[path]
        assert isinstance(ran.error, (terse.ThinkingTruncated, terse.RetriesExhausted)), ran
        assert any(a.purpose == "conclude" for a in ran.error.attempts), ran.error.attempts
        assert ran.elapsed <= DEADLINE + SLACK + LOAD_MARGIN, (path, ran.elapsed)


def test_idle_timeout_fails_a_silent_server_in_seconds(server: Hostile) -> None:
    def script(conn: Conn, req: Request) -> None:
        conn.send(head() if req.stream else head(ctype="application/json", length=100))
        conn.hold()

    server.script = script
    results = run_paths(server, client_kw={"idle_timeout": 0.5, "max_retries": 0})
    for path in PATHS:
        ran = results[path]
        assert isinstance(ran.error, terse.ConnectionFailed), (path, ran)
        assert "idle_timeout" in str(ran.error)
        assert ran.elapsed <= 0.5 + SLACK + LOAD_MARGIN, (path, ran.elapsed)


def test_probes_run_inside_the_deadline(server: Hostile) -> None:
    """No dialect given: terse probes the server, and the probes count toward the deadline."""
    server.script = _silent
    server.other = _silent
    results = run_paths(
        server,
        client_kw={"dialect": None},
        call_kw={"deadline": DEADLINE, "thinking_budget": terse.Budget(tokens=100)},
    )
    for path in PATHS:
        ran = results[path]
        assert isinstance(ran.error, terse.RetriesExhausted), (path, ran)
        assert ran.error.reason == "deadline"
        assert ran.elapsed <= DEADLINE + SLACK + LOAD_MARGIN, (path, ran.elapsed)
    assert any(not r.path.endswith("/completions") for r in server.requests)


def test_conclusion_after_a_cut_is_bounded(server: Hostile) -> None:
    """The budget cuts the thinking; the conclusion request then streams without end."""

    def script(conn: Conn, req: Request) -> None:
        if _first(req):
            conn.send(head())
            for _ in range(40):
                conn.send(event(chunk(reasoning="think ")))
            conn.hold()
            return
        if req.stream:
            conn.send(head())
            while True:
                conn.send(event(chunk(content="more ")))
                conn.sleep(0.005)
        conn.send(head(ctype="application/json", length=10**9))
        conn.send(b'{"choices":[{"message":{"content":"')
        while True:
            conn.send(b"a" * 256)
            conn.sleep(0.005)

    server.script = script
    results = run_paths(
        server,
        client_kw={"dialect": "vllm"},
        call_kw={"deadline": 1.5, "thinking_budget": terse.Budget(tokens=5, native=False)},
    )
    for path in PATHS:
        ran = results[path]
        assert isinstance(ran.error, terse.RetriesExhausted), (path, ran)
        assert ran.error.reason == "deadline"
        assert any(a.purpose == "conclude" for a in ran.error.attempts), ran.error.attempts
        assert ran.elapsed <= 1.5 + SLACK + LOAD_MARGIN, (path, ran.elapsed)


@pytest.mark.parametrize("after", ["hold", "endless-events"])
def test_reading_stops_at_done(server: Hostile, after: str) -> None:
    """A complete answer then [DONE]; the server keeps the connection open (or talking)."""

    def script(conn: Conn, req: Request) -> None:
        if req.stream:
            conn.send(head())
            conn.send(event(chunk(reasoning="Two and two.")))
            conn.send(event(chunk(content="4")))
            conn.send(event(chunk(finish="stop")))
            conn.send(b"data: [DONE]\n\n")
            while after == "endless-events":
                conn.send(event(chunk(content=" and more")))
                conn.sleep(0.005)
        else:
            body = json.dumps({"choices": [{"message": {"content": "4"}, "finish_reason": "stop"}]})
            conn.send(response(200, body.encode()))
        conn.hold()

    server.script = script
    results = run_paths(server)  # no deadline at all
    for path in PATHS:
        ran = results[path]
        assert ran.answer is not None, (path, ran)
        assert ran.answer.text == "4"
        assert ran.elapsed <= SLACK + LOAD_MARGIN, (path, ran.elapsed)
