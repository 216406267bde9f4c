"""The labelled tool-call corpus (tests/data/toolcalls.jsonl) and the tools each row needs.

Rows come from llama.cpp's tests/test-chat.cpp (MIT, the ggml authors), vLLM's tests and
OpenAI's harmony docs (Apache-2.0), and CC0 reconstructions; each row names its source
(`source`, `licence`). See tests/data/README.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from terse.tools._schema import _json_type

DATA = Path(__file__).parent.parent / "data"


def load_rows() -> list[dict[str, Any]]:
    with (DATA / "toolcalls.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def tools_for(row: dict[str, Any]) -> list[dict[str, Any]]:
    """OpenAI tool dicts whose schemas follow the types of the row's expected arguments.

    This is how the corpus types untyped XML values (tag ``schema_typed``): ``1`` is an
    integer only because the schema says so.
    """
    props: dict[str, dict[str, Any]] = {}
    for call in [*row["tool_calls"], *row.get("if_promoted", [])]:
        p = props.setdefault(call["name"], {})
        for k, v in call["arguments"].items():
            p[k] = {"type": _json_type(v)}
    return [
        {
            "type": "function",
            "function": {"name": n, "parameters": {"type": "object", "properties": p}},
        }
        for n, p in props.items()
    ]


def thinking_open(row: dict[str, Any]) -> bool | None:
    """What the client knows from its chat template: whether the prompt opened the reasoning."""
    return True if "prompt_opened_think" in row["tags"] else None
