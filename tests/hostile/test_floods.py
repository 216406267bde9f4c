"""Finding 6 of issue 13: floods are refused at `terse.Limits`, in bounded memory.

The server floods up to 200 MB; the default limits (32 MiB body, 8 MiB SSE line, 16 MiB
reasoning) refuse it with `ResponseTooLarge` (or, for an error status, read 64 KiB of it).
Each case runs the four paths in a subprocess that measures its peak traced memory per
path (tracemalloc) and its peak RSS.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import terse

from ._flood_run import FLOOD_PATHS
from .conftest import Conn, Hostile, Request, chunk, event, head

FLOOD = 200 * 1024 * 1024
BLOCK = b"a" * (1024 * 1024)
PEAK_BOUND = 96 * 1024 * 1024
"""Peak traced memory allowed per call: 3x the largest default limit (32 MiB)."""
RSS_BOUND_KB = 400 * 1024
"""Peak RSS of the whole subprocess (interpreter, openai, tiktoken included)."""


def _flood(conn: Conn, first: bytes) -> None:
    conn.send(first)
    sent = 0
    while sent < FLOOD:
        conn.send(BLOCK)
        sent += len(BLOCK)


def _body(conn: Conn, req: Request) -> None:
    if req.stream:  # an SSE line that never ends
        conn.send(head())
        _flood(conn, b'data: {"choices":[{"delta":{"content":"')
    else:
        conn.send(head(ctype="application/json"))
        _flood(conn, b'{"choices":[{"message":{"content":"')


def _reasoning(conn: Conn, req: Request) -> None:
    if not req.stream:
        return _body(conn, req)
    conn.send(head())
    piece = event(chunk(reasoning="think " * 40_000))  # 240 KB a piece
    sent = 0
    while sent < FLOOD:
        conn.send(piece)
        sent += len(piece)


def _error(conn: Conn, req: Request) -> None:
    conn.send(head(500, "text/plain"))
    _flood(conn, b"Internal error: ")


CASES = {
    "body-or-line": (
        _body,
        {"sync-ask": "body", "async-ask": "body", "sync-stream": "line", "async-stream": "line"},
    ),
    "reasoning": (
        _reasoning,
        {
            "sync-ask": "body",
            "async-ask": "body",
            "sync-stream": "reasoning",
            "async-stream": "reasoning",
        },
    ),
    "error-body": (_error, None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_flood_is_refused_in_bounded_memory(server: Hostile, case: str) -> None:
    script, limits = CASES[case]
    server.script = script
    run = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("_flood_run.py")), server.base_url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert tuple(r["path"] for r in rows) == FLOOD_PATHS
    for row in rows:
        print(case, row)
    for row in rows:
        if limits is None:
            assert row["error"] == "ServerError", row
        else:
            assert row["error"] == "ResponseTooLarge", row
            # the proxy's aiohttp transport reads as the async client does
            assert row["limit"] == limits[row["path"].replace("aiohttp", "async")], row
            if row["limit"] != "line":  # the flooded line was the first: nothing before it
                assert row["kept"] > 0, row
        assert row["peak"] < PEAK_BOUND, row
        assert row["maxrss_kb"] < RSS_BOUND_KB, row
    assert issubclass(terse.ResponseTooLarge, terse.TransportError)
